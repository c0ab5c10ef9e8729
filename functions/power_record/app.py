"""Power: the on/off record and what the workflow remembers for next time."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.power.record_step import record_step

lambda_handler = phase_handler(record_step)
