"""The PostgreSQL CDC connector (seed-digest.md §7; gen2/configure-connector-sql).

Gen 2, as "ensure":
1. CREATE OPENFLOW CONNECTOR IF NOT EXISTS ... FROM DEFINITION OPENFLOW_POSTGRES_CDC (once);
2. Snowflake secrets for what the connector must not hold in clear: the source password and the
   service user's private key (+ its passphrase). Their statements carry the values, so they run but
   are recorded redacted; a secret's COMMENT names the version of what it holds (the password
   secret's Secrets Manager version, the key's public fingerprint), which is how a re-run knows
   whether to replace it;
3. GET config.json of the live version (or of the default version when there is no live one),
   set the parameters from connector_parameters.py, PUT it back only if something changed
   (unknown keys are kept), COMMIT, and START the connector unless it is already running.
`connector_status` is one poll for the state machine's wait loop.

Gen 1 connectors are configured on the NiFi canvas: `gen1_connector_instructions` lists the exact
parameter names and values for a human (secrets are referred to by where they are stored).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.errors import AutopilotError, PreconditionFailed
from openflow_autopilot.openflow.connector_config import (
    LIVE,
    ConnectorConfigStore,
    StageConfigStore,
    merge_parameters,
    stage_uri,
)
from openflow_autopilot.openflow.connector_parameters import (
    AUTH_KEY_PAIR,
    CONNECTOR_DEFINITION,
    P,
    gen1_name,
    gen2_name,
    inferred_gen2_names,
)
from openflow_autopilot.phases.destination import read_service_key
from openflow_autopilot.phases.models import Action, PhaseResult, utcnow
from openflow_autopilot.phases.prerequisites import _norm
from openflow_autopilot.phases.runtime import is_wait_timeout
from openflow_autopilot.postgres.names import as_table_names
from openflow_autopilot.snowflake.identifiers import literal, qualified, split_qualified
from openflow_autopilot.snowflake.session import Sql

DEFAULT_CONNECTOR_NAME = "POSTGRES_CDC"
WAIT_SECONDS = 20
COMMENT = "managed by openflow-autopilot"
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:]+\]$")
FAILED = frozenset({"FAILED", "ERROR"})


@dataclass(frozen=True)
class SourceEndpoint:
    """Where and as whom the connector reads PostgreSQL. The password is held in memory only."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    publication: str
    slot_name: str
    tables: tuple[str, ...]
    password_version: str | None = None  # e.g. the Secrets Manager VersionId the password came from

    def jdbc_url(self) -> str:
        if not _HOST.match(self.host) or not 0 < self.port < 65536:
            raise PreconditionFailed(f"not a host:port for a JDBC URL: {self.host}:{self.port}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$-]*", self.database):
            raise PreconditionFailed(f"database name {self.database!r} cannot go into a JDBC URL unquoted")
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    def table_list(self) -> str:
        return ",".join(str(t) for t in as_table_names(list(self.tables), "source.tables"))


@dataclass(frozen=True)
class DestinationInfo:
    """The Snowflake side, as the destination phase left it. Key material in memory only."""

    database: str
    role: str
    warehouse: str
    user: str
    account_identifier: str
    private_key_pem: str = field(repr=False)
    private_key_passphrase: str | None = field(default=None, repr=False)
    key_fingerprint: str = ""


def destination_from_secret(
    request: ProvisionRequest, *, secrets: Any, key_secret: str, key_fingerprint: str | None = None
) -> DestinationInfo:
    """The destination as the destination phase left it, with the key read from Secrets Manager."""
    stored = read_service_key(secrets, key_secret)
    if stored.key is None:
        raise PreconditionFailed(
            f"no usable service user key in {key_secret}"
            + (f" ({stored.problem})" if stored.problem else ""),
            fix="run the destination phase first",
        )
    dest = request.destination
    key = stored.key
    if key_fingerprint and key.fingerprint != key_fingerprint:
        raise PreconditionFailed(
            f"the key in {key_secret} ({key.fingerprint}) is not the one the destination phase set "
            f"({key_fingerprint})",
            fix="re-run the destination phase",
        )
    return DestinationInfo(
        database=qualified(dest.database),
        role=qualified(dest.service_role),
        warehouse=qualified(dest.warehouse),
        user=qualified(dest.service_user),
        account_identifier=request.snowflake.account,
        private_key_pem=key.private_key_pem,
        private_key_passphrase=key.passphrase,
        key_fingerprint=key.fingerprint,
    )


