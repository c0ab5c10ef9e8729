"""Power StartAgentInstance: start the agent instance openflow-agent-<key>."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power_compute import start_agent_instance

lambda_handler = phase_handler(start_agent_instance)
