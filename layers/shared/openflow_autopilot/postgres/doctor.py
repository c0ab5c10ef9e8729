"""Pre-flight doctor: read-only checks of a PostgreSQL source, in the spirit of AWS DMS's
premigration assessment. `evaluate` is pure (facts in, findings out); `run_doctor` reads the
facts with a fixed handful of queries and evaluates them.
"""

from __future__ import annotations

from collections.abc import Sequence

from openflow_autopilot.postgres.catalog import DoctorFacts, ServerFacts, TableFacts, read_doctor_facts
from openflow_autopilot.postgres.connection import Connection
from openflow_autopilot.postgres.models import DoctorReport, Finding, ServerSummary
from openflow_autopilot.postgres.names import TableName, as_table_names, check_slot_name

MIN_VERSION_NUM = 110000  # the connector supports PostgreSQL 11-18
MAX_VERSION_NUM = 189999
SLOTS_PER_CONNECTOR = 1
WAL_SENDERS_PER_CONNECTOR = 2
_RELKIND = {
    "v": "a view",
    "m": "a materialized view",
    "f": "a foreign table",
    "S": "a sequence",
    "i": "an index",
    "I": "a partitioned index",
    "c": "a composite type",
    "t": "a TOAST table",
}


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _setting_fix(server: ServerFacts, setting: str, value: str, *, restart: bool = True) -> str:
    """How to change a server setting: RDS parameter group, or ALTER SYSTEM + restart/reload."""
    if server.is_rds:
        apply = "pending-reboot" if restart else "immediate"
        then = "; then reboot the instance (aws rds reboot-db-instance --db-instance-identifier <instance>)"
        return (
            f"set {setting} = {value} in the instance's custom DB parameter group (aws rds "
            f"modify-db-parameter-group --db-parameter-group-name <group> --parameters "
            f"ParameterName={setting},ParameterValue={value},ApplyMethod={apply}){then if restart else ''}"
        )
    if restart:
        return f"ALTER SYSTEM SET {setting} = {value}; then restart PostgreSQL (a reload is not enough)"
    return f"ALTER SYSTEM SET {setting} = {value}; SELECT pg_reload_conf();"


def _blocking(id_: str, subject: str, evidence: str, fix: str) -> Finding:
    return Finding(id=id_, severity="blocking", subject=subject, evidence=evidence, fix=fix)


def _warning(id_: str, subject: str, evidence: str, fix: str) -> Finding:
    return Finding(id=id_, severity="warning", subject=subject, evidence=evidence, fix=fix)


def _server_findings(facts: DoctorFacts, connector_slot: str | None) -> list[Finding]:
    s = facts.server
    out: list[Finding] = []
    if not MIN_VERSION_NUM <= s.version_num <= MAX_VERSION_NUM:
        out.append(
            _blocking(
                "server_version_unsupported",
                "server_version",
                f"PostgreSQL {s.version} (server_version_num {s.version_num})",
                "the Openflow PostgreSQL connector supports PostgreSQL 11 to 18: upgrade the server",
            )
        )
    if s.in_recovery:
        out.append(
            _blocking(
                "server_is_standby",
                "pg_is_in_recovery()",
                "the server is a standby (read replica): publications and users cannot be created on it",
                "point the DSN at the primary (writer) instance",
            )
        )
    wal_level = s.settings.get("wal_level", "?")
    rds_flag = s.settings.get("rds.logical_replication")
    if s.is_rds and rds_flag not in ("on", "1"):
        out.append(
            _blocking(
                "rds_logical_replication_off",
                "rds.logical_replication",
                f"rds.logical_replication = {rds_flag or 'not set'}, wal_level = {wal_level}",
                _setting_fix(s, "rds.logical_replication", "1"),
            )
        )
    elif wal_level != "logical" and s.is_rds:
        out.append(
            _blocking(
                "reboot_pending",
                "wal_level",
                f"wal_level = {wal_level} although rds.logical_replication is on: not rebooted since",
                "reboot the instance (aws rds reboot-db-instance --db-instance-identifier <instance>)",
            )
        )
    elif wal_level != "logical":
        out.append(
            _blocking(
                "wal_level_not_logical",
                "wal_level",
                f"wal_level = {wal_level}",
                _setting_fix(s, "wal_level", "logical"),
            )
        )

    own_slot = connector_slot is not None and any(slot.name == connector_slot for slot in facts.slots)
    max_slots = s.setting_int("max_replication_slots") or 0
    if not own_slot and max_slots - s.slots_used < SLOTS_PER_CONNECTOR:
        out.append(
            _blocking(
                "no_free_replication_slot",
                "max_replication_slots",
                f"{s.slots_used} of max_replication_slots = {max_slots} slots exist; the connector needs one",
                "drop unused slots (SELECT pg_drop_replication_slot('<name>');) or "
                + _setting_fix(s, "max_replication_slots", str(s.slots_used + SLOTS_PER_CONNECTOR + 1)),
            )
        )
    max_senders = s.setting_int("max_wal_senders") or 0
    if not own_slot and max_senders - s.wal_senders_used < WAL_SENDERS_PER_CONNECTOR:
        out.append(
            _blocking(
                "not_enough_wal_senders",
                "max_wal_senders",
                f"{s.wal_senders_used} of max_wal_senders = {max_senders} WAL senders are in use; "
                f"the connector needs {WAL_SENDERS_PER_CONNECTOR}",
                _setting_fix(s, "max_wal_senders", str(s.wal_senders_used + WAL_SENDERS_PER_CONNECTOR + 2)),
            )
        )
    if s.setting_int("max_slot_wal_keep_size") == -1:
        out.append(
            _warning(
                "max_slot_wal_keep_size_unlimited",
                "max_slot_wal_keep_size",
                "max_slot_wal_keep_size = -1: a stopped connector's slot keeps WAL until the disk is full",
                "keep the connector running or watched (the WAL guard checks before every scheduled stop), "
                "or cap retained WAL (a slot over the cap is invalidated and the connector re-snapshots): "
                + _setting_fix(s, "max_slot_wal_keep_size", "<MB for 72 h of peak WAL>", restart=False),
            )
        )
    return out


