"""Schedules: store the request and match the deployment's EventBridge Scheduler schedules."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import schedules

lambda_handler = phase_handler(schedules)