def connector_name(request: ProvisionRequest, name: str = DEFAULT_CONNECTOR_NAME) -> str:
    sf = request.snowflake
    return qualified(sf.openflow_database, sf.openflow_schema, name)


@dataclass(frozen=True)
class SnowflakeSecret:
    name: str  # qualified
    kind: str  # PASSWORD | GENERIC_STRING
    fields: tuple[tuple[str, str], ...] = field(repr=False)  # e.g. (("USERNAME", u), ("PASSWORD", p))
    secret_fields: frozenset[str]  # which of `fields` must never be shown
    version: str | None  # None: unknown; an existing secret is then kept
    describe: str  # what it holds, for the recorded statement

    @property
    def comment(self) -> str:
        return f"{COMMENT}; version {self.version}" if self.version else COMMENT

    def statements(self) -> tuple[str, str]:
        """(statement to run, statement to record)."""
        run = [f"CREATE OR REPLACE SECRET {self.name} TYPE = {self.kind}"]
        shown = list(run)
        for key, value in self.fields:
            run.append(f"{key} = {literal(value)}")
            shown.append(
                f"{key} = '<{self.describe}>'" if key in self.secret_fields else f"{key} = {literal(value)}"
            )
        tail = f"COMMENT = {literal(self.comment)}"
        return " ".join([*run, tail]), " ".join([*shown, tail])

    def values(self) -> list[str]:
        return [v for k, v in self.fields if k in self.secret_fields and v]


class _Recorder:
    def __init__(self, sql: Sql, apply: bool) -> None:
        self.sql, self.apply = sql, apply
        self.actions: list[Action] = []
        self.notes: list[str] = []

    def do(self, kind: str, target: str, statement: str) -> None:
        if self.apply:
            self.sql.execute(statement)
        self.actions.append(Action(kind=kind, target=target, statement=statement))

    def record(self, kind: str, target: str, statement: str) -> None:
        self.actions.append(Action(kind=kind, target=target, statement=statement))

    def secret(self, secret: SnowflakeSecret) -> None:
        """Create/replace a secret; the values never reach a log, an error or the statement list."""
        statement, shown = secret.statements()
        if self.apply:
            try:
                self.sql.execute(statement)
            except AutopilotError as exc:
                message = exc.message
                for value in secret.values():
                    message = message.replace(value, "***")
                raise type(exc)(message, call=f"snowflake: {shown[:200]}", fix=exc.fix) from None
            if self.sql.executed and self.sql.executed[-1] == statement:
                self.sql.executed[-1] = shown
        self.actions.append(Action(kind="create_secret", target=secret.name, statement=shown))


def _secrets(
    name: str, source: SourceEndpoint, destination: DestinationInfo
) -> tuple[SnowflakeSecret, SnowflakeSecret, SnowflakeSecret | None]:
    db, schema, conn = split_qualified(name, 3, "connector")
    password = SnowflakeSecret(
        name=qualified(db, schema, f"{conn}_SOURCE_PASSWORD"),
        kind="PASSWORD",
        fields=(("USERNAME", source.user), ("PASSWORD", source.password)),
        secret_fields=frozenset({"PASSWORD"}),
        version=source.password_version,
        describe="source password",
    )
    return (password, *_key_secrets(name, destination))


