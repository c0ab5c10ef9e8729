"""CheckStack: one poll of the stack."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import check_stack

lambda_handler = phase_handler(check_stack)
