"""The PostgreSQL CDC connector (seed-digest.md §7; gen2/configure-connector-sql).

Gen 2, as "ensure", run as the Openflow admin role (it owns the runtime: CREATE OPENFLOW CONNECTOR
needs USAGE on it):
1. CREATE OPENFLOW CONNECTOR IF NOT EXISTS ... FROM DEFINITION OPENFLOW_POSTGRES_CDC (once);
2. Snowflake secrets of TYPE = GENERIC_STRING (the type the connector reads) for the source password
   and the service user's private key (an unencrypted PKCS8 PEM: gen 2 documents no passphrase
   property). Their statements carry the values, so they run but are recorded redacted; a secret's
   COMMENT names the version of what it holds, which is how a re-run knows whether to replace it.
   The runtime's execute-as role gets READ and USAGE on each;
3. a connector left in UPDATE_FAILED or START_FAILED is STOPped first (the only documented way
   out), then the live version's config.json (GET, or ADD LIVE VERSION FROM LAST) gets the values,
   the JDBC driver jar is PUT next to it, and the version is COMMITted.
Commands are asynchronous: this phase never STARTs. `connector_status` (the state machine's loop)
waits until the connector is stable, STARTs it from STOPPED, and is done once it is RUNNING; it
decides from DESCRIBE's status after every wait, never from a wait's error number.

Gen 1 connectors are configured on the NiFi canvas: `gen1_connector_instructions` lists the exact
parameter names and values for a human (secrets are referred to by where they are stored).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import AutopilotError, NotReadyYet, PreconditionFailed
from openflow_autopilot.openflow.connector_config import (
    LIVE,
    ConnectorConfigStore,
    PropertyValue,
    StageConfigStore,
    asset_value,
    literal_value,
    secret_value,
    set_properties,
    stage_uri,
)
from openflow_autopilot.openflow.connector_parameters import (
    AUTH_KEY_PAIR,
    CASE_SENSITIVE,
    CONNECTOR_DEFINITION,
    DESTINATION_NAMES_CASE_SENSITIVE,
    P,
    gen1_name,
    gen2_name,
)
from openflow_autopilot.openflow.endpoints import DestinationInfo, SourceEndpoint
from openflow_autopilot.openflow.jdbc_driver import Driver
from openflow_autopilot.openflow.names import DEFAULT_CONNECTOR_NAME, connector_name, norm_name
from openflow_autopilot.openflow.statuses import (
    CONNECTOR_CLEARED_BY_STOP,
    CONNECTOR_FAILED,
    CONNECTOR_STABLE,
    describe_details,
)
from openflow_autopilot.phases.destination import read_service_key
from openflow_autopilot.snowflake.identifiers import literal, qualified, split_qualified
from openflow_autopilot.snowflake.session import Sql

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

WAIT_SECONDS = 20
MAX_STARTS = 2  # START issued from a stable STOPPED this many times without reaching RUNNING: give up
COMMENT = "managed by openflow-autopilot"
SECRET_GRANTS = ("READ", "USAGE")  # configure-connector-sql: READ; troubleshooting notes add USAGE


def destination_from_secret(
    request: ProvisionRequest,
    *,
    secrets: SecretsManagerClient,
    key_secret: str,
    key_fingerprint: str | None = None,
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


@dataclass(frozen=True)
class SnowflakeSecret:
    name: str  # qualified
    value: str = field(repr=False)  # SECRET_STRING: never shown
    version: str | None  # None: unknown; an existing secret is then kept
    describe: str  # what it holds, for the recorded statement
    kind: str = "GENERIC_STRING"  # the type the connector reads (configure-connector-sql)

    @property
    def comment(self) -> str:
        return f"{COMMENT}; version {self.version}" if self.version else COMMENT

    def statements(self) -> tuple[str, str]:
        """(statement to run, statement to record)."""
        head = f"CREATE OR REPLACE SECRET {self.name} TYPE = {self.kind}"
        tail = f"COMMENT = {literal(self.comment)}"
        return (
            f"{head} SECRET_STRING = {literal(self.value)} {tail}",
            f"{head} SECRET_STRING = '<{self.describe}>' {tail}",
        )

    def values(self) -> list[str]:
        return [self.value] if self.value else []


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


@dataclass(frozen=True)
class ConnectorSecrets:
    password: SnowflakeSecret
    key: SnowflakeSecret

    def all(self) -> tuple[SnowflakeSecret, SnowflakeSecret]:
        return (self.password, self.key)


def _secrets(name: str, source: SourceEndpoint, destination: DestinationInfo) -> ConnectorSecrets:
    db, schema, conn = split_qualified(name, 3, "connector")
    password = SnowflakeSecret(
        name=qualified(db, schema, f"{conn}_SOURCE_PASSWORD"),
        value=source.password,
        version=source.password_version,
        describe="source password",
    )
    return ConnectorSecrets(password, _key_secret(name, destination))


def _key_secret(name: str, destination: DestinationInfo) -> SnowflakeSecret:
    """The connector's Snowflake secret holding the service user's private key."""
    db, schema, conn = split_qualified(name, 3, "connector")
    return SnowflakeSecret(
        name=qualified(db, schema, f"{conn}_SNOWFLAKE_KEY"),
        value=destination.unencrypted_private_key_pem(),
        version=destination.key_fingerprint or None,
        describe=f"private key of {destination.user}, fingerprint {destination.key_fingerprint}",
    )


def _execute_as_role(sql: Sql, runtime: str, *, required: bool = True) -> str | None:
    """The runtime's EXECUTE_AS_ROLE (desc-openflow-runtime), the identity that reads the secrets."""
    rows = sql.query(f"DESC OPENFLOW RUNTIME {runtime}")
    role = norm_name(rows[0].get("execute_as_role")) if rows else ""
    if role in ("", "NULL", "NONE"):
        if not required:
            return None
        raise PreconditionFailed(
            f"Openflow runtime {runtime} shows no execute_as_role",
            call=f"DESC OPENFLOW RUNTIME {runtime}",
            fix="a gen 2 runtime always has one (EXECUTE_AS_ROLE is required): check that the name is right",
        )
    return qualified(role)


