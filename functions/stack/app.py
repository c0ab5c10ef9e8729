"""Stack: create or update the deployment's CloudFormation stack from the repaired template."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.phases.entry import stack

logger = Logger()
ENV = FunctionEnv.from_environ()
ENV = FunctionEnv.from_environ()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = stack(event, env=ENV)
    logger.info(
        "phase finished",
        extra={"phase": result.phase, "status": result.status, "actions": len(result.actions)},
    )
    return result.model_dump(mode="json")
