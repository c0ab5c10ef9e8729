"""Triggers concern."""
