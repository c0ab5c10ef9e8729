"""Power Load: check the input and load the request the provisioning workflow stored for the deployment."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import load

lambda_handler = phase_handler(load)
