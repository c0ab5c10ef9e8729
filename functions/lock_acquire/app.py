"""Take the deployment's lock, so provisioning and power runs never interleave."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.locks import acquire_lock

lambda_handler = phase_handler(acquire_lock)
