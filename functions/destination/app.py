"""Destination: the Snowflake database, warehouse, service user and role."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.delivery import destination

lambda_handler = phase_handler(destination)
