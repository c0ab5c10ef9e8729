"""The emulated account's objects. Names are stored resolved (unquoted identifiers upper-cased).

Schema-level objects are keyed by ``(database, schema, name)``. Objects with asynchronous
lifecycles (deployments, runtimes, connectors) carry a pending :class:`Transition` that completes
after a number of status reads, the way a real provisioning run settles while a client polls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Name3 = tuple[str, str, str]


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Transition:
    target: str
    reads_left: int
    message: str | None = None  # the status message once the target is reached (a failure's reason)


@dataclass(kw_only=True)
class Lifecycle:
    """A status that may be moving towards a target; each status read brings it one step closer."""

    status: str
    pending: Transition | None = None
    updated_on: datetime = field(default_factory=now)
    status_message: str | None = None  # DESCRIBE's status_message (desc-openflow-*): why it failed
    error_code: str | None = None

    def begin(self, transitional: str, target: str, reads: int, message: str | None = None) -> None:
        self.updated_on = now()
        self.status_message = self.error_code = None
        if reads <= 0:
            self.settle(target, message)
        else:
            self.status, self.pending = transitional, Transition(target, reads, message)

    def settle(self, status: str, message: str | None = None) -> None:
        self.status, self.pending, self.updated_on = status, None, now()
        self.status_message = message

    def observe(self) -> None:
        """Called after a read has reported the current status."""
        if self.pending is not None:
            self.pending.reads_left -= 1
            if self.pending.reads_left <= 0:
                self.settle(self.pending.target, self.pending.message)


@dataclass(kw_only=True)
class Owned:
    owner: str
    comment: str | None = None
    created_on: datetime = field(default_factory=now)


@dataclass(kw_only=True)
class Role(Owned):
    name: str


@dataclass(kw_only=True)
class PrivilegeGrant:
    privilege: str  # e.g. "USAGE", "CREATE OPENFLOW DEPLOYMENT"
    granted_on: str  # ACCOUNT, DATABASE, SCHEMA, WAREHOUSE, IMAGE_REPOSITORY, EVENT_TABLE, TABLE, ...
    name: str  # as SHOW GRANTS prints it: "OPENFLOW.OPENFLOW", '"Mixed".PUBLIC'; the locator for ACCOUNT
    key: tuple[str, ...]  # the object's resolved name parts, () for ACCOUNT: what lookups compare
    grantee: str  # a role
    grant_option: bool = False
    granted_by: str = ""
    created_on: datetime = field(default_factory=now)


@dataclass(kw_only=True)
class RoleGrant:
    role: str
    grantee_type: Literal["USER", "ROLE"]
    grantee: str
    granted_by: str = ""
    created_on: datetime = field(default_factory=now)


@dataclass(kw_only=True)
class User(Owned):
    name: str
    login_name: str
    user_type: str = "PERSON"  # PERSON | SERVICE | LEGACY_SERVICE
    display_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    default_role: str | None = None
    default_secondary_roles: tuple[str, ...] | None = None  # ("ALL",) or () when set
    default_warehouse: str | None = None
    default_namespace: str | None = None
    roles: list[str] = field(default_factory=list)  # granted directly; derived from role_grants
    rsa_public_key: str | None = None  # base64 DER body, as set with RSA_PUBLIC_KEY
    rsa_public_key_2: str | None = None
    rsa_public_key_set_on: datetime | None = None
    rsa_public_key_2_set_on: datetime | None = None
    password_hash: str | None = None
    must_change_password: bool = False
    disabled: bool = False


@dataclass(kw_only=True)
class Warehouse(Owned):
    name: str
    size: str = "X-Small"
    state: str = "STARTED"  # STARTED | SUSPENDED
    auto_suspend: int | None = 600
    auto_resume: bool = True
    warehouse_type: str = "STANDARD"
    min_cluster_count: int = 1
    max_cluster_count: int = 1
    scaling_policy: str = "STANDARD"
    resumed_on: datetime = field(default_factory=now)
    updated_on: datetime = field(default_factory=now)


@dataclass(kw_only=True)
class Database(Owned):
    name: str


@dataclass(kw_only=True)
class Schema(Owned):
    database: str
    name: str


@dataclass(kw_only=True)
class SchemaObject(Owned):
    database: str
    schema: str
    name: str

    @property
    def name3(self) -> Name3:
        return (self.database, self.schema, self.name)


@dataclass(kw_only=True)
class ImageRepository(SchemaObject):
    pass


@dataclass(kw_only=True)
class EventTable(SchemaObject):
    pass


@dataclass(kw_only=True)
class Secret(SchemaObject):
    secret_type: str  # PASSWORD | GENERIC_STRING
    username: str | None = None
    password: str | None = None
    secret_string: str | None = None


@dataclass(kw_only=True)
class Deployment(Owned, Lifecycle):
    name: str
    key: str
    deployment_type: str = "SNOWFLAKE"
    vpc_type: str | None = None
    display_name: str | None = None
    use_private_link: bool = False
    use_user_auth_over_private_link: bool = False
    custom_ingress_hostname: str | None = None
    event_table: str | None = None  # state only: SHOW/DESC OPENFLOW DEPLOYMENTS have no such column


@dataclass(kw_only=True)
class Runtime(SchemaObject, Lifecycle):
    deployment: str
    key: str
    node_type: str = "SMALL"
    node_type_tier: str = "S1"
    min_nodes: int = 1
    max_nodes: int = 1
    execute_as_role: str | None = None
    display_name: str | None = None
    initially_suspended: bool = False
    external_access_integrations: tuple[str, ...] = ()


@dataclass(kw_only=True)
class ConnectorVersion:
    name: str  # VERSION$n
    config: dict[str, Any]
    assets: dict[str, bytes] = field(default_factory=dict)  # other files on the version's stage (the jar)
    problem: str | None = None  # what the validator found at COMMIT; None: a valid configuration
    comment: str | None = None
    alias: str | None = None
    created_on: datetime = field(default_factory=now)


@dataclass(kw_only=True)
class Connector(SchemaObject, Lifecycle):
    runtime: Name3
    definition: str
    display_name: str | None = None
    live_config: dict[str, Any] | None = None  # the writable live version; None once committed
    assets: dict[str, bytes] = field(default_factory=dict)  # the live version's other files (a JDBC jar)
    versions: list[ConnectorVersion] = field(default_factory=list)
    default_version: str = "LAST"


@dataclass(kw_only=True)
class DataPlaneIntegration(Owned):
    name: str
    data_plane_id: str
    enabled: bool = True
    event_table: str | None = None
    oauth_redirect_uri: str = ""


@dataclass(kw_only=True)
class RuntimeIntegration(Owned):
    name: str
    enabled: bool = True
    oauth_redirect_uri: str = ""


@dataclass
class AccountState:
    roles: dict[str, Role] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    grants: list[PrivilegeGrant] = field(default_factory=list)
    role_grants: list[RoleGrant] = field(default_factory=list)
    warehouses: dict[str, Warehouse] = field(default_factory=dict)
    databases: dict[str, Database] = field(default_factory=dict)
    schemas: dict[tuple[str, str], Schema] = field(default_factory=dict)
    image_repositories: dict[Name3, ImageRepository] = field(default_factory=dict)
    event_tables: dict[Name3, EventTable] = field(default_factory=dict)
    secrets: dict[Name3, Secret] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    runtimes: dict[Name3, Runtime] = field(default_factory=dict)
    connectors: dict[Name3, Connector] = field(default_factory=dict)
    data_plane_integrations: dict[str, DataPlaneIntegration] = field(default_factory=dict)
    runtime_integrations: dict[str, RuntimeIntegration] = field(default_factory=dict)

    def drop_grants_on(self, granted_on: str, key: tuple[str, ...]) -> None:
        self.grants = [g for g in self.grants if not (g.granted_on == granted_on and g.key == key)]

    def sync_user_roles(self) -> None:
        """Refresh each ``User.roles`` from the role grants (the source of truth)."""
        for user in self.users.values():
            user.roles = [
                g.role for g in self.role_grants if (g.grantee_type, g.grantee) == ("USER", user.name)
            ]


SYSTEM_ROLES = ("ACCOUNTADMIN", "SECURITYADMIN", "USERADMIN", "SYSADMIN", "PUBLIC")


def seeded_state(locator: str) -> AccountState:
    """A fresh account: the system roles, their hierarchy and their account privileges."""
    state = AccountState()
    for name in SYSTEM_ROLES:
        state.roles[name] = Role(name=name, owner="" if name == "ACCOUNTADMIN" else "ACCOUNTADMIN")
    for child, parent in (
        ("SECURITYADMIN", "ACCOUNTADMIN"),
        ("SYSADMIN", "ACCOUNTADMIN"),
        ("USERADMIN", "SECURITYADMIN"),
    ):
        state.role_grants.append(
            RoleGrant(role=child, grantee_type="ROLE", grantee=parent, granted_by="ACCOUNTADMIN")
        )
    for role, privileges in (
        ("SECURITYADMIN", ("MANAGE GRANTS",)),
        ("USERADMIN", ("CREATE ROLE", "CREATE USER")),
        ("SYSADMIN", ("CREATE DATABASE", "CREATE WAREHOUSE")),
    ):
        for privilege in privileges:
            state.grants.append(
                PrivilegeGrant(
                    privilege=privilege,
                    granted_on="ACCOUNT",
                    name=locator,
                    key=(),
                    grantee=role,
                    granted_by="ACCOUNTADMIN",
                )
            )
    return state
