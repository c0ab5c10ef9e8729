"""Watch: DESC of the deployment, runtime and connector; documented remedies for failed statuses."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.watch.entry import openflow_step

lambda_handler = phase_handler(openflow_step)
