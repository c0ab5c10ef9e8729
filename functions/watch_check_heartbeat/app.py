"""Watch CheckHeartbeat: one look for the heartbeats in Snowflake."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.watch import check_heartbeat

lambda_handler = phase_handler(check_heartbeat)
