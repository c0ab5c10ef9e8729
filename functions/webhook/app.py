"""The webhook function (Function URL): Slack commands and buttons, ticket webhooks, and the jobs it
sends itself. Everything is in openflow_autopilot.triggers (the entry module: triggers.webhook);
this wires the environment."""

import logging
from typing import Any

from aws_lambda_powertools import Logger

from openflow_autopilot.triggers.deps import WebhookDeps
from openflow_autopilot.triggers.webhook import WebhookConfig, lambda_entry

logger = Logger(service="openflow-autopilot")
# The domain logs through the standard library; give its logger Powertools' JSON handler and level
# (copy_config_to_registered_loggers skips dotted names, so it is done here by hand).
_domain = logging.getLogger("openflow_autopilot.triggers")
_domain.handlers = list(logger.handlers)
_domain.setLevel(logger.log_level)
_domain.propagate = False  # the Lambda runtime's root handler would print each line twice

CONFIG = WebhookConfig.from_environ()  # checked at cold start: a bad variable fails every call loudly
DEPS = WebhookDeps(CONFIG)


# Never log the event: it carries signatures, tokens in form fields and whole ticket bodies.
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return lambda_entry(event, config=CONFIG, deps=DEPS)
