"""Watch: store the run's findings and alert on a change."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.watch.record_step import record_step

lambda_handler = phase_handler(record_step)
