"""Connector: create, configure and start the PostgreSQL CDC connector."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.delivery import connector

lambda_handler = phase_handler(connector)
