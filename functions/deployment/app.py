"""Deployment: create the Openflow deployment (gen 1: find the one the UI made)."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import deployment

lambda_handler = phase_handler(deployment)
