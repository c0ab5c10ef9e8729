"""One check of the stack's status; the state machine waits between checks."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from openflow_autopilot.phases.entry import stack_status

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = stack_status(event)
    logger.info("stack checked", extra={"status": result["status"], "attempt": result["attempt"]})
    return result
