"""AwaitTemplate: pause until the deployment template is uploaded; tell humans where."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import await_template

lambda_handler = phase_handler(await_template)
