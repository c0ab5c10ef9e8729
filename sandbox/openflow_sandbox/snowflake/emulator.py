"""SnowflakeEmulator: the account-level and Openflow emulation behind a real Snowflake endpoint.

Production code connects with ``snowflake.connector.connect(**emu.connect_kwargs(...))``; only the
endpoint differs from a real account. Each emulator owns its state and its own fakesnow database,
so emulators never share data.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import fakesnow.server as fakesnow_server
import snowflake.connector.errors
from fakesnow.instance import FakeSnow
from fakesnow.transforms import SERVER_VERSION

from . import account_usage, auth, errors
from .context import Ctx, Delegate, Kind, Session, SessionConnection, Settings
from .dispatch import dispatch, statement_kind
from .errors import LoginError, SqlError
from .faults import FaultInjector, FaultKind
from .handlers import connector_stage
from .handlers.common import CONNECTOR_FAILED, RUNTIME_FAILED
from .privileges import user_roles
from .recording import EmulationRecorder
from .server import Reply, ServerThread, build_app
from .sqltext import fq, parse_name
from .state import (
    AccountState,
    Connector,
    DataPlaneIntegration,
    Deployment,
    Name3,
    Role,
    RoleGrant,
    Runtime,
    RuntimeIntegration,
    User,
    seeded_state,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StatementRecord:
    """One statement as the emulator saw it."""

    user: str
    role: str
    sql: str
    kind: Kind  # "read" for SHOW/DESC/SELECT/USE, "write" for anything that may change state
    ok: bool
    at: str = ""  # when it was received (UTC, ISO 8601)
    application: str | None = None  # the client's `application` (the product: "openflow-autopilot")


# A COMMIT makes the live version the connector's newest version: the recorder copies its files there.
_COMMIT = re.compile(r"^\s*ALTER\s+OPENFLOW\s+CONNECTOR\s+(?P<name>\S+)\s+COMMIT\b", re.I)


class _FakesnowBridge:
    """Runs the emulator's own statements against its fakesnow database."""

    def __init__(self, fs: FakeSnow) -> None:
        self._fs = fs
        self._conn = fs.connect()

    def execute(self, sql: str) -> None:
        self._conn.cursor().execute(sql)

    def use_schema(self, connection: SessionConnection, database: str, schema: str | None) -> None:
        target = f"SCHEMA {fq(database, schema)}" if schema else f"DATABASE {fq(database)}"
        connection.cursor().execute(f"USE {target}")  # type: ignore[attr-defined]

    def table_exists(self, database: str, schema: str, name: str) -> bool:
        row = (
            self._fs.duck_conn.cursor()
            .execute(
                "select 1 from duckdb_tables() where upper(database_name) = upper(?) "
                "and upper(schema_name) = upper(?) and upper(table_name) = upper(?)",
                [database, schema, name],
            )
            .fetchone()
        )
        return row is not None


def as_sql_error(exc: Exception, sql: str) -> SqlError:
    """Any failure as a Snowflake statement error. An unexpected exception must not become an HTTP 500:
    the connector retries those for minutes, hiding the bug behind a hang."""
    if isinstance(exc, SqlError):
        return exc
    if isinstance(exc, snowflake.connector.errors.Error):  # raised by fakesnow for our own statements
        return SqlError(exc.errno or 603, exc.sqlstate or "XX000", str(exc.msg))
    logger.error("emulation failed on %r", sql, exc_info=exc)
    return SqlError(603, "XX000", f"SQL execution internal error: {type(exc).__name__}: {exc}")


def error_payload(exc: SqlError) -> dict[str, Any]:
    code = f"{exc.errno:06d}"
    return {
        "data": {"errorCode": code, "sqlState": exc.sqlstate, "queryId": str(uuid.uuid4())},
        "code": code,
        "message": exc.message,
        "success": False,
    }


def _one_name(text: str) -> str:
    parts = parse_name(text)
    if len(parts) != 1:
        raise ValueError(f"expected a simple name, got {text!r}")
    return parts[0]