def _key_secrets(name: str, destination: DestinationInfo) -> tuple[SnowflakeSecret, SnowflakeSecret | None]:
    """The connector's Snowflake secrets holding the service user's key (and its passphrase)."""
    db, schema, conn = split_qualified(name, 3, "connector")
    key = SnowflakeSecret(
        name=qualified(db, schema, f"{conn}_SNOWFLAKE_KEY"),
        kind="GENERIC_STRING",
        fields=(("SECRET_STRING", destination.private_key_pem),),
        secret_fields=frozenset({"SECRET_STRING"}),
        version=destination.key_fingerprint or None,
        describe=f"private key of {destination.user}, fingerprint {destination.key_fingerprint}",
    )
    passphrase = None
    if destination.private_key_passphrase:
        passphrase = SnowflakeSecret(
            name=qualified(db, schema, f"{conn}_SNOWFLAKE_KEY_PASSPHRASE"),
            kind="GENERIC_STRING",
            fields=(("SECRET_STRING", destination.private_key_passphrase),),
            secret_fields=frozenset({"SECRET_STRING"}),
            version=destination.key_fingerprint or None,
            describe=f"passphrase of the private key {destination.key_fingerprint}",
        )
    return key, passphrase


def refresh_connector_key(
    sql: Sql, request: ProvisionRequest, *, destination: DestinationInfo, runtime: str
) -> PhaseResult:
    """After a key rotation: put the new key into the connector's Snowflake secrets (replaced only when
    the fingerprint changed), so the runtime's next login uses it; sessions already open stay valid."""
    started = utcnow()
    rec = _Recorder(sql, True)
    full = connector_name(request)
    replaced = {s.name: _ensure_secret(rec, s) for s in _key_secrets(full, destination) if s is not None}
    rows = sql.query(f"DESC OPENFLOW RUNTIME {runtime}")
    execute_as = _norm(rows[0].get("execute_as_role")) if rows else ""
    if execute_as and execute_as != "NULL":
        for secret_name, was_replaced in replaced.items():
            _grant_secret_usage(rec, secret_name, qualified(execute_as), was_replaced)
    return PhaseResult(
        phase="ConnectorKeyRefresh",
        status="changed" if rec.actions else "unchanged",
        actions=rec.actions,
        notes=rec.notes,
        outputs={"connector": full, "key_fingerprint": destination.key_fingerprint},
        started_at=started,
        ended_at=utcnow(),
    )


def _ensure_secret(rec: _Recorder, secret: SnowflakeSecret) -> bool:
    """True when the secret was (or would be) created or replaced."""
    db, schema, short = split_qualified(secret.name, 3, "secret")
    rows = rec.sql.query(f"SHOW SECRETS LIKE {literal(short)} IN SCHEMA {db}.{schema}")
    if rows:
        if secret.version is None:
            rec.notes.append(
                f"secret {secret.name} exists and no version of its value was given: kept as is "
                "(pass password_version to replace it when the password changes)"
            )
            return False
        if str(rows[0].get("comment") or "") == secret.comment:
            return False
    rec.secret(secret)
    return True


