"""Stack: create or update the deployment's CloudFormation stack."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import stack

lambda_handler = phase_handler(stack)
