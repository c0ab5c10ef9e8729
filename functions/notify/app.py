"""Notify: tell humans what happened and what to do, for both state machines."""

from typing import Any

from openflow_autopilot import notify
from openflow_autopilot.handler import phase_handler
from openflow_autopilot.lambda_env import FunctionEnv


def send(event: dict[str, Any], *, env: FunctionEnv) -> notify.Notification:
    return notify.send(event, default_topic_arn=env.notify_topic_arn)


lambda_handler = phase_handler(send)
