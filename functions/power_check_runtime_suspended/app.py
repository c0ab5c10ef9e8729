"""Power CheckRuntimeSuspended: one check that the runtime is SUSPENDED."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import check_runtime_suspended

lambda_handler = phase_handler(check_runtime_suspended)
