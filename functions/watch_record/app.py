"""Watch Record: store the run's findings and alert on a change."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.watch import record

lambda_handler = phase_handler(record)
