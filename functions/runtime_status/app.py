"""One check of the runtime's status; the state machine waits between checks."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry_delivery import runtime_check

lambda_handler = phase_handler(runtime_check)
