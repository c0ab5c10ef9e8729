"""Power StartConnector: ALTER OPENFLOW CONNECTOR ... START (gen 1: the NiFi flow)."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import start_connector

lambda_handler = phase_handler(start_connector)
