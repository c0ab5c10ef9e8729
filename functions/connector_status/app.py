"""One check that the connector is RUNNING."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry_delivery import connector_check

lambda_handler = phase_handler(connector_check)
