"""Power CheckDeploymentAwake: one step of the agent health loop until the deployment is ACTIVE."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power_compute import check_deployment_awake

lambda_handler = phase_handler(check_deployment_awake)
