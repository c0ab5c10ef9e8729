"""Watch: write a heartbeat row at the source."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.watch.entry import heartbeat_write_step

lambda_handler = phase_handler(heartbeat_write_step)
