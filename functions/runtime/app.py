"""Runtime: CREATE OPENFLOW RUNTIME in the deployment (one node for the PostgreSQL connector)."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry_delivery import runtime

lambda_handler = phase_handler(runtime)
