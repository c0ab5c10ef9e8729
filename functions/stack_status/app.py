"""One check of the stack's status; the state machine waits between checks."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import stack_status

lambda_handler = phase_handler(stack_status)
