"""Power CheckConnectorRunning: one check that the connector is RUNNING."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import check_connector_running

lambda_handler = phase_handler(check_connector_running)
