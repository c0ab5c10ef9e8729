"""Aws concern."""
