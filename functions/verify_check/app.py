"""Verify, part 2: one look for the canary row in the Snowflake destination."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry_delivery import verify_check

lambda_handler = phase_handler(verify_check)
