"""AgentHealth: one step of check deployment -> read journals over SSM -> diagnose -> remediate."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.delivery import agent_health

lambda_handler = phase_handler(agent_health)
