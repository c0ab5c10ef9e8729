"""VerifyInsert: a canary row at the source."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.delivery import verify_insert

lambda_handler = phase_handler(verify_insert)
