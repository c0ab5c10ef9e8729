"""CheckSource: one poll, the RDS instance available and in sync."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import check_source

lambda_handler = phase_handler(check_source)
