"""The webhook function's handler module: configured from the environment at cold start, logs in
Powertools' JSON through the domain's logger, never logs the event, and imports neither the
Snowflake connector nor psycopg."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import importlib.util, json, logging, sys
    spec = importlib.util.spec_from_file_location("webhook_app", "functions/webhook/app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)

    class Context:
        function_name = "openflow-autopilot-WebhookFunction-X"
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
        memory_limit_in_mb = 512
        aws_request_id = "req-1"

    event = {
        "rawPath": "/nowhere",
        "headers": {"x-slack-signature": "v0=SIGNATURE-MARKER"},
        "body": "token=BODY-MARKER",
        "requestContext": {"http": {"method": "POST"}},
    }
    response = app.lambda_handler(event, Context())
    domain = logging.getLogger("openflow_autopilot.triggers")
    heavy = [m for m in sys.modules if m.startswith(("snowflake.connector", "psycopg", "fakesnow"))]
    print(json.dumps({
        "response": response,
        "config": app.CONFIG.model_dump(mode="json"),
        "propagate": domain.propagate,
        "handlers": [type(h).__name__ for h in domain.handlers],
        "formatters": [type(h.formatter).__name__ for h in domain.handlers],
        "heavy": heavy,
    }))
    """
)


def run_probe() -> tuple[dict[str, object], list[str]]:
    env = {
        **os.environ,
        "AWS_LAMBDA_FUNCTION_NAME": "openflow-autopilot-WebhookFunction-X",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "openflow-autopilot",
        "POWERTOOLS_LOGGER_LOG_EVENT": "true",  # the handler must not log it even so
        "PROVISION_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:provision",
        "SLACK_ALLOWED_USERS": "U01,U02",
        "IDEMPOTENCY_TABLE": "webhook-table",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-1]), lines[:-1]


def test_the_handler_reads_its_environment_and_logs_json_without_the_event() -> None:
    result, logs = run_probe()
    assert result["response"] == {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": "not found"}),
    }
    config = result["config"]
    assert isinstance(config, dict)
    assert config["function_name"] == "openflow-autopilot-WebhookFunction-X"  # jobs are sent here
    assert sorted(config["slack_allowed_users"]) == ["U01", "U02"]
    assert result["propagate"] is False and result["formatters"] == ["LambdaPowertoolsFormatter"]
    [line] = [json.loads(x) for x in logs if "webhook request rejected" in x]
    assert line["reason"] == "unknown path" and line["function_request_id"] == "req-1"
    assert not any("MARKER" in x for x in logs)
    assert result["heavy"] == []
