"""Power SleepDataPlane: one check that every node group of the deployment is at zero (scaling them)."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power_compute import sleep_data_plane

lambda_handler = phase_handler(sleep_data_plane)
