"""Schedules: store the request and ensure the deployment's EventBridge Scheduler schedules."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.power.schedules_step import ensure_schedules

lambda_handler = phase_handler(ensure_schedules)
