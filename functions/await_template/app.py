"""Pause for the deployment template: store the task token, ask a human to upload the file."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.phases.entry import await_template

logger = Logger()
ENV = FunctionEnv.from_environ()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = await_template(event, env=ENV)
    logger.info("waiting for the template", extra={"upload_uri": result["upload_uri"]})
    return result
