"""Power: the replication slot's position before a start, then one check that it advances."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.power.entry import slot_step

lambda_handler = phase_handler(slot_step)
