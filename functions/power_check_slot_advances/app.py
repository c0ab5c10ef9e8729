"""Power CheckSlotAdvances: one check that the replication slot advances."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import check_slot_advances

lambda_handler = phase_handler(check_slot_advances)
