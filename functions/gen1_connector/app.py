"""Gen 1 connector over the runtime's NiFi REST API: set parameters, enable services, start the flow."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.gen1_connector import gen1_connector

lambda_handler = phase_handler(gen1_connector)