def refresh_connector_key(
    sql: Sql, request: ProvisionRequest, *, destination: DestinationInfo, runtime: str
) -> PhaseResult:
    """After a key rotation: put the new key into the connector's Snowflake secret (replaced only when
    the fingerprint changed), so the runtime's next login uses it; sessions already open stay valid."""
    started = utcnow()
    rec = _Recorder(sql, True)
    full = connector_name(request)
    secret = _key_secret(full, destination)
    replaced = _ensure_secret(rec, secret)
    execute_as = _execute_as_role(sql, runtime)
    assert execute_as is not None
    _grant_secret(rec, secret.name, execute_as, replaced)
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
        kind = str(rows[0].get("secret_type") or "").upper()
        if kind and kind != secret.kind:
            rec.notes.append(f"secret {secret.name} was of TYPE {kind}: replaced by a {secret.kind} one")
        elif secret.version is None:
            rec.notes.append(
                f"secret {secret.name} exists and no version of its value was given: kept as is "
                "(pass password_version to replace it when the password changes)"
            )
            return False
        elif str(rows[0].get("comment") or "") == secret.comment:
            return False
    rec.secret(secret)
    return True


def _grant_secret(rec: _Recorder, secret: str, role: str, replaced: bool) -> None:
    """The runtime reads secrets as its execute-as role; CREATE OR REPLACE drops earlier grants."""
    grants = [] if replaced else rec.sql.query(f"SHOW GRANTS ON SECRET {secret}")
    held = {norm_name(g.get("privilege")) for g in grants if norm_name(g.get("grantee_name")) == role}
    missing = [p for p in SECRET_GRANTS if p not in held]
    if missing:
        privileges = ", ".join(missing)
        rec.do(
            "grant",
            f"{privileges} on SECRET {secret} to {role}",
            f"GRANT {privileges} ON SECRET {secret} TO ROLE {role}",
        )


