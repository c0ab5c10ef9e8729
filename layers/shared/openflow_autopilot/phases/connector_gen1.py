"""The gen 1 connector's setup text. Gen 1 connectors are configured on the NiFi canvas:
`gen1_connector_instructions` lists the exact parameter names and values for a human (secrets are
referred to by where they are stored).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.openflow.connector_parameters import AUTH_KEY_PAIR, P, gen1_name
from openflow_autopilot.openflow.endpoints import SourceEndpoint
from openflow_autopilot.snowflake.identifiers import qualified


def gen1_connector_instructions(
    request: ProvisionRequest,
    *,
    source: Mapping[str, Any],
    destination: Mapping[str, Any],
    password_secret_arn: str,
    key_secret_arn: str,
) -> str:
    """The canvas parameters a human sets for a gen 1 connector. `source`: host, port, database, user,
    publication, slot_name, tables; `destination`: database, role, warehouse, user. No secret
    values: the text says where the password and the private key are stored."""
    url = SourceEndpoint(
        host=str(source["host"]),
        port=int(source["port"]),
        database=str(source["database"]),
        user=str(source["user"]),
        password="",  # not used: only the URL and the table list are built
        publication=str(source["publication"]),
        slot_name=str(source["slot_name"]),
        tables=tuple(source["tables"]),
    )
    rows = [
        (P.CONNECTION_URL, url.jdbc_url()),
        (P.JDBC_DRIVER, "upload the PostgreSQL JDBC driver jar (https://jdbc.postgresql.org) as the asset"),
        (P.SOURCE_USER, url.user),
        (P.SOURCE_PASSWORD, f"the 'password' field of Secrets Manager secret {password_secret_arn}"),
        (P.PUBLICATION, url.publication),
        (P.REPLICATION_SLOT, url.slot_name),
        (P.INCLUDED_TABLES, url.table_list()),
        (P.DESTINATION_DATABASE, qualified(str(destination["database"]))),
        (P.AUTH_STRATEGY, AUTH_KEY_PAIR),
        (P.ACCOUNT_IDENTIFIER, request.snowflake.account),
        (P.SNOWFLAKE_USER, qualified(str(destination["user"]))),
        (P.PRIVATE_KEY, f"the 'private_key' field (PEM) of Secrets Manager secret {key_secret_arn}"),
        (P.PRIVATE_KEY_PASSWORD, f"the 'passphrase' field of Secrets Manager secret {key_secret_arn}"),
        (P.ROLE, qualified(str(destination["role"]))),
        (P.WAREHOUSE, qualified(str(destination["warehouse"]))),
    ]
    width = max(len(gen1_name(k)) for k, _ in rows)
    lines = [
        f"Configure the PostgreSQL connector for '{request.name}' on the runtime's canvas "
        f"(runtime {request.runtime.name}): open the connector's process group > Parameters and set:",
        *(f"  {gen1_name(k).ljust(width)}  {v}" for k, v in rows),
        "Then right-click the process group > Enable all controller services > Start.",
        "Read the secret values with: aws secretsmanager get-secret-value --secret-id <ARN> "
        "(paste them into the sensitive parameters; never into a ticket or chat).",
    ]
    return "\n".join(lines)
