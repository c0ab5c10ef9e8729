"""Power: verify the runtime's node groups reached zero (scaling them if not), or restore their sizes."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.power.entry import compute_step

lambda_handler = phase_handler(compute_step)
