"""Power SuspendRuntime: ALTER OPENFLOW RUNTIME ... SUSPEND."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import suspend_runtime

lambda_handler = phase_handler(suspend_runtime)
