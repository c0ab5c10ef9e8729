"""Watch WakeEarly: start the power workflow early when the WAL budget runs short."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.watch import wake_early

lambda_handler = phase_handler(wake_early)
