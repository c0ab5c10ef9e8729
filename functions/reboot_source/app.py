"""RebootSource: the parameter group again, with the reboot a human approved."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import reboot_source

lambda_handler = phase_handler(reboot_source)