def _activity_findings(facts: DoctorFacts, long_transaction_seconds: float) -> list[Finding]:
    out: list[Finding] = []
    if facts.long_transactions:
        listed = "; ".join(
            f"pid {t.pid} ({t.user or '?'}@{t.database or '?'}, {t.application or 'no application_name'}, "
            f"{t.state or '?'}, open {t.age_seconds / 60:.0f} min{', holds an xid' if t.has_xid else ''})"
            for t in facts.long_transactions
        )
        out.append(
            _warning(
                "long_running_transactions",
                "pg_stat_activity",
                f"transactions open longer than {long_transaction_seconds:.0f} s: {listed}",
                "creating the connector's replication slot waits until these finish: end them "
                "(SELECT pg_terminate_backend(<pid>);) or wait",
            )
        )
    if facts.prepared:
        stale = any(p.age_seconds >= long_transaction_seconds for p in facts.prepared)
        listed = "; ".join(
            f"{p.gid!r} by {p.owner} in {p.database}, {p.age_seconds / 60:.0f} min old"
            for p in facts.prepared
        )
        out.append(
            (_blocking if stale else _warning)(
                "prepared_transactions",
                "pg_prepared_xacts",
                f"prepared (two-phase) transactions: {listed}",
                "slot creation waits for them and they never end by themselves: "
                "COMMIT PREPARED '<gid>'; or ROLLBACK PREPARED '<gid>';",
            )
        )
    for slot in facts.slots:
        drop = f"SELECT pg_drop_replication_slot('{slot.name}');"  # slot names are [a-z0-9_]
        if slot.wal_status == "lost":
            out.append(
                _warning(
                    "replication_slot_lost",
                    slot.name,
                    f"slot {slot.name} was invalidated (wal_status = lost): its consumer must re-snapshot",
                    f"if nothing uses it: {drop}",
                )
            )
        elif not slot.active and not slot.temporary:
            retained = (
                "an unknown amount" if slot.retained_bytes is None else human_bytes(slot.retained_bytes)
            )
            out.append(
                _warning(
                    "inactive_replication_slot",
                    slot.name,
                    f"{slot.slot_type} slot {slot.name} ({slot.plugin or 'physical'}, database "
                    f"{slot.database or '-'}) is inactive and retains {retained} of WAL",
                    f"start its consumer, or if nothing uses it: {drop}",
                )
            )
    return out


def _key_fix(t: TableFacts) -> str:
    if t.candidate_index:
        return f"ALTER TABLE {t.qualified} REPLICA IDENTITY USING INDEX {t.candidate_index};"
    return (
        f"ALTER TABLE {t.qualified} ADD PRIMARY KEY (<unique, not-null columns>); or, with no natural key, "
        f"ALTER TABLE {t.qualified} ADD COLUMN openflow_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY; "
        "(rewrites the table)"
    )


