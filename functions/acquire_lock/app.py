"""AcquireLock, shared by provisioning and power: the deployment's lock, or who holds it."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.shared import acquire_lock

lambda_handler = phase_handler(acquire_lock)
