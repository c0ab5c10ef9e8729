"""Power: suspend the connector's warehouse."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.power.entry import warehouse_step

lambda_handler = phase_handler(warehouse_step)
