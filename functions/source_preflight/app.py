"""SourcePreflight: read-only checks of the source database."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import source_preflight

lambda_handler = phase_handler(source_preflight)
