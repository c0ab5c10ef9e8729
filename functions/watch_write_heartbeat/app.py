"""Watch WriteHeartbeat: write a heartbeat row at the source."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.watch import write_heartbeat

lambda_handler = phase_handler(write_heartbeat)
