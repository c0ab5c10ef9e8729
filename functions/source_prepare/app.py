"""SourcePrepare: the connector's user, publication and slot at the source."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import source_prepare

lambda_handler = phase_handler(source_prepare)
