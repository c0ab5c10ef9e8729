"""ReleaseLock and ReleaseLockAfterFailure, shared: give the deployment's lock back."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.shared import release_lock

lambda_handler = phase_handler(release_lock)
