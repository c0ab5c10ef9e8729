"""Power CheckAgentStopped: one check that the agent instance is stopped."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power_compute import check_agent_stopped

lambda_handler = phase_handler(check_agent_stopped)
