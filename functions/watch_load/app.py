"""Watch Load: check the input, load the stored request and memories, pick the run's mode."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.watch import load

lambda_handler = phase_handler(load)
