"""Gen1Connector: a gen 1 connector configured over the runtime's NiFi REST API."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.delivery import gen1_connector

lambda_handler = phase_handler(gen1_connector)
