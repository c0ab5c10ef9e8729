"""Validate the provisioning request before anything changes."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import validate

lambda_handler = phase_handler(validate)
