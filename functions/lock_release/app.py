"""Give the deployment's lock back (only if this execution holds it)."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.locks import release_lock

lambda_handler = phase_handler(release_lock)
