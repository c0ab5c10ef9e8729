"""Snowflake prerequisites: Openflow database, schema, image repository, admin role, user settings."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import snowflake_prerequisites

lambda_handler = phase_handler(snowflake_prerequisites)
