"""Power StopAgentInstance: stop the agent instance openflow-agent-<key>."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power_compute import stop_agent_instance

lambda_handler = phase_handler(stop_agent_instance)
