"""Power CheckAgentRunning: one check that the agent instance is running."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power_compute import check_agent_running

lambda_handler = phase_handler(check_agent_running)
