"""The product may send Snowflake only statement shapes its catalog documents
(layers/shared/openflow_autopilot/snowflake/statements.yaml): checked on what the emulation received
from the product's own sessions during a sandbox run: those that logged in as the automation with the
product's `application` (the connector stand-in logs in as the service user)."""

from __future__ import annotations

from openflow_autopilot.snowflake.statement_catalog import load_catalog
from openflow_sandbox.environment import LOGIN_USER, Sandbox

PRODUCT_APPLICATION = "openflow-autopilot"  # what snowflake/session.py passes the connector


def uncatalogued(sandbox: Sandbox, since: int = 0) -> list[str]:
    """The product's statements (from `since` on) that match no catalog entry."""
    catalog = load_catalog()
    product = [
        s
        for s in sandbox.snowflake.statements[since:]
        if s.user == LOGIN_USER and s.application == PRODUCT_APPLICATION
    ]
    assert product, "no statement from the product's sessions was received: the check would pass vacuously"
    return sorted({s.sql for s in product if catalog.match(s.sql) is None})


def missing_message(statements: list[str]) -> str:
    listed = "\n".join(f"  {s[:300]}" for s in statements)
    return (
        f"{len(statements)} statement shape(s) the product sent match no entry of snowflake/statements.yaml; "
        f"add each with the docs.snowflake.com page it follows:\n{listed}"
    )
