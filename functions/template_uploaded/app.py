"""S3 ObjectCreated on templates/: resume the execution waiting for that template."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from openflow_autopilot.phases.entry import template_uploaded

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    results = template_uploaded(event)
    for result in results:
        logger.info("template upload handled", extra={k: v for k, v in result.items() if k != "execution"})
    return {"results": results}
