"""Watch: one look for the heartbeats in Snowflake."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.watch.entry import heartbeat_check_step

lambda_handler = phase_handler(heartbeat_check_step)
