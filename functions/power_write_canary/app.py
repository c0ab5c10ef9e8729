"""Power WriteCanary: a canary row at the source."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import write_canary

lambda_handler = phase_handler(write_canary)
