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

Gen 1 connectors are configured on the NiFi canvas (connector_gen1.py). The connector's Snowflake
secrets and their grants are in connector_secrets.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.results import PhaseResult, utcnow
from openflow_autopilot.errors import NotReadyYet, PreconditionFailed
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
    gen2_name,
)
from openflow_autopilot.openflow.endpoints import DestinationInfo, SourceEndpoint
from openflow_autopilot.openflow.jdbc_driver import Driver
from openflow_autopilot.openflow.names import DEFAULT_CONNECTOR_NAME, connector_name
from openflow_autopilot.openflow.statuses import (
    CONNECTOR_CLEARED_BY_STOP,
    CONNECTOR_FAILED,
    CONNECTOR_STABLE,
    describe_details,
)
from openflow_autopilot.phases.connector_secrets import (
    COMMENT,
    ConnectorSecrets,
    SecretRecorder,
    _ensure_secret,
    _execute_as_role,
    _grant_secret,
    _secrets,
)
from openflow_autopilot.phases.service_key import read_service_key
from openflow_autopilot.snowflake.identifiers import literal, qualified, split_qualified
from openflow_autopilot.snowflake.session import Sql

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

WAIT_SECONDS = 20
MAX_STARTS = 2  # START issued from a stable STOPPED this many times without reaching RUNNING: give up


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
    rec = SecretRecorder(sql, apply)
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
        return rec.result("Connector", started, outputs)

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
    return rec.result("Connector", started, outputs)


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "y", "yes", "1")


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
