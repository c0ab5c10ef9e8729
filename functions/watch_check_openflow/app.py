"""Watch CheckOpenflow: DESC of the deployment, runtime and connector; documented remedies."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.watch import check_openflow

lambda_handler = phase_handler(check_openflow)
