"""Power CheckAgentTimers: deep sleep: the timers' command finished and both timers are inactive."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power_compute import check_agent_timers

lambda_handler = phase_handler(check_agent_timers)
