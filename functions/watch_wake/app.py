"""Watch: start the power workflow early when the WAL budget runs short."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.watch.entry import wake_step

lambda_handler = phase_handler(wake_step)
