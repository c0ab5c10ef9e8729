"""Power Locate: the deployment's key, the runtime's node type and the runtimes sharing its nodes."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import locate

lambda_handler = phase_handler(locate)
