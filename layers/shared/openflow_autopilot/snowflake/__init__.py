"""Snowflake concern."""
