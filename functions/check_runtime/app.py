"""CheckRuntime: one poll of the runtime's status."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.delivery import check_runtime

lambda_handler = phase_handler(check_runtime)
