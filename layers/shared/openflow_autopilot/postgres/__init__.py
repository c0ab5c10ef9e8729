"""Postgres concern."""
