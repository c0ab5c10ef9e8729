"""Power: locate the compute, suspend or resume the Openflow runtime, or one check of its status."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.power.entry import runtime_step

lambda_handler = phase_handler(runtime_step)
