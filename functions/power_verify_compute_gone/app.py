"""Power VerifyComputeGone: one check that the runtime's node groups reached zero (scaling them if not)."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power_compute import verify_compute_gone

lambda_handler = phase_handler(verify_compute_gone)