def desired_properties(
    source: SourceEndpoint, destination: DestinationInfo, secrets: ConnectorSecrets, driver_file: str
) -> dict[str, PropertyValue]:
    """gen 2 property name -> value for config.json (connectors/postgres/setup, Gen 2 parameters)."""
    logical: dict[P, PropertyValue] = {
        P.CONNECTION_URL: literal_value(source.jdbc_url()),
        P.JDBC_DRIVER: asset_value(driver_file),
        P.SOURCE_USER: literal_value(source.user),
        P.SOURCE_PASSWORD: secret_value(secrets.password.name),
        P.PUBLICATION: literal_value(source.publication),
        P.REPLICATION_SLOT: literal_value(source.slot_name),
        P.INCLUDED_TABLES: literal_value(source.table_list()),
        P.DESTINATION_DATABASE: literal_value(qualified(destination.database)),
        P.AUTH_STRATEGY: literal_value(AUTH_KEY_PAIR),
        P.ACCOUNT_IDENTIFIER: literal_value(destination.account_identifier),
        P.SNOWFLAKE_USER: literal_value(qualified(destination.user)),
        P.PRIVATE_KEY: secret_value(secrets.key.name),
        P.ROLE: literal_value(qualified(destination.role)),
        P.WAREHOUSE: literal_value(qualified(destination.warehouse)),
    }
    if DESTINATION_NAMES_CASE_SENSITIVE:
        logical[P.IDENTIFIER_RESOLUTION] = literal_value(CASE_SENSITIVE)
    return {gen2_name(k): v for k, v in logical.items()}


def show_connector(sql: Sql, full: str) -> dict[str, Any] | None:
    """The connector's SHOW row, or None when it does not exist."""
    db, schema, short = split_qualified(full, 3, "connector")
    rows = sql.query(f"SHOW OPENFLOW CONNECTORS LIKE {literal(short)} IN SCHEMA {db}.{schema}")
    return rows[0] if rows else None


def describe_connector(sql: Sql, full: str) -> dict[str, Any]:
    rows = sql.query(f"DESC OPENFLOW CONNECTOR {full}")
    if not rows:
        raise PreconditionFailed(f"Openflow connector {full} does not exist", fix="run the connector phase")
    return rows[0]


def status_of(row: Mapping[str, Any]) -> str:
    return str(row.get("status") or "").upper()


def wait_until_stable(sql: Sql, full: str, *, wait_seconds: int) -> dict[str, Any]:
    """SYSTEM$WAIT_FOR_STABLE_OPENFLOW_CONNECTORS, then DESCRIBE: the caller decides from the status.
    The wait's error (a timeout, or the connector entering a failed state) is not classified by its
    number, which Snowflake does not document; only the status read after it counts."""
    with contextlib.suppress(PreconditionFailed):  # DESC below says what happened
        sql.query(f"SELECT SYSTEM$WAIT_FOR_STABLE_OPENFLOW_CONNECTORS({int(wait_seconds)}, {literal(full)})")
    return describe_connector(sql, full)


DriverSource = Callable[[], Driver]


