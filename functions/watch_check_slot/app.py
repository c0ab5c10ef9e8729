"""Watch CheckSlot: the replication slot's retained WAL, progress and WAL budget."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.watch import check_slot

lambda_handler = phase_handler(check_slot)
