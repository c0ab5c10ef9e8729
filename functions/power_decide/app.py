"""Power: stop, start or skip, from the schedule, the override and the manual hold."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.power.entry import decide_step

lambda_handler = phase_handler(decide_step)
