"""AwaitRuntime, AwaitRebootApproval, AwaitConnector: the shared pause for a human decision."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.shared import await_approval

lambda_handler = phase_handler(await_approval)
