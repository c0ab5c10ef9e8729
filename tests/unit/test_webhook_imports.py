"""Nothing on the webhook function's code path (the entry module, the asynchronous jobs, or what
they import on first use) may import the Snowflake connector or psycopg."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import textwrap

FORBIDDEN = ("snowflake.connector", "psycopg", "psycopg_binary", "psycopg_c", "fakesnow")

PROBE = textwrap.dedent(
    """
    import json, sys
    import openflow_autopilot.triggers.webhook  # the entry module
    cold = sorted(sys.modules)
    # everything the function imports lazily, on any route or job
    import openflow_autopilot.triggers.jobs
    import openflow_autopilot.triggers.tickets
    import openflow_autopilot.triggers.sfn
    import openflow_autopilot.approvals
    import openflow_autopilot.aws.clients
    import openflow_autopilot.config
    import openflow_autopilot.cost.model, openflow_autopilot.cost.prices, openflow_autopilot.cost.records
    import aws_lambda_powertools.utilities.parameters
    from openflow_autopilot.triggers.verify import _slack_types
    _slack_types()
    print(json.dumps({"cold": cold, "warm": sorted(sys.modules)}))
    """
)


@functools.cache
def _modules() -> dict[str, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, list[str]] = json.loads(out.stdout)
    return result


def test_the_webhook_path_imports_neither_the_snowflake_connector_nor_psycopg() -> None:
    modules = _modules()
    for phase in ("cold", "warm"):
        bad = [m for m in modules[phase] if m.split(".")[0] in ("psycopg", "psycopg_binary", "fakesnow")]
        bad += [
            m for m in modules[phase] if m == "snowflake.connector" or m.startswith("snowflake.connector.")
        ]
        assert bad == [], f"{phase}: {bad}"


def test_cold_import_leaves_boto3_and_slack_sdk_for_first_use() -> None:
    cold = set(_modules()["cold"])
    assert "boto3" not in cold and "slack_sdk" not in cold and "urllib.request" not in cold
