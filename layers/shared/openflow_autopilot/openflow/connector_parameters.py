"""The Openflow PostgreSQL CDC connector's parameters and naming conventions, as data.

One table maps each logical setting to its gen 1 canvas parameter name and its gen 2 config.json
name (openflow-reference.md, "PostgreSQL CDC connector"). Code refers to the logical keys only, so
a renamed parameter is a one-line change here.

UNCERTAIN (kept here, in one place): Snowflake does not publish the shape of a gen 2 config.json.
We assume the parameters sit in one JSON object under `PARAMETERS_KEY`, keyed by their display
names, and that a secret parameter holds the qualified name of a Snowflake secret. Gen 2 names
marked `documented=False` are inferred from the gen 1 names and the renames the docs list; confirm
them by downloading config.json from a connector configured once with the wizard.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from openflow_autopilot.postgres.names import TableName
from openflow_autopilot.snowflake.identifiers import qualified, quoted

CONNECTOR_DEFINITION = "OPENFLOW_POSTGRES_CDC"
PARAMETERS_KEY = "parameters"  # where config.json keeps the parameter values (see module docstring)


class P(StrEnum):
    """Logical parameter keys."""

    CONNECTION_URL = "connection_url"
    JDBC_DRIVER = "jdbc_driver"
    SOURCE_USER = "source_user"
    SOURCE_PASSWORD = "source_password"  # noqa: S105 - a key name, not a value
    PUBLICATION = "publication"
    REPLICATION_SLOT = "replication_slot"
    DESTINATION_DATABASE = "destination_database"
    AUTH_STRATEGY = "auth_strategy"
    ACCOUNT_IDENTIFIER = "account_identifier"
    SNOWFLAKE_USER = "snowflake_user"
    PRIVATE_KEY = "private_key"
    PRIVATE_KEY_PASSWORD = "private_key_password"  # noqa: S105
    ROLE = "role"
    WAREHOUSE = "warehouse"
    INCLUDED_TABLES = "included_tables"
    INCLUDED_TABLE_PATTERN = "included_table_pattern"


Kind = Literal["text", "secret", "asset"]


@dataclass(frozen=True)
class Parameter:
    key: P
    gen1: str  # the parameter's name on the gen 1 canvas (Parameter Context)
    gen2: str  # its name in the gen 2 config.json
    kind: Kind = "text"  # secret: a sensitive value (gen 2: a Snowflake secret); asset: an uploaded file
    documented: bool = True  # False: the gen 2 name is inferred, not quoted from the docs


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(P.CONNECTION_URL, "PostgreSQL Connection URL", "Source Database Connection URL"),
    Parameter(P.JDBC_DRIVER, "PostgreSQL JDBC Driver", "Source Database JDBC Driver", "asset", False),
    Parameter(P.SOURCE_USER, "PostgreSQL Username", "Source Database Username", documented=False),
    Parameter(P.SOURCE_PASSWORD, "PostgreSQL Password", "Source Database Password", "secret", False),
    Parameter(P.PUBLICATION, "Publication Name", "Publication Name"),
    Parameter(P.REPLICATION_SLOT, "Replication Slot Name", "Replication Slot Name"),
    Parameter(P.DESTINATION_DATABASE, "Destination Database", "Snowflake Destination Database"),
    Parameter(P.AUTH_STRATEGY, "Snowflake Authentication Strategy", "Snowflake Authentication Strategy"),
    Parameter(P.ACCOUNT_IDENTIFIER, "Snowflake Account Identifier", "Snowflake Account Identifier"),
    Parameter(P.SNOWFLAKE_USER, "Snowflake Username", "Snowflake Username"),
    Parameter(P.PRIVATE_KEY, "Snowflake Private Key", "Snowflake Private Key", "secret"),
    Parameter(
        P.PRIVATE_KEY_PASSWORD, "Snowflake Private Key Password", "Snowflake Private Key Password", "secret"
    ),
    Parameter(P.ROLE, "Snowflake Role", "Snowflake Role"),
    Parameter(P.WAREHOUSE, "Snowflake Warehouse", "Snowflake Warehouse"),
    Parameter(P.INCLUDED_TABLES, "Included Table Names", "Included Source Table Names", documented=False),
    Parameter(P.INCLUDED_TABLE_PATTERN, "Included Table Regex", "Included Source Table Pattern"),
)
BY_KEY: dict[P, Parameter] = {p.key: p for p in PARAMETERS}
AUTH_KEY_PAIR = "KEY_PAIR"  # the strategy a BYOC runtime uses with the service user's key pair


def gen1_name(key: P) -> str:
    return BY_KEY[key].gen1


def gen2_name(key: P) -> str:
    return BY_KEY[key].gen2


def inferred_gen2_names(keys: list[P]) -> list[str]:
    return [BY_KEY[k].gen2 for k in keys if not BY_KEY[k].documented]


# -- destination naming -------------------------------------------------------------------------
# The connector "creates the schemas and destination tables matching the source tables" (About
# Openflow Connector for PostgreSQL). We assume it keeps the source names with their case, so a
# lower-case PostgreSQL name is a quoted identifier in Snowflake: public.orders -> DB."public"."orders",
# and columns likewise. Set DESTINATION_NAMES_CASE_SENSITIVE to False if the connector is configured
# to upper-case identifiers instead.
DESTINATION_NAMES_CASE_SENSITIVE = True


def destination_identifier(name: str) -> str:
    """A source schema, table or column name as the connector names it in Snowflake."""
    return quoted(name) if DESTINATION_NAMES_CASE_SENSITIVE else quoted(name.upper())


def destination_table(database: str, table: TableName) -> str:
    """The fully qualified Snowflake table the connector writes a source table's rows to."""
    return (
        f"{qualified(database)}.{destination_identifier(table.schema)}.{destination_identifier(table.name)}"
    )