def ensure_connector(
    sql: Sql,
    request: ProvisionRequest,
    *,
    runtime: str,
    source: SourceEndpoint,
    destination: DestinationInfo,
    driver_file: str,
    fetch_driver: DriverSource,
    apply: bool = True,
    name: str = DEFAULT_CONNECTOR_NAME,
    store: ConnectorConfigStore | None = None,
    wait_seconds: int = 5,
) -> PhaseResult:
    """Create, configure and commit the gen 2 PostgreSQL connector; only what is missing. Starting it
    is `connector_status`'s job, once the commit has settled."""
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
    replaced = {s.name: _ensure_secret(rec, s) for s in secrets.all()}
    try:
        execute_as = _execute_as_role(sql, rt)
    except PreconditionFailed:
        if apply:
            raise
        execute_as = None  # planning before the runtime exists
    if execute_as is not None:
        for secret_name, was_replaced in replaced.items():
            _grant_secret(rec, secret_name, execute_as, was_replaced)

    values = desired_properties(source, destination, secrets, driver_file)
    outputs: dict[str, Any] = {
        "connector": full,
        "runtime": rt,
        "execute_as_role": execute_as,
        "secrets": sorted(replaced),
        "jdbc_driver": driver_file,
        "config_changed": False,
    }
    if not exists and not apply:
        rec.record("put_asset", full, f"PUT {driver_file} {stage_uri(full, LIVE)}")
        rec.record("put_config", full, f"PUT config.json {stage_uri(full, LIVE)} (all properties)")
        rec.record("commit", full, f"ALTER OPENFLOW CONNECTOR {full} COMMIT")
        return _result(rec, started, outputs)

    described = describe_connector(sql, full)
    status = status_of(described)
    if status and status not in CONNECTOR_STABLE:
        described = wait_until_stable(sql, full, wait_seconds=wait_seconds)
        status = status_of(described)
        if status not in CONNECTOR_STABLE:
            raise NotReadyYet(f"Openflow connector {full} is {status}; waiting until it is stable")
    if status in CONNECTOR_CLEARED_BY_STOP:
        rec.notes.append(f"connector {full} was {status}{describe_details(described)}; stopped to clear it")
        rec.do("stop", full, f"ALTER OPENFLOW CONNECTOR {full} STOP")
        if apply:
            described = wait_until_stable(sql, full, wait_seconds=wait_seconds)
            if status_of(described) != "STOPPED":
                raise NotReadyYet(f"Openflow connector {full} is {status_of(described)} after STOP")
    elif status in CONNECTOR_FAILED or status == "TERMINATED":
        raise PreconditionFailed(
            f"Openflow connector {full} is {status}{describe_details(described)}",
            call=f"DESC OPENFLOW CONNECTOR {full}",
            fix=f"look at the connector in the Openflow UI; drop it (DROP OPENFLOW CONNECTOR {full}) and "
            "start the workflow again to create it anew",
        )

    committed = described.get("default_version_name") or described.get("last_version_name")
    versions = sql.query(f"SHOW VERSIONS IN OPENFLOW CONNECTOR {full}")
    has_live = any(_truthy(v.get("is_live")) for v in versions)
    if not has_live and not committed:
        raise PreconditionFailed(f"Openflow connector {full} has neither a live nor a committed version")
    current = store.get(full, LIVE if has_live else str(committed))
    merged, changed = set_properties(current, values)
    must_commit = False
    if changed:
        if not has_live:
            rec.do("add_live_version", full, f"ALTER OPENFLOW CONNECTOR {full} ADD LIVE VERSION FROM LAST")
        # the jar first: the config.json that references it must never be committed without it
        if apply:
            driver = fetch_driver()
            if driver.file_name != driver_file:
                raise PreconditionFailed(f"the JDBC driver fetched is {driver.file_name}, not {driver_file}")
            store.put_asset(full, driver.file_name, driver.content)
            source_note = f"{driver.source}, SHA-256 {driver.sha256}"
        else:
            source_note = "to be fetched"
        rec.record("put_asset", full, f"PUT {driver_file} ({source_note}) {stage_uri(full, LIVE)}")
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
    outputs["status"] = "UPDATING" if must_commit and apply else (status or "STOPPED")
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


def connector_status(
    sql: Sql, name: str, *, wait_seconds: int = WAIT_SECONDS, state: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One step of the wait loop: wait until stable, START from a stable STOPPED, done once RUNNING.
    A failed status raises with DESCRIBE's reason and the fix."""
    full = qualified(*split_qualified(name, 3, "connector"))
    starts = int((state or {}).get("starts", 0))
    row = wait_until_stable(sql, full, wait_seconds=wait_seconds)
    status = status_of(row)
    started = False
    if status in CONNECTOR_CLEARED_BY_STOP:
        raise PreconditionFailed(
            f"Openflow connector {full} is {status}{describe_details(row)}",
            call=f"DESC OPENFLOW CONNECTOR {full}",
            fix="correct what the message names (a property, a secret, a grant), then start the workflow "
            "again: the connector phase STOPs the connector (the only way out of this state) and commits "
            "a corrected configuration",
        )
    if status in CONNECTOR_FAILED or status == "TERMINATED":
        raise PreconditionFailed(
            f"Openflow connector {full} is {status}{describe_details(row)}",
            call=f"DESC OPENFLOW CONNECTOR {full}",
            fix="look at the connector in the Openflow UI; drop it and start the workflow again",
        )
    if status == "STOPPED":
        if starts >= MAX_STARTS:
            raise PreconditionFailed(
                f"Openflow connector {full} went back to STOPPED after {starts} STARTs"
                + describe_details(row),
                fix="look at the connector's events in the deployment's event table and the Openflow UI",
            )
        sql.execute(f"ALTER OPENFLOW CONNECTOR {full} START")
        starts += 1
        started = True
        status = "STARTING"
    return {
        "name": full,
        "status": status,
        "done": status == "RUNNING",
        "started": started,
        "starts": starts,
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
