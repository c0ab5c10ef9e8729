"""Power RecordStop: the off record and what the workflow remembers."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import record_stop

lambda_handler = phase_handler(record_stop)
