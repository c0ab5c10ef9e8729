"""TemplateDoctor: find and fix the uploaded template's known defects."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import template_doctor

lambda_handler = phase_handler(template_doctor)
