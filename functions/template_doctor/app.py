"""Template doctor: find and repair known defects; store original, repaired and findings in S3."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import template_doctor

lambda_handler = phase_handler(template_doctor)
