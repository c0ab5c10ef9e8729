"""Power Decide: stop, start or skip, from the schedule, the override and the manual hold."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import decide

lambda_handler = phase_handler(decide)
