"""Power CheckRuntimeActive: one check that the runtime is ACTIVE."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import check_runtime_active

lambda_handler = phase_handler(check_runtime_active)