def _table_findings(t: TableFacts, server: ServerFacts) -> list[Finding]:
    name, q = str(t.requested), t.qualified
    if not t.found:
        return [
            _blocking(
                "table_not_found",
                name,
                f"no table {name} in database {server.database} (quoted names are case-sensitive)",
                'check the spelling and schema; mixed-case names must be quoted, e.g. "Sales"."Orders"',
            )
        ]
    if t.relkind not in ("r", "p"):
        kind = _RELKIND.get(t.relkind, f"relkind {t.relkind!r}")
        return [
            _blocking(
                "not_a_table",
                name,
                f"{q} is {kind}; only tables replicate",
                "replicate the underlying table(s) instead",
            )
        ]
    if t.persistence != "p":
        unlogged = t.persistence == "u"
        return [
            _blocking(
                "table_not_logged",
                name,
                f"{q} is {'unlogged' if unlogged else 'temporary'}: its changes are not written to WAL",
                f"ALTER TABLE {q} SET LOGGED;" if unlogged else "use a permanent table",
            )
        ]
    out: list[Finding] = []
    if t.relkind == "p" and server.version_num < 130000:
        out.append(
            _blocking(
                "partitioned_table_unsupported",
                name,
                f"{q} is partitioned; PostgreSQL {server.version} cannot publish partitioned tables",
                "upgrade to PostgreSQL 13+ (publish_via_partition_root), or request the partitions",
            )
        )
    if t.is_partition:
        out.append(
            _warning(
                "table_is_partition",
                name,
                f"{q} is a partition of {t.partition_root}; with publish_via_partition_root its changes "
                "are published as the root table",
                f"request {t.partition_root} instead of its partitions",
            )
        )
    ident = t.replica_identity
    to_default = f"ALTER TABLE {q} REPLICA IDENTITY DEFAULT;"
    if ident == "n":
        out.append(
            _blocking(
                "replica_identity_nothing",
                name,
                f"{q} has REPLICA IDENTITY NOTHING: updates and deletes cannot be replicated",
                to_default if t.has_primary_key else _key_fix(t),
            )
        )
    elif ident == "i" and not t.identity_index:
        out.append(
            _blocking(
                "replica_identity_index_missing",
                name,
                f"{q} has REPLICA IDENTITY USING INDEX but that index no longer exists",
                to_default if t.has_primary_key else _key_fix(t),
            )
        )
    elif not t.has_primary_key and ident in ("d", "f"):
        full = ident == "f"
        out.append(
            _blocking(
                "table_without_primary_key",
                name,
                f"{q} has no primary key{' and REPLICA IDENTITY FULL' if full else ''}: "
                "the connector needs a key to apply updates and deletes",
                _key_fix(t) + (f" then {to_default}" if full and not t.candidate_index else ""),
            )
        )
    elif ident == "f":
        # A table with a primary key must have REPLICA IDENTITY DEFAULT
        # (docs.snowflake.com/en/user-guide/data-integration/openflow/connectors/postgres/setup)
        out.append(
            _blocking(
                "replica_identity_full",
                name,
                f"{q} has a primary key and REPLICA IDENTITY FULL; the Openflow PostgreSQL connector "
                "needs REPLICA IDENTITY DEFAULT on a table with a primary key",
                to_default,
            )
        )
    if t.bad_partitions and t.has_primary_key:  # without a root key the finding above covers them
        more = len(t.bad_partitions) - 10
        shown = ", ".join(t.bad_partitions[:10]) + (f" (+{more} more)" if more > 0 else "")
        out.append(
            _blocking(
                "partitions_without_replica_identity",
                name,
                f"partitions of {q} whose replica identity is not the primary key: {shown}",
                " ".join(f"ALTER TABLE {p} REPLICA IDENTITY DEFAULT;" for p in t.bad_partitions),
            )
        )
    return out


def evaluate(
    facts: DoctorFacts, *, connector_slot: str | None = None, long_transaction_seconds: float = 300
) -> list[Finding]:
    """All findings for the facts, blocking ones first (stable order otherwise)."""
    findings = _server_findings(facts, connector_slot)
    findings += _activity_findings(facts, long_transaction_seconds)
    for table in facts.tables:
        findings += _table_findings(table, facts.server)
    return sorted(findings, key=lambda f: f.severity != "blocking")


def summarize(server: ServerFacts) -> ServerSummary:
    return ServerSummary(
        version=server.version,
        version_num=server.version_num,
        is_rds=server.is_rds,
        in_recovery=server.in_recovery,
        database=server.database,
        user=server.user,
        wal_level=server.settings.get("wal_level", "?"),
        rds_logical_replication=server.settings.get("rds.logical_replication"),
        max_replication_slots=server.setting_int("max_replication_slots") or 0,
        replication_slots_used=server.slots_used,
        max_wal_senders=server.setting_int("max_wal_senders") or 0,
        wal_senders_used=server.wal_senders_used,
        max_slot_wal_keep_size_mb=server.setting_int("max_slot_wal_keep_size"),
    )


def run_doctor(
    conn: Connection,
    tables: Sequence[TableName | str] | str,
    *,
    connector_slot: str | None = None,
    long_transaction_seconds: float = 300,
) -> DoctorReport:
    """Check the source read-only. `connector_slot`: the connector's slot, if it may already exist
    (then no extra slot or WAL senders are needed for it)."""
    parsed = as_table_names(tables)
    if connector_slot is not None:
        check_slot_name(connector_slot, "connector_slot")
    facts = read_doctor_facts(conn, parsed, long_transaction_seconds=long_transaction_seconds)
    findings = evaluate(
        facts, connector_slot=connector_slot, long_transaction_seconds=long_transaction_seconds
    )
    return DoctorReport(server=summarize(facts.server), tables=[str(t) for t in parsed], findings=findings)
