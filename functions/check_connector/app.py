"""CheckConnector: one step of the connector's wait, until RUNNING."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.delivery import check_connector

lambda_handler = phase_handler(check_connector)
