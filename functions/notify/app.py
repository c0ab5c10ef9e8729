"""Notify: tell humans what happened and what to do, for both state machines."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from openflow_autopilot import notify
from openflow_autopilot.lambda_env import FunctionEnv

logger = Logger()
ENV = FunctionEnv.from_environ()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    note = notify.send(event, default_topic_arn=ENV.notify_topic_arn)
    logger.info("notified", extra={"status": note.status, "targets": len(note.delivered_to)})
    return note.model_dump(mode="json")
