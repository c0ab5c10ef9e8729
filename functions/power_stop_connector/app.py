"""Power StopConnector: ALTER OPENFLOW CONNECTOR ... STOP (gen 1: the NiFi flow)."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import stop_connector

lambda_handler = phase_handler(stop_connector)
