"""The doctor's rules, evaluated on hand-made catalog facts (no database)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openflow_autopilot.postgres.catalog import (
    DoctorFacts,
    PreparedFacts,
    ServerFacts,
    SlotFacts,
    TableFacts,
    TransactionFacts,
)
from openflow_autopilot.postgres.doctor import evaluate, human_bytes
from openflow_autopilot.postgres.models import Finding
from openflow_autopilot.postgres.names import TableName

SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "max_slot_wal_keep_size": "10240",
    "password_encryption": "scram-sha-256",
}


def server(**changes: Any) -> ServerFacts:
    base = ServerFacts(
        version="15.4",
        version_num=150004,
        in_recovery=False,
        is_rds=False,
        database="app",
        user="admin",
        settings=dict(SETTINGS),
        slots_used=0,
        wal_senders_used=0,
    )
    return replace(base, **changes)


def table(name: str = "orders", **changes: Any) -> TableFacts:
    base = TableFacts(
        requested=TableName("public", name),
        found=True,
        qualified=f"public.{name}",
        relkind="r",
        has_primary_key=True,
    )
    return replace(base, **changes)


def facts(**changes: Any) -> DoctorFacts:
    base = DoctorFacts(server=server(), slots=(), long_transactions=(), prepared=(), tables=(table(),))
    return replace(base, **changes)


def ids(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.id, f.severity) for f in findings]


def only(findings: list[Finding], id_: str) -> Finding:
    matching = [f for f in findings if f.id == id_]
    assert len(matching) == 1, findings
    return matching[0]


def test_a_healthy_source_has_no_findings() -> None:
    assert evaluate(facts()) == []


def test_versions_outside_11_to_18_are_blocking() -> None:
    for version_num in (100021, 190000):
        found = evaluate(facts(server=server(version_num=version_num)))
        assert ("server_version_unsupported", "blocking") in ids(found)
    assert evaluate(facts(server=server(version_num=110000))) == []
    assert evaluate(facts(server=server(version_num=180001))) == []


def test_a_standby_is_blocking() -> None:
    assert ids(evaluate(facts(server=server(in_recovery=True)))) == [("server_is_standby", "blocking")]


def test_wal_level_replica_on_plain_postgresql_is_blocking_with_alter_system_and_a_restart() -> None:
    found = only(
        evaluate(facts(server=server(settings={**SETTINGS, "wal_level": "replica"}))), "wal_level_not_logical"
    )
    assert found.severity == "blocking"
    assert "ALTER SYSTEM SET wal_level = logical" in found.fix
    assert "restart" in found.fix


def test_on_rds_logical_replication_off_is_blocking_with_the_parameter_group_fix() -> None:
    rds = server(is_rds=True, settings={**SETTINGS, "wal_level": "replica", "rds.logical_replication": "off"})
    found = only(evaluate(facts(server=rds)), "rds_logical_replication_off")
    assert "ParameterName=rds.logical_replication,ParameterValue=1,ApplyMethod=pending-reboot" in found.fix
    assert "reboot-db-instance" in found.fix


def test_on_rds_the_flag_on_but_wal_level_not_logical_means_a_reboot_is_pending() -> None:
    rds = server(is_rds=True, settings={**SETTINGS, "wal_level": "replica", "rds.logical_replication": "on"})
    assert ids(evaluate(facts(server=rds))) == [("reboot_pending", "blocking")]


def test_rds_with_logical_replication_on_is_healthy() -> None:
    rds = server(is_rds=True, settings={**SETTINGS, "rds.logical_replication": "on"})
    assert evaluate(facts(server=rds)) == []


def test_no_free_replication_slot_is_blocking_unless_the_connectors_slot_already_exists() -> None:
    full = facts(
        server=server(slots_used=10),
        slots=(SlotFacts("openflow_slot", "pgoutput", "logical", "app", True, False, 1024, "reserved"),),
    )
    assert ("no_free_replication_slot", "blocking") in ids(evaluate(full))
    assert ("no_free_replication_slot", "blocking") not in ids(evaluate(full, connector_slot="openflow_slot"))


def test_fewer_than_two_free_wal_senders_is_blocking() -> None:
    found = evaluate(facts(server=server(wal_senders_used=9)))
    assert ids(found) == [("not_enough_wal_senders", "blocking")]
    assert evaluate(facts(server=server(wal_senders_used=8))) == []


def test_unlimited_max_slot_wal_keep_size_is_a_warning_with_a_reload_fix() -> None:
    found = only(
        evaluate(facts(server=server(settings={**SETTINGS, "max_slot_wal_keep_size": "-1"}))),
        "max_slot_wal_keep_size_unlimited",
    )
    assert found.severity == "warning"
    assert "pg_reload_conf()" in found.fix


def test_an_inactive_slot_is_reported_with_the_wal_it_retains() -> None:
    slot = SlotFacts("old_slot", "pgoutput", "logical", "app", False, False, 3 * 2**30, "extended")
    found = only(evaluate(facts(slots=(slot,))), "inactive_replication_slot")
    assert found.severity == "warning"
    assert "3.0 GiB" in found.evidence
    assert "pg_drop_replication_slot('old_slot')" in found.fix


def test_active_and_temporary_slots_are_not_reported_but_a_lost_one_is() -> None:
    active = SlotFacts("a", "pgoutput", "logical", "app", True, False, 10, "reserved")
    temporary = SlotFacts("t", "pgoutput", "logical", "app", False, True, 10, "reserved")
    lost = SlotFacts("l", "pgoutput", "logical", "app", False, False, None, "lost")
    assert ids(evaluate(facts(slots=(active, temporary, lost)))) == [("replication_slot_lost", "warning")]


def test_long_running_transactions_are_a_warning_naming_the_pids() -> None:
    tx = TransactionFacts(4242, "etl", "app", "loader", "idle in transaction", 3600.0, True)
    found = only(evaluate(facts(long_transactions=(tx,))), "long_running_transactions")
    assert found.severity == "warning"
    assert "pid 4242" in found.evidence and "holds an xid" in found.evidence


def test_a_stale_prepared_transaction_blocks_and_a_fresh_one_warns() -> None:
    fresh = PreparedFacts("tx-1", "app", "app", 5.0)
    stale = PreparedFacts("tx-2", "app", "app", 7200.0)
    assert ids(evaluate(facts(prepared=(fresh,)))) == [("prepared_transactions", "warning")]
    found = only(evaluate(facts(prepared=(fresh, stale))), "prepared_transactions")
    assert found.severity == "blocking"
    assert "ROLLBACK PREPARED" in found.fix


def test_a_missing_table_is_blocking() -> None:
    missing = TableFacts(requested=TableName("public", "nope"), found=False)
    assert ids(evaluate(facts(tables=(missing,)))) == [("table_not_found", "blocking")]


def test_views_and_unlogged_tables_are_blocking() -> None:
    view = table("v", relkind="v")
    unlogged = table("u", persistence="u")
    found = evaluate(facts(tables=(view, unlogged)))
    assert ids(found) == [("not_a_table", "blocking"), ("table_not_logged", "blocking")]
    assert "a view" in found[0].evidence
    assert found[1].fix == "ALTER TABLE public.u SET LOGGED;"


def test_a_table_without_a_primary_key_but_with_a_usable_unique_index_gets_the_exact_fix() -> None:
    no_pk = table("events", has_primary_key=False, candidate_index="events_uuid_key")
    found = only(evaluate(facts(tables=(no_pk,))), "table_without_primary_key")
    assert found.severity == "blocking"
    assert found.fix == "ALTER TABLE public.events REPLICA IDENTITY USING INDEX events_uuid_key;"


def test_a_table_without_any_key_gets_a_primary_key_fix() -> None:
    no_pk = table("events", has_primary_key=False)
    found = only(evaluate(facts(tables=(no_pk,))), "table_without_primary_key")
    assert "ALTER TABLE public.events ADD PRIMARY KEY" in found.fix
    assert "GENERATED ALWAYS AS IDENTITY PRIMARY KEY" in found.fix


def test_replica_identity_nothing_is_blocking_and_full_with_a_key_is_blocking_too() -> None:
    """A table with a primary key must have REPLICA IDENTITY DEFAULT (connectors/postgres/setup)."""
    nothing = table("a", replica_identity="n")
    full = table("b", replica_identity="f")
    found = evaluate(facts(tables=(nothing, full)))
    assert ids(found) == [("replica_identity_nothing", "blocking"), ("replica_identity_full", "blocking")]
    assert found[0].fix == "ALTER TABLE public.a REPLICA IDENTITY DEFAULT;"
    assert found[1].fix == "ALTER TABLE public.b REPLICA IDENTITY DEFAULT;"
    assert "REPLICA IDENTITY DEFAULT on a table with a primary key" in found[1].evidence


def test_full_with_a_key_is_fixed_with_the_tables_quoted_name() -> None:
    full = table("Orders", replica_identity="f", qualified='sales."Orders"')
    found = only(evaluate(facts(tables=(full,))), "replica_identity_full")
    assert found.severity == "blocking"
    assert found.fix == 'ALTER TABLE sales."Orders" REPLICA IDENTITY DEFAULT;'


def test_replica_identity_full_without_a_key_is_blocking() -> None:
    full = table("b", replica_identity="f", has_primary_key=False)
    found = only(evaluate(facts(tables=(full,))), "table_without_primary_key")
    assert "REPLICA IDENTITY FULL" in found.evidence
    assert found.fix.endswith("ALTER TABLE public.b REPLICA IDENTITY DEFAULT;")


def test_a_replica_identity_index_that_was_dropped_is_blocking() -> None:
    gone = table("c", replica_identity="i", identity_index=None)
    assert ids(evaluate(facts(tables=(gone,)))) == [("replica_identity_index_missing", "blocking")]
    kept = table("c", replica_identity="i", identity_index="c_key", has_primary_key=False)
    assert evaluate(facts(tables=(kept,))) == []


def test_partitioned_tables_need_postgresql_13_and_partitions_are_pointed_to_their_root() -> None:
    parent = table("measurements", relkind="p")
    part = table("measurements_2026", is_partition=True, partition_root="public.measurements")
    assert evaluate(facts(tables=(parent,))) == []
    old = evaluate(facts(server=server(version_num=120010), tables=(parent,)))
    assert ids(old) == [("partitioned_table_unsupported", "blocking")]
    found = only(evaluate(facts(tables=(part,))), "table_is_partition")
    assert found.fix == "request public.measurements instead of its partitions"


def test_partitions_whose_replica_identity_was_changed_are_listed_with_their_fix() -> None:
    parent = table("m", relkind="p", bad_partitions=("public.m_1",))
    found = only(evaluate(facts(tables=(parent,))), "partitions_without_replica_identity")
    assert found.fix == "ALTER TABLE public.m_1 REPLICA IDENTITY DEFAULT;"


def test_blocking_findings_come_first() -> None:
    slot = SlotFacts("old", "pgoutput", "logical", "app", False, False, 0, "reserved")
    found = evaluate(facts(slots=(slot,), tables=(table("x", has_primary_key=False),)))
    assert [f.severity for f in found] == ["blocking", "warning"]


def test_sizes_are_shown_in_binary_units() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(5 * 2**40) == "5.0 TiB"
