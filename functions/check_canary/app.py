"""CheckCanary: one look for the canary row in Snowflake."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.delivery import check_canary

lambda_handler = phase_handler(check_canary)
