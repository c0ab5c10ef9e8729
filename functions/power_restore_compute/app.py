"""Power RestoreCompute: put back the node groups' remembered sizes."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power_compute import restore_compute

lambda_handler = phase_handler(restore_compute)
