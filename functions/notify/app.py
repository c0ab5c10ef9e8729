"""Notify, NotifySuccess and NotifyFailure, shared by every machine: what happened, what to do."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.shared import notify

lambda_handler = phase_handler(notify)
