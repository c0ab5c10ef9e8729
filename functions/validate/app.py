"""Validate: the normalised request, or InvalidRequest naming the fields."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import validate

lambda_handler = phase_handler(validate)
