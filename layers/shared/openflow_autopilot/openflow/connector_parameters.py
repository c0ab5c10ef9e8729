"""The Openflow PostgreSQL CDC connector's parameters and naming conventions, as data.

One table maps each logical setting to its gen 1 canvas parameter name and its gen 2 config.json
property name with the property's valueType. Code refers to the logical keys only.

Gen 2 names and valueTypes: docs.snowflake.com/en/user-guide/data-integration/openflow/connectors/
postgres/setup ("Gen 2 parameters"); the config.json layout (``configuration[]`` of sections, each
property ``{valueType, value | fullyQualifiedSecretName | assetIds}``):
docs.snowflake.com/en/user-guide/data-integration/openflow/gen2/configure-connector-sql. The product
never assumes which section holds a property: it edits the property where the downloaded document
has it (connector_config.set_properties), and refuses a document that lacks it.
Gen 1 canvas names: connectors/postgres/setup (gen 1 parameter contexts).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from openflow_autopilot.postgres.names import TableName
from openflow_autopilot.snowflake.identifiers import qualified, quoted

CONNECTOR_DEFINITION = "OPENFLOW_POSTGRES_CDC"

ValueType = Literal["STRING_LITERAL", "SECRET_REFERENCE", "ASSET_REFERENCE"]
# valueType -> the one field of the property object that type uses (configure-connector-sql)
VALUE_FIELDS: Final[dict[str, str]] = {
    "STRING_LITERAL": "value",
    "SECRET_REFERENCE": "fullyQualifiedSecretName",
    "ASSET_REFERENCE": "assetIds",
}


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
    IDENTIFIER_RESOLUTION = "identifier_resolution"


Kind = Literal["text", "secret", "asset"]


@dataclass(frozen=True)
class Parameter:
    key: P
    gen1: str | None  # the parameter's name on the gen 1 canvas (Parameter Context); None: gen 2 only
    gen2: str | None  # its property name in the gen 2 config.json; None: the canvas only
    kind: Kind = "text"  # secret: a sensitive value (gen 2: a Snowflake secret); asset: an uploaded file

    @property
    def value_type(self) -> ValueType:
        return _VALUE_TYPES[self.kind]


_VALUE_TYPES: Final[dict[Kind, ValueType]] = {
    "text": "STRING_LITERAL",
    "secret": "SECRET_REFERENCE",
    "asset": "ASSET_REFERENCE",
}


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(P.CONNECTION_URL, "PostgreSQL Connection URL", "Source Database Connection URL"),
    Parameter(P.JDBC_DRIVER, "PostgreSQL JDBC Driver", "Source Database Driver", "asset"),
    Parameter(P.SOURCE_USER, "PostgreSQL Username", "Source Database User"),
    Parameter(P.SOURCE_PASSWORD, "PostgreSQL Password", "Source Database Password", "secret"),
    Parameter(P.PUBLICATION, "Publication Name", "Source Database Publication Name"),
    Parameter(P.REPLICATION_SLOT, "Replication Slot Name", "Replication Slot Name"),
    Parameter(P.DESTINATION_DATABASE, "Destination Database", "Snowflake Destination Database"),
    Parameter(P.AUTH_STRATEGY, "Snowflake Authentication Strategy", "Snowflake Authentication Strategy"),
    Parameter(P.ACCOUNT_IDENTIFIER, "Snowflake Account Identifier", "Snowflake Account Identifier"),
    Parameter(P.SNOWFLAKE_USER, "Snowflake Username", "Snowflake Username"),
    Parameter(P.PRIVATE_KEY, "Snowflake Private Key", "Snowflake Private Key", "secret"),
    # gen 2 documents no passphrase property: its key secret holds an unencrypted PKCS8 PEM
    Parameter(P.PRIVATE_KEY_PASSWORD, "Snowflake Private Key Password", None, "secret"),
    Parameter(P.ROLE, "Snowflake Role", "Snowflake Role"),
    Parameter(P.WAREHOUSE, "Snowflake Warehouse", "Snowflake Warehouse"),
    Parameter(P.INCLUDED_TABLES, "Included Table Names", "Included Comma Separated Source Table Names"),
    Parameter(P.INCLUDED_TABLE_PATTERN, "Included Table Regex", "Included Source Table Pattern"),
    Parameter(P.IDENTIFIER_RESOLUTION, None, "Object Identifier Resolution"),
)
BY_KEY: dict[P, Parameter] = {p.key: p for p in PARAMETERS}
AUTH_KEY_PAIR = "KEY_PAIR"  # the strategy a BYOC runtime uses with the service user's key pair
CASE_SENSITIVE = "CASE_SENSITIVE"  # Object Identifier Resolution: keep the source names' case


def gen1_name(key: P) -> str:
    name = BY_KEY[key].gen1
    if name is None:
        raise KeyError(f"{key} has no gen 1 canvas parameter")
    return name


def gen2_name(key: P) -> str:
    name = BY_KEY[key].gen2
    if name is None:
        raise KeyError(f"{key} has no gen 2 config.json property")
    return name


def gen1_keys() -> list[P]:
    return [p.key for p in PARAMETERS if p.gen1 is not None]


# -- destination naming -------------------------------------------------------------------------
# The connector "creates the schemas and destination tables matching the source tables" (About
# Openflow Connector for PostgreSQL), named as its Object Identifier Resolution says. The gen 2 path
# sets it to CASE_SENSITIVE, so a lower-case PostgreSQL name is a quoted identifier in Snowflake:
# public.orders -> DB."public"."orders", and columns likewise.
DESTINATION_NAMES_CASE_SENSITIVE = True


def destination_identifier(name: str) -> str:
    """A source schema, table or column name as the connector names it in Snowflake."""
    return quoted(name) if DESTINATION_NAMES_CASE_SENSITIVE else quoted(name.upper())


def destination_table(database: str, table: TableName) -> str:
    """The fully qualified Snowflake table the connector writes a source table's rows to."""
    return (
        f"{qualified(database)}.{destination_identifier(table.schema)}.{destination_identifier(table.name)}"
    )
