"""Deployment: gen 2 BYOC deployment with its event table, or the existing gen 1 integration."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import deployment

lambda_handler = phase_handler(deployment)
