"""Openflow Autopilot: provision Snowflake Openflow on AWS with a PostgreSQL CDC source."""

__version__ = "0.1.0"
