"""One check that the RDS instance is available with its parameters in sync."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import source_status

lambda_handler = phase_handler(source_status)
