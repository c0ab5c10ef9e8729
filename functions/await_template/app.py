"""Pause for the deployment template: store the task token, ask a human to upload the file."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import await_template

lambda_handler = phase_handler(await_template)
