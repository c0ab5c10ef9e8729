"""Power: check the input and load the deployment's stored request."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.power.entry import load

lambda_handler = phase_handler(load)
