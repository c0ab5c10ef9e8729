"""Power: stop or start the deployment's agent instance, or one check of its state."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.power.entry import agent_step

lambda_handler = phase_handler(agent_step)
