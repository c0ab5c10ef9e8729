"""Power SlotBaseline: the replication slot's position before the connector starts."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import slot_baseline

lambda_handler = phase_handler(slot_baseline)