def desired_parameters(
    source: SourceEndpoint,
    destination: DestinationInfo,
    secrets: tuple[SnowflakeSecret, SnowflakeSecret, SnowflakeSecret | None],
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(gen 2 parameter name -> value, names to remove) for config.json."""
    password, key, passphrase = secrets
    logical: dict[P, str] = {
        P.CONNECTION_URL: source.jdbc_url(),
        P.SOURCE_USER: source.user,
        P.SOURCE_PASSWORD: password.name,
        P.PUBLICATION: source.publication,
        P.REPLICATION_SLOT: source.slot_name,
        P.INCLUDED_TABLES: source.table_list(),
        P.DESTINATION_DATABASE: qualified(destination.database),
        P.AUTH_STRATEGY: AUTH_KEY_PAIR,
        P.ACCOUNT_IDENTIFIER: destination.account_identifier,
        P.SNOWFLAKE_USER: qualified(destination.user),
        P.PRIVATE_KEY: key.name,
        P.ROLE: qualified(destination.role),
        P.WAREHOUSE: qualified(destination.warehouse),
    }
    remove: tuple[str, ...] = ()
    if passphrase is not None:
        logical[P.PRIVATE_KEY_PASSWORD] = passphrase.name
    else:
        remove = (gen2_name(P.PRIVATE_KEY_PASSWORD),)
    return {gen2_name(k): v for k, v in logical.items()}, remove


def _grant_secret_usage(rec: _Recorder, secret: str, role: str, replaced: bool) -> None:
    """The runtime reads secrets as its execute-as role; CREATE OR REPLACE drops earlier grants."""
    grants = [] if replaced else rec.sql.query(f"SHOW GRANTS ON SECRET {secret}")
    if not any(_norm(g.get("grantee_name")) == role and _norm(g.get("privilege")) == "USAGE" for g in grants):
        rec.do(
            "grant", f"USAGE on SECRET {secret} to {role}", f"GRANT USAGE ON SECRET {secret} TO ROLE {role}"
        )


def show_connector(sql: Sql, full: str) -> dict[str, Any] | None:
    """The connector's SHOW row, or None when it does not exist."""
    db, schema, short = split_qualified(full, 3, "connector")
    rows = sql.query(f"SHOW OPENFLOW CONNECTORS LIKE {literal(short)} IN SCHEMA {db}.{schema}")
    return rows[0] if rows else None


def ensure_connector(
    sql: Sql,
    request: ProvisionRequest,
    *,
    runtime: str,
    source: SourceEndpoint,
    destination: DestinationInfo,
    apply: bool = True,
    name: str = DEFAULT_CONNECTOR_NAME,
    store: ConnectorConfigStore | None = None,
) -> PhaseResult:
    """Create, configure, commit and start the gen 2 PostgreSQL connector; only what is missing."""
    started = utcnow()
    rec = _Recorder(sql, apply)
    store = store or StageConfigStore(sql)
    full = connector_name(request, name)
    rt = qualified(*split_qualified(runtime, 3, "runtime"))

    row = show_connector(sql, full)
    exists = row is not None
    if row is not None and str(row.get("connector_definition") or "").upper() != CONNECTOR_DEFINITION:
        raise PreconditionFailed(
            f"Openflow connector {full} exists from definition {row.get('connector_definition')}",
            fix="choose another connector name or drop that connector",
        )
    if not exists:
        rec.do(
            "create_connector",
            full,
            f"CREATE OPENFLOW CONNECTOR IF NOT EXISTS {full} IN RUNTIME {rt} "
            f"FROM DEFINITION {CONNECTOR_DEFINITION} COMMENT = {literal(COMMENT)}",
        )

    secrets = _secrets(full, source, destination)
    replaced = {s.name: _ensure_secret(rec, s) for s in secrets if s is not None}
    try:
        runtime_rows = sql.query(f"DESC OPENFLOW RUNTIME {rt}")
    except PreconditionFailed:
        if apply:
            raise
        runtime_rows = []  # planning before the runtime exists
    execute_as = _norm(runtime_rows[0].get("execute_as_role")) if runtime_rows else ""
    if execute_as and execute_as != "NULL":
        for secret_name, was_replaced in replaced.items():
            _grant_secret_usage(rec, secret_name, qualified(execute_as), was_replaced)
    else:
        rec.notes.append(f"runtime {rt} shows no EXECUTE_AS_ROLE: no USAGE grants on the connector's secrets")

    values, remove = desired_parameters(source, destination, secrets)
    inferred = [n for n in inferred_gen2_names(list(P)) if n in values]
    if inferred:
        rec.notes.append("gen 2 parameter names inferred, not documented: " + ", ".join(inferred))
    outputs: dict[str, Any] = {
        "connector": full,
        "runtime": rt,
        "secrets": sorted(replaced),
        "config_changed": False,
    }
    if not exists and not apply:
        rec.record("put_config", full, f"PUT config.json {stage_uri(full, LIVE)} (all parameters)")
        rec.record("commit", full, f"ALTER OPENFLOW CONNECTOR {full} COMMIT")
        rec.record("start", full, f"ALTER OPENFLOW CONNECTOR {full} START")
        return _result(rec, started, outputs)

    described = sql.query(f"DESC OPENFLOW CONNECTOR {full}")[0]
    committed = described.get("default_version_name") or described.get("last_version_name")
    versions = sql.query(f"SHOW VERSIONS IN OPENFLOW CONNECTOR {full}")
    has_live = any(_truthy(v.get("is_live")) for v in versions)
    if not has_live and not committed:
        raise PreconditionFailed(f"Openflow connector {full} has neither a live nor a committed version")
    current = store.get(full, LIVE if has_live else str(committed))
    merged, changed = merge_parameters(current, values, remove=remove)
    must_commit = False
    if changed:
        if not has_live:
            rec.do("add_live_version", full, f"ALTER OPENFLOW CONNECTOR {full} ADD LIVE VERSION FROM LAST")
        if apply:
            store.put(full, merged)
        rec.record("put_config", full, f"PUT config.json {stage_uri(full, LIVE)} (set: {', '.join(changed)})")
        must_commit = True
    elif has_live:
        # our values are in the live version; commit them unless the default version already has them
        must_commit = not committed or store.get(full, str(committed)) != current
    if must_commit:
        rec.do("commit", full, f"ALTER OPENFLOW CONNECTOR {full} COMMIT COMMENT = {literal(COMMENT)}")
    outputs["config_changed"] = bool(changed)

    status = str(described.get("status") or "").upper()
    if status in FAILED:
        raise PreconditionFailed(
            f"Openflow connector {full} is {status}",
            fix=f"look at the connector in the Openflow UI, then ALTER OPENFLOW CONNECTOR {full} START",
        )
    if status in ("STOPPED", ""):
        rec.do("start", full, f"ALTER OPENFLOW CONNECTOR {full} START")
        status = "STARTING"
    elif changed and status in ("RUNNING", "STARTING"):
        rec.notes.append(
            f"connector {full} was {status} while its configuration changed; if the new version is not "
            f"picked up, STOP and START it"
        )
    outputs["status"] = status
    return _result(rec, started, outputs)


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "y", "yes", "1")


