"""Stack: create or update the deployment's CloudFormation stack from the repaired template."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import stack

lambda_handler = phase_handler(stack)
