"""Runtime: create the Openflow runtime in the deployment."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.delivery import runtime

lambda_handler = phase_handler(runtime)
