"""Phases concern."""