def _result(rec: _Recorder, started: str, outputs: dict[str, Any]) -> PhaseResult:
    status = "planned" if not rec.apply else ("changed" if rec.actions else "unchanged")
    return PhaseResult(
        phase="Connector",
        status=status,
        actions=rec.actions,
        notes=rec.notes,
        outputs=outputs,
        started_at=started,
        ended_at=utcnow(),
    )


def connector_status(sql: Sql, name: str, *, wait_seconds: int = WAIT_SECONDS) -> dict[str, Any]:
    """One poll: {name, status, done}; done once RUNNING. FAILED (or STOPPED: nobody will start it) raises."""
    full = qualified(*split_qualified(name, 3, "connector"))
    failure: AutopilotError | None = None
    try:
        seconds = int(wait_seconds)
        sql.query(f"SELECT SYSTEM$WAIT_FOR_OPENFLOW_CONNECTOR_STATUS({seconds}, 'RUNNING', {literal(full)})")
    except PreconditionFailed as exc:
        if not is_wait_timeout(exc):
            failure = exc
    row = sql.query(f"DESC OPENFLOW CONNECTOR {full}")[0]
    status = str(row.get("status") or "").upper()
    if status in FAILED or status == "STOPPED":
        raise PreconditionFailed(
            f"Openflow connector {full} is {status}",
            call="SYSTEM$WAIT_FOR_OPENFLOW_CONNECTOR_STATUS",
            fix=f"look at the connector in the Openflow UI; ALTER OPENFLOW CONNECTOR {full} START",
        )
    if failure is not None:
        raise failure
    return {
        "name": full,
        "status": status,
        "done": status == "RUNNING",
        "version": row.get("default_version_name"),
    }


# -- gen 1 ------------------------------------------------------------------------------------------
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
