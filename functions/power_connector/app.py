"""Power: stop or start the Openflow connector, or one check of its status."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.power.entry import connector_step

lambda_handler = phase_handler(connector_step)
