"""Source pre-flight doctor: read-only checks before anything changes."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import source_preflight

lambda_handler = phase_handler(source_preflight)
