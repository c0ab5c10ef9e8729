"""Watch: the replication slot's retained WAL, progress and WAL budget."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.watch.entry import slot_step

lambda_handler = phase_handler(slot_step)
