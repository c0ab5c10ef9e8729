"""Power StopAgentTimers: deep sleep: stop the agent's apply and sync timers over SSM RunCommand."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power_compute import stop_agent_timers

lambda_handler = phase_handler(stop_agent_timers)
