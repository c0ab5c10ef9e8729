"""Pause for a human decision: store the task token under an approval id, ask humans."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import await_approval

lambda_handler = phase_handler(await_approval)