def _schema_object[T](objects: Mapping[Name3, T], name: str, kind: str) -> T:
    """Find by full name (DB.SCHEMA.NAME) or by a unique trailing part (NAME, SCHEMA.NAME)."""
    parts = tuple(parse_name(name))
    found = [obj for key, obj in objects.items() if key[-len(parts) :] == parts]
    if len(found) != 1:
        raise KeyError(f"{'no' if not found else 'ambiguous'} Openflow {kind} {name!r}")
    return found[0]


class SnowflakeEmulator:
    """An emulated Snowflake account served over the connector's wire protocol on 127.0.0.1."""

    def __init__(
        self,
        account: str = "MYORG-MYACCOUNT",
        *,
        locator: str = "SB00001",
        transition_reads: int = 2,
        host: str = "127.0.0.1",
    ) -> None:
        self.settings = Settings(
            account=account.upper(), locator=locator.upper(), transition_reads=transition_reads
        )
        self.host = host
        self.state: AccountState = seeded_state(self.settings.locator)
        self._lock = threading.RLock()
        self._sessions: dict[str, Session] = {}
        self._statements: list[StatementRecord] = []
        self._recorder: EmulationRecorder | None = None  # record_to(): the statement log on disk
        self._faults = FaultInjector()
        # a private fakesnow database: fakesnow.server's shared one would leak data between emulators
        self._fs = FakeSnow(create_database_on_connect=False, create_schema_on_connect=False)
        self._bridge = _FakesnowBridge(self._fs)
        self._server: ServerThread | None = None
        self._stopped = False
        self.port: int | None = None

    @property
    def account(self) -> str:
        return self.settings.account

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Self:
        if self._stopped:
            raise RuntimeError("a stopped emulator cannot be restarted; create a new one")
        if self._server is None:
            server = ServerThread(self.host)
            server.start(build_app(self, server.reset))
            self._server, self.port = server, server.port
        return self

    def stop(self) -> None:
        """Shut the server down, free the port and drop the sessions. Safe to call twice."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if not self._stopped:
            self._stopped = True
            with self._lock:
                for token in self._sessions:
                    fakesnow_server.sessions.pop(token, None)
                self._sessions.clear()
            self._fs.duck_conn.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}" if self.port is not None else ""

    def connect_kwargs(
        self,
        user: str,
        *,
        private_key: Any = None,
        password: str | None = None,
        role: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Keyword arguments for ``snowflake.connector.connect`` against this emulator."""
        if self.port is None:
            raise RuntimeError("start() the emulator first")
        kwargs: dict[str, Any] = {
            "account": self.settings.account,
            "user": user,
            "host": self.host,
            "port": self.port,
            "protocol": "http",
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        }
        if private_key is not None:
            kwargs["private_key"] = private_key
        if password is not None:
            kwargs["password"] = password
        if role is not None:
            kwargs["role"] = role
        return kwargs | extra

    # -- inspection ------------------------------------------------------------------------------------
    @property
    def statements(self) -> list[StatementRecord]:
        with self._lock:
            return list(self._statements)

    def clear_statements(self) -> None:
        with self._lock:
            self._statements.clear()

    def record_to(self, directory: Path | None) -> EmulationRecorder | None:
        """Write every statement received (secrets masked) and every file accepted onto a connector
        stage under `directory` (recording.py); None stops writing."""
        with self._lock:
            self._recorder = EmulationRecorder(directory) if directory is not None else None
            return self._recorder

    def inject_fault(
        self, pattern: str, kind: FaultKind, times: int = 1, when: Callable[[], bool] | None = None
    ) -> None:
        """Make the next ``times`` statements matching ``pattern`` (a regex, case-insensitive) fail.

        ``permission_denied`` and ``syntax`` return Snowflake's errors (3001 / 1003); ``http_503`` and
        ``http_429`` answer with that HTTP status and ``network_reset`` drops the connection, which the
        connector retries itself, each retry counting as one more matching request. ``when``, if
        given, must hold for the fault to fire (e.g. only while a given handler runs).
        """
        self._faults.add(pattern, kind, times, when)

    def clear_faults(self) -> None:
        """Disarm every fault not fired yet."""
        self._faults.clear()

    @property
    def fired_faults(self) -> list[tuple[str, FaultKind, str]]:
        """(pattern, kind, statement) of each fault that fired, in order."""
        with self._lock:
            return list(self._faults.fired)

    # -- seeding and driving state (what happens outside SQL in a real account) ------------------
    def add_role(self, name: str, *, owner: str = "USERADMIN", comment: str | None = None) -> str:
        role = _one_name(name)
        with self._lock:
            self.state.roles.setdefault(role, Role(name=role, owner=owner, comment=comment))
        return role

    def add_user(
        self,
        name: str,
        *,
        roles: Iterable[str] = (),
        default_role: str | None = None,
        rsa_public_key_pem: str | None = None,
        rsa_public_key_2_pem: str | None = None,
        password: str | None = None,
        user_type: str = "PERSON",
        default_secondary_roles: tuple[str, ...] | None = None,
        owner: str = "USERADMIN",
    ) -> str:
        """Create a user and grant it ``roles`` (which must exist), as an administrator would."""
        user_name = _one_name(name)
        with self._lock:
            granted = [_one_name(r) for r in roles]
            missing = [r for r in granted if r not in self.state.roles]
            if missing:
                raise KeyError(f"unknown roles {missing}; add_role() them first")
            user = User(
                name=user_name,
                login_name=user_name.upper(),
                owner=owner,
                user_type=user_type.upper(),
                default_role=_one_name(default_role) if default_role else None,
                default_secondary_roles=default_secondary_roles,
                password_hash=auth.hash_password(password) if password is not None else None,
                rsa_public_key=auth.normalize_public_key(rsa_public_key_pem) if rsa_public_key_pem else None,
                rsa_public_key_2=auth.normalize_public_key(rsa_public_key_2_pem)
                if rsa_public_key_2_pem
                else None,
            )
            self.state.users[user_name] = user
            for role in granted:
                if not any(
                    g.role == role and (g.grantee_type, g.grantee) == ("USER", user_name)
                    for g in self.state.role_grants
                ):
                    self.state.role_grants.append(
                        RoleGrant(
                            role=role, grantee_type="USER", grantee=user_name, granted_by="SECURITYADMIN"
                        )
                    )
            self.state.sync_user_roles()
        return user_name

    def _deployment(self, name: str) -> Deployment:
        key = _one_name(name)
        if key not in self.state.deployments:
            raise KeyError(f"no Openflow deployment {name!r}")
        return self.state.deployments[key]

    def _runtime(self, name: str) -> Runtime:
        return _schema_object(self.state.runtimes, name, "runtime")

    def _connector(self, name: str) -> Connector:
        return _schema_object(self.state.connectors, name, "connector")

    def set_deployment_status(self, name: str, status: str) -> None:
        """Move a deployment to ``status`` now (e.g. ACTIVE once its BYOC stack is up)."""
        with self._lock:
            self._deployment(name).settle(status.upper())

    def set_runtime_status(self, name: str, status: str, message: str | None = None) -> None:
        with self._lock:
            self._runtime(name).settle(status.upper(), message)

    def set_connector_status(self, name: str, status: str, message: str | None = None) -> None:
        with self._lock:
            self._connector(name).settle(status.upper(), message)

    def fail(
        self, kind: str, name: str, status: str, *, error_code: str, message: str, log_line: str | None = None
    ) -> None:
        """Put a runtime or connector in a documented failed status (<ACTION>_FAILED) with the
        error_code and status_message DESCRIBE shows, as a real failure would; with `log_line`, the
        runtime also writes that ERROR line to its deployment's event table (openflow/monitor:
        RECORD_TYPE 'LOG', RESOURCE_ATTRIBUTES "k8s.namespace.name" = runtime-<key>, VALUE the JSON line)."""
        with self._lock:
            failed = RUNTIME_FAILED if kind == "runtime" else CONNECTOR_FAILED
            if status.upper() not in failed:
                raise ValueError(f"{status} is not a documented failed {kind} status: {sorted(failed)}")
            if kind == "runtime":
                runtime = self._runtime(name)
                obj: Any = runtime
            else:
                obj = self._connector(name)
                runtime = self.state.runtimes[obj.runtime]
            obj.settle(status.upper(), message)
            obj.error_code = error_code
            if log_line is not None:
                self._log_error(runtime, log_line)

    def _log_error(self, runtime: Any, line: str) -> None:
        deployment = self.state.deployments.get(runtime.deployment)
        if deployment is None or not deployment.event_table:
            return
        attributes = {
            "application": "openflow",
            "cloud.service.provider": "aws",
            "k8s.namespace.name": f"runtime-{runtime.key}",
            "k8s.container.name": f"{runtime.key}-server",
            "openflow.dataplane.id": deployment.key,
        }
        value = json.dumps({"level": "ERROR", "loggerName": "org.apache.nifi", "formattedMessage": line})
        quoted = [text.replace("'", "''") for text in (json.dumps(attributes), value)]
        self._bridge.execute(
            f"INSERT INTO {deployment.event_table} (TIMESTAMP, RESOURCE_ATTRIBUTES, RECORD_TYPE, VALUE) "
            f"SELECT SYSDATE(), PARSE_JSON('{quoted[0]}'), 'LOG', TO_VARIANT('{quoted[1]}')"
        )

    def load_account_usage(self, view: str, rows: Iterable[Mapping[str, object]]) -> int:
        """Rows an account's usage leaves in SNOWFLAKE.ACCOUNT_USAGE.<view> (account_usage.py)."""
        with self._lock:
            return account_usage.load(self.state, self._bridge, view, rows)

    def add_data_plane_integration(
        self,
        uuid_text: str | None = None,
        *,
        event_table: str | None = None,
        enabled: bool = True,
        comment: str | None = None,
        owner: str = "ACCOUNTADMIN",
    ) -> str:
        """A gen 1 deployment's integration, as the Openflow UI creates it; returns its name."""
        data_plane_id = uuid_text or str(uuid.uuid4())
        name = "OPENFLOW_DATAPLANE_" + data_plane_id.upper().replace("-", "_")
        with self._lock:
            self.state.data_plane_integrations[name] = DataPlaneIntegration(
                name=name,
                data_plane_id=data_plane_id,
                enabled=enabled,
                event_table=event_table,
                comment=comment,
                owner=owner,
                oauth_redirect_uri=f"https://{self.settings.account.lower()}.snowflakecomputing.com/oauth/complete",
            )
        return name

    def add_runtime_integration(
        self, name: str, *, enabled: bool = True, comment: str | None = None, owner: str = "ACCOUNTADMIN"
    ) -> str:
        key = _one_name(name)
        with self._lock:
            self.state.runtime_integrations[key] = RuntimeIntegration(
                name=key, enabled=enabled, comment=comment, owner=owner, oauth_redirect_uri=""
            )
        return key

    def get_connector_config(self, name: str) -> dict[str, Any]:
        """config.json of the connector's live version (or, once committed, of its latest version)."""
        with self._lock:
            connector = self._connector(name)
            if connector.live_config is not None:
                return copy.deepcopy(connector.live_config)
            if not connector.versions:
                raise KeyError(f"Openflow connector {name!r} has no configuration")
            return copy.deepcopy(connector.versions[-1].config)

    def put_connector_config(self, name: str, config: Mapping[str, Any]) -> None:
        """Replace config.json in the connector's live version, as a PUT of config.json on
        ``snow://openflow_connector/<name>/versions/live/`` does (which the emulation also serves)."""
        with self._lock:
            self._connector(name).live_config = copy.deepcopy(dict(config))

    def running_connectors(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(qualified name, definition, config.json of the default version) of each RUNNING connector:
        what a runtime would be executing. Reading does not advance status transitions."""
        with self._lock:
            # a runtime executes only a RUNNING connector whose committed configuration validated
            return [
                (".".join(key), c.definition, copy.deepcopy(c.versions[-1].config))
                for key, c in sorted(self.state.connectors.items())
                if c.status == "RUNNING" and c.versions and c.versions[-1].problem is None
            ]

    def secret_value(self, name: str) -> dict[str, str | None]:
        """A Snowflake secret's fields (what a runtime resolves a secret reference to)."""
        with self._lock:
            secret = _schema_object(self.state.secrets, name, "secret")
            return {
                "type": secret.secret_type,
                "username": secret.username,
                "password": secret.password,
                "secret_string": secret.secret_string,
            }

    # -- connector stage transfers (presigned URLs handed out by PUT/GET, see handlers/connector_stage)
    def stage_upload(self, path: str, body: bytes) -> int:
        """Store a file the connector uploaded; returns an HTTP status."""
        try:
            parts, version, file_name = connector_stage.parse_route(path)
            name, content = connector_stage.decode_upload(file_name, body)
            with self._lock:
                connector = self._connector(".".join(parts))
                if version != "live" or connector.live_config is None:
                    return 403
                if name == connector_stage.CONFIG_FILE:
                    connector.live_config = connector_stage.config_from_upload(content)
                else:
                    connector.assets[name] = content
                if self._recorder is not None:  # accepted: saved under the live version
                    self._recorder.stage_file(".".join(connector.name3), name, content)
        except (KeyError, ValueError, OSError, errors.SqlError) as exc:
            logger.warning("stage upload to %s refused: %s", path, exc)
            return 400
        return 200

    def stage_download(self, path: str) -> bytes | None:
        try:
            parts, version, file_name = connector_stage.parse_route(path)
            with self._lock:
                connector = self._connector(".".join(parts))
                if file_name != connector_stage.CONFIG_FILE:
                    return connector_stage.version_assets(connector, version).get(file_name)
                config = connector_stage.version_config(connector, version)
        except (KeyError, ValueError, errors.SqlError):
            return None
        return None if config is None else json.dumps(config, indent=2).encode()

    # -- the wire protocol (called by the server) ------------------------------------------------------
    def login(self, body: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        try:
            with self._lock:
                session = self._login(body.get("data") or {}, params)
        except LoginError as exc:
            return {"data": None, "code": str(exc.code), "message": exc.message, "success": False}
        except Exception as exc:  # a 500 here would make the connector retry for minutes
            logger.error("emulated login failed", exc_info=exc)
            return {"data": None, "code": "390100", "message": f"Login failed: {exc}", "success": False}
        return {
            "data": {
                "token": session.token,
                "masterToken": session.token,
                "serverVersion": SERVER_VERSION,
                "sessionId": abs(hash(session.token)) % 10**15,
                "parameters": [
                    {"name": "AUTOCOMMIT", "value": True},
                    {"name": "TIMEZONE", "value": "Etc/UTC"},
                    {"name": "CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY", "value": 3600},
                    {"name": "CLIENT_STAGE_ARRAY_BINDING_THRESHOLD", "value": 0},
                ],
                "sessionInfo": {
                    "databaseName": session.connection.database,
                    "schemaName": session.connection.schema,
                    "warehouseName": session.warehouse,
                    "roleName": session.role,
                },
            },
            "code": None,
            "message": None,
            "success": True,
        }

    def _login(self, data: Mapping[str, Any], params: Mapping[str, str]) -> Session:
        login_name = str(data.get("LOGIN_NAME", "")).upper()
        user = next((u for u in self.state.users.values() if u.login_name.upper() == login_name), None)
        authenticator = str(data.get("AUTHENTICATOR") or "SNOWFLAKE").upper()
        if authenticator == "SNOWFLAKE_JWT":
            if user is None or not auth.jwt_matches(user, data.get("TOKEN"), self.settings.account):
                raise errors.JWT_INVALID
        elif authenticator == "SNOWFLAKE":
            if user is None or not auth.password_matches(user, data.get("PASSWORD")):
                raise errors.BAD_CREDENTIALS
        else:
            raise errors.BAD_CREDENTIALS
        if user.disabled:
            raise errors.USER_DISABLED
        available = user_roles(self.state, user.name)
        if params.get("roleName"):
            role = _one_name(params["roleName"])
            if role not in available:
                raise errors.role_not_granted(role)
        else:
            role = user.default_role if user.default_role in available else "PUBLIC"
        warehouse = _one_name(params["warehouse"]) if params.get("warehouse") else user.default_warehouse
        if warehouse not in self.state.warehouses:
            warehouse = None
        database = _one_name(params["databaseName"]) if params.get("databaseName") else None
        schema = _one_name(params["schemaName"]) if params.get("schemaName") and database else None
        # like Snowflake, a missing database or schema leaves the session without one rather than failing
        if database not in self.state.databases:
            database, schema = None, None
        if schema is not None and (database, schema) not in self.state.schemas:
            schema = None
        token = secrets.token_urlsafe(32)
        connection = self._fs.connect(database, schema)
        session = Session(
            token=token,
            user=user.name,
            role=role,
            connection=connection,
            secondary_roles_all=user.default_secondary_roles == ("ALL",),
            warehouse=warehouse,
            # the connector sends its `application` in the login's CLIENT_ENVIRONMENT
            application=str((data.get("CLIENT_ENVIRONMENT") or {}).get("APPLICATION") or "") or None,
        )
        self._sessions[token] = session
        fakesnow_server.sessions[token] = connection
        return session

    def logout(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def _record(self, session: Session, role: str, sql: str, kind: Kind, ok: bool) -> None:
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        application = session.application
        record = StatementRecord(session.user, role, sql, kind, ok, at, application)
        self._statements.append(record)
        if self._recorder is None:
            return
        self._recorder.statement(
            {"at": at, "user": record.user, "role": role, "application": application}
            | {"kind": kind, "ok": ok, "sql": sql}
        )
        if ok and (m := _COMMIT.match(sql)):
            try:
                connector = self._connector(m["name"])
            except KeyError:
                return
            if connector.versions:
                self._recorder.committed(".".join(connector.name3), connector.versions[-1].name)

    def query(self, token: str, body: Mapping[str, Any]) -> Reply:
        session = self._sessions.get(token)
        if session is None:
            return Reply(
                "json",
                {
                    "data": None,
                    "code": "390104",
                    "message": "User must login again to access the service.",
                    "success": False,
                },
                status=401,
            )
        sql = str(body.get("sqlText", ""))
        bindings = body.get("bindings") or None
        role = session.role  # the log shows the role a statement ran under, also for USE ROLE
        with self._lock:
            kind = statement_kind(sql)
            fault = self._faults.take(sql)
            if fault in ("http_503", "http_429", "network_reset"):
                self._record(session, role, sql, kind, ok=False)
                if fault == "network_reset":
                    return Reply("reset", kind=kind)
                return Reply("http_error", status=503 if fault == "http_503" else 429, kind=kind)
            ctx = Ctx(self.state, session, self.settings, self._bridge, base_url=self.base_url)
            try:
                if fault == "permission_denied":
                    raise errors.insufficient_privileges("account", self.settings.locator)
                if fault == "syntax":
                    raise errors.syntax_error(sql.split()[0] if sql.split() else "<EOF>")
                outcome, kind = dispatch(ctx, sql, bindings)
            except Exception as exc:  # every failure must reach the client as a statement error
                self.state.sync_user_roles()
                self._record(session, role, sql, kind, ok=False)
                return Reply("json", error_payload(as_sql_error(exc, sql)), kind=kind)
            self.state.sync_user_roles()
            if isinstance(outcome, Delegate):
                return Reply("delegate", kind=kind)
            self._record(session, role, sql, kind, ok=True)
            data = outcome.json_data() | {
                "parameters": [{"name": "TIMEZONE", "value": "Etc/UTC"}],
                "queryId": str(uuid.uuid4()),
                "finalDatabaseName": ctx.current_database(),
                "finalSchemaName": ctx.current_schema(),
                "finalWarehouseName": session.warehouse,
                "finalRoleName": session.role,
            }
            return Reply("json", {"data": data, "code": None, "message": None, "success": True}, kind=kind)

    def delegated(self, token: str, body: Mapping[str, Any], kind: Kind, ok: bool) -> None:
        with self._lock:
            session = self._sessions.get(token)
            if session is not None:
                self._record(session, session.role, str(body.get("sqlText", "")), kind, ok)
