"""Snowflake destination: database, role, warehouse, service user with its RSA key in Secrets Manager."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry_delivery import destination

lambda_handler = phase_handler(destination)
