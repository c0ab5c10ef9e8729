"""The connector's user (password in Secrets Manager), publication and grants."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import source_prepare

lambda_handler = phase_handler(source_prepare)
