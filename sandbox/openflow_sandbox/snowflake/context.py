"""What a statement handler sees: the account state, the calling session, and helpers to qualify
names and check privileges the way Snowflake reports failures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from . import errors, privileges
from .results import Result
from .sqltext import Parser, fq
from .state import AccountState, Name3


class FakesnowBridge(Protocol):
    """The part of fakesnow the emulation needs besides forwarding statements."""

    def execute(self, sql: str) -> None: ...

    def use_schema(self, connection: SessionConnection, database: str, schema: str | None) -> None: ...

    def table_exists(self, database: str, schema: str, name: str) -> bool: ...


class SessionConnection(Protocol):
    """fakesnow's per-session connection: it tracks USE DATABASE / USE SCHEMA for us."""

    database: str | None

    @property
    def schema(self) -> str | None: ...


@dataclass
class Session:
    token: str
    user: str
    role: str
    connection: SessionConnection
    secondary_roles_all: bool = False
    warehouse: str | None = None
    application: str | None = None  # the client's `application` login parameter


@dataclass(frozen=True)
class Settings:
    account: str  # e.g. MYORG-MYACCOUNT
    locator: str  # shown where Snowflake shows the account locator (SHOW GRANTS ON ACCOUNT, errors)
    transition_reads: int  # status reads before an asynchronous change settles

    @property
    def organization(self) -> str:
        return self.account.partition("-")[0] if "-" in self.account else self.account

    @property
    def account_name(self) -> str:
        return self.account.partition("-")[2] or self.account


@dataclass(frozen=True)
class Delegate:
    """Forward the statement, unchanged, to fakesnow."""


class Transfer(Protocol):
    """A PUT/GET answer: stage information the client uses to move the file itself."""

    def json_data(self) -> dict[str, Any]: ...


Outcome = Result | Delegate | Transfer
Kind = Literal["read", "write"]


@dataclass
class Ctx:
    state: AccountState
    session: Session
    settings: Settings
    fakesnow: FakesnowBridge
    flags: frozenset[str] = field(default_factory=frozenset)  # optional words matched, e.g. "OR REPLACE"
    base_url: str = ""  # this server's http://host:port, for URLs handed to the client (stage transfers)

    # -- roles and privileges -------------------------------------------------------------
    def roles(self, *, creating: bool = False) -> set[str]:
        """The roles whose privileges apply. Like Snowflake, CREATE uses the primary role only;
        other statements also use the user's secondary roles when they are ALL."""
        roles = privileges.inherited_roles(self.state, self.session.role)
        if self.session.secondary_roles_all and not creating:
            roles |= privileges.user_roles(self.state, self.session.user)
        return roles

    def can(self, privilege: str, granted_on: str = "ACCOUNT", name: tuple[str, ...] = (), **kw: Any) -> bool:
        return privileges.has_privilege(self.state, self.roles(**kw), privilege, granted_on, name)

    def require_account(self, privilege: str, *, creating: bool = True) -> None:
        if not self.can(privilege, creating=creating):
            raise errors.insufficient_privileges("account", self.settings.locator)

    def require(
        self, privilege: str, granted_on: str, name: tuple[str, ...], *, creating: bool = False
    ) -> None:
        if not self.can(privilege, granted_on, name, creating=creating):
            label = granted_on.lower().replace("_", " ")
            raise errors.insufficient_privileges(label, name[-1])

    def require_owner_or(self, privilege: str, granted_on: str, name: tuple[str, ...]) -> None:
        """OWNERSHIP (always passes ``can``) or the named privilege; MANAGE GRANTS also suffices."""
        if not (self.can(privilege, granted_on, name) or self.can("MANAGE GRANTS")):
            raise errors.insufficient_privileges(granted_on.lower().replace("_", " "), name[-1])

    def visible(self, granted_on: str, name: tuple[str, ...]) -> bool:
        return privileges.has_any_privilege(self.state, self.roles(), granted_on, name)

    def require_schema_create(self, privilege: str, database: str, schema: str) -> None:
        """Creating in a schema: USAGE on the database and schema, and the CREATE privilege on the schema."""
        self.database(database)
        self.schema(database, schema)
        if not self.can("USAGE", "DATABASE", (database,), creating=True):
            raise errors.does_not_exist("Database", fq(database))
        if not self.can("USAGE", "SCHEMA", (database, schema), creating=True):
            raise errors.does_not_exist("Schema", fq(database, schema))
        self.require(privilege, "SCHEMA", (database, schema), creating=True)

    # -- names ------------------------------------------------------------------------------
    def current_database(self) -> str | None:
        db = self.session.connection.database
        if db is None:
            return None
        if db in self.state.databases:
            return db
        # fakesnow upper-cases database names; map back to a quoted one if that is what exists
        return next((d for d in self.state.databases if d.upper() == db.upper()), db)

    def current_schema(self) -> str | None:
        schema = self.session.connection.schema
        if schema is None or schema.upper() in ("MAIN", "_FS_INFORMATION_SCHEMA"):
            return None if schema is None or schema.upper() == "MAIN" else "INFORMATION_SCHEMA"
        db = self.current_database()
        return next((s for (d, s) in self.state.schemas if d == db and s.upper() == schema.upper()), schema)

    def qualify_schema(self, parts: list[str]) -> tuple[str, str]:
        if len(parts) == 2:
            return parts[0], parts[1]
        if len(parts) != 1:
            raise errors.syntax_error(".".join(parts))
        db = self.current_database()
        if db is None:
            raise errors.no_current_database()
        return db, parts[0]

    def qualify(self, parts: list[str]) -> Name3:
        if len(parts) == 3:
            return parts[0], parts[1], parts[2]
        if len(parts) == 2:
            db = self.current_database()
            if db is None:
                raise errors.no_current_database()
            return db, parts[0], parts[1]
        if len(parts) == 1:
            db, schema = self.current_database(), self.current_schema()
            if db is None:
                raise errors.no_current_database()
            if schema is None:
                raise errors.SqlError(
                    90106,
                    "22000",
                    "Cannot perform CREATE. This session does not have a current schema. "
                    "Call 'USE SCHEMA', or use a qualified name.",
                )
            return db, schema, parts[0]
        raise errors.syntax_error(".".join(parts))

    # -- existence ----------------------------------------------------------------------------
    def database(self, name: str) -> None:
        if name not in self.state.databases or not self.visible("DATABASE", (name,)):
            raise errors.does_not_exist("Database", fq(name))

    def schema(self, database: str, schema: str) -> None:
        self.database(database)
        if (database, schema) not in self.state.schemas or not self.visible("SCHEMA", (database, schema)):
            raise errors.does_not_exist("Schema", fq(database, schema))

    def role(self, name: str) -> None:
        if name not in self.state.roles:
            raise errors.does_not_exist("Role", fq(name))

    def user(self, name: str) -> None:
        if name not in self.state.users:
            raise errors.does_not_exist("User", fq(name))


Handler = Callable[[Ctx, Parser], Outcome]


@dataclass(frozen=True)
class Rule:
    """One row of the statement table: leading keywords -> handler.

    ``pattern`` is keywords with ``[OPTIONAL WORDS]`` and ``{A|B}`` alternatives, e.g.
    ``"CREATE [OR REPLACE] SECRET"`` or ``"{DESC|DESCRIBE} USER"``. Matched optional groups are
    passed to the handler as ``ctx.flags``.
    """

    pattern: str
    handler: Handler
    kind: Kind
    # statements the handler cannot parse are data SQL for fakesnow (e.g. SELECT with placeholders)
    fallthrough: bool = False
