"""SnowflakePrerequisites: the roles, grants and network rule the deployment needs."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import snowflake_prerequisites

lambda_handler = phase_handler(snowflake_prerequisites)
