"""Power CheckConnectorStopped: one check that the connector is STOPPED."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import check_connector_stopped

lambda_handler = phase_handler(check_connector_stopped)
