"""The source-database steps against a real local PostgreSQL (LocalPostgres), not mocks.

One server for the module; each test gets its own database, and roles get per-test names
(roles are cluster-wide), so tests stay independent.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from openflow_autopilot.config import parse_request
from openflow_autopilot.errors import InvalidRequest, PermissionDenied, PreconditionFailed
from openflow_autopilot.phases.source import preflight
from openflow_autopilot.postgres.connection import Connection, connect, with_credentials
from openflow_autopilot.postgres.doctor import run_doctor
from openflow_autopilot.postgres.names import TableName
from openflow_autopilot.postgres.prepare import prepare_source
from openflow_autopilot.postgres.proof import insert_row, prove_replication
from openflow_autopilot.postgres.source_admin import SourceAdmin
from openflow_autopilot.postgres.wal_guard import check_wal
from openflow_autopilot_cli import source as cli_source
from openflow_sandbox.postgres import LocalPostgres, free_port

pytestmark = pytest.mark.sandbox

SAMPLE_DATA = """
CREATE TABLE sample_data (
    id SERIAL PRIMARY KEY,
    content TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO sample_data (content) VALUES ('aaa'), ('bbb');
"""
_counter = itertools.count(1)


@dataclass
class Db:
    name: str
    dsn: str
    conn: Connection
    user: str  # a connector role name unique to this test
    password: str = "correct-horse-battery-staple"

    def connector(self, password: str | None = None) -> Connection:
        return connect(with_credentials(self.dsn, self.user, password or self.password))

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(query, params or None).fetchall()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalPostgres]:
    with LocalPostgres() as pg:
        yield pg


@pytest.fixture
def db(server: LocalPostgres) -> Iterator[Db]:
    n = next(_counter)
    name = f"source_test_{n}"
    dsn = server.create_database(name)
    with connect(dsn) as conn:
        yield Db(name=name, dsn=dsn, conn=conn, user=f"openflow_user_{n}")
    server.drop_database(name)


def publication_tables(db: Db, publication: str) -> set[tuple[str, str]]:
    rows = db.rows(
        "SELECT n.nspname, c.relname FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid "
        "JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE p.pubname = %s",
        publication,
    )
    return {(r[0], r[1]) for r in rows}


def catalog_snapshot(db: Db) -> dict[str, Any]:
    return {
        "relations": db.rows(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2"
        ),
        "publications": db.rows("SELECT pubname FROM pg_publication ORDER BY 1"),
        "roles": db.rows("SELECT rolname, rolreplication FROM pg_roles ORDER BY 1"),
        "grants": db.rows("SELECT relname, relacl::text FROM pg_class WHERE relacl IS NOT NULL ORDER BY 1"),
        "rows": db.rows("SELECT count(*) FROM sample_data"),
    }


# --- the seed's table end to end ---------------------------------------------------------------
def test_the_seed_sample_table_is_published_granted_and_seen_by_the_connector_role_through_pgoutput(
    db: Db,
) -> None:
    db.conn.execute(SAMPLE_DATA)
    result = prepare_source(
        db.conn, tables="sample_data", publication="openflow_pub", user=db.user, password=db.password
    )
    assert result.changed
    assert result.added_tables == ["public.sample_data"]
    assert publication_tables(db, "openflow_pub") == {("public", "sample_data")}
    assert db.rows("SELECT pubviaroot, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication") == [
        (True, True, True, True, True)
    ]
    assert db.rows("SELECT rolreplication, rolcanlogin FROM pg_roles WHERE rolname = %s", db.user) == [
        (True, True)
    ]
    assert db.rows(
        "SELECT has_schema_privilege(%s, 'public', 'USAGE'), "
        "has_table_privilege(%s, 'sample_data', 'SELECT')",
        db.user,
        db.user,
    ) == [(True, True)]
    assert db.password not in json.dumps(result.model_dump())

    with db.connector() as connector:  # logs in with the password (scram-sha-256), so it was set
        assert connector.execute("SELECT count(*) FROM sample_data").fetchone() == (2,)
        proof = prove_replication(
            db.conn,
            connector,
            publication="openflow_pub",
            change=insert_row(TableName("public", "sample_data"), {"content": "ccc"}),
        )
    assert proof.ok, proof.message
    assert proof.seen == ["INSERT public.sample_data"]
    assert db.rows("SELECT count(*) FROM pg_replication_slots") == [(0,)]


def test_a_run_waiting_behind_another_gives_up_retryably_and_changes_nothing(
    db: Db, server: LocalPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another prepare holds the lock (or its client vanished mid-transaction): this run waits
    LOCK_WAIT, then fails with a retryable error; the state machine retries it later."""
    from openflow_autopilot.errors import PostgresRetryableError
    from openflow_autopilot.postgres import prepare

    monkeypatch.setattr(prepare, "LOCK_WAIT", "300ms")
    db.conn.execute(SAMPLE_DATA)
    with psycopg.connect(db.conn.info.dsn, password=db.conn.info.password) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", [prepare._LOCK_KEY])  # held until rollback
        with pytest.raises(PostgresRetryableError) as caught:
            prepare_source(
                db.conn, tables="sample_data", publication="openflow_pub", user=db.user, password=db.password
            )
        other.rollback()
    assert "another run's lock" in caught.value.message
    assert db.rows("SELECT count(*) FROM pg_publication") == [(0,)]


def test_a_second_run_takes_no_action(db: Db) -> None:
    db.conn.execute(SAMPLE_DATA)
    kwargs: dict[str, Any] = {"tables": "sample_data", "publication": "openflow_pub", "user": db.user}
    prepare_source(db.conn, password=db.password, **kwargs)
    before = catalog_snapshot(db)
    again = prepare_source(db.conn, password=db.password, **kwargs)
    assert again.actions == [] and not again.changed
    assert catalog_snapshot(db) == before


def test_adding_a_table_adds_just_that_table_and_dropping_one_removes_just_that_one(db: Db) -> None:
    db.conn.execute(
        SAMPLE_DATA + "CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE items (id int PRIMARY KEY);"
    )
    kwargs: dict[str, Any] = {"publication": "openflow_pub", "user": db.user, "password": db.password}
    prepare_source(db.conn, tables="sample_data,orders", **kwargs)

    added = prepare_source(db.conn, tables="sample_data,orders,items", **kwargs)
    assert added.added_tables == ["public.items"] and added.removed_tables == []
    assert added.actions == [
        "add 1 table(s) to publication openflow_pub: public.items",
        f"grant SELECT on 1 table(s) to {db.user}: public.items",
    ]
    # a publication is never narrowed unless asked: the table nobody requests any more stays
    kept = prepare_source(db.conn, tables="sample_data,items", **kwargs)
    assert kept.actions == [] and kept.kept_tables == ["public.orders"]
    assert ("public", "orders") in publication_tables(db, "openflow_pub")
    removed = prepare_source(db.conn, tables="sample_data,items", exact=True, **kwargs)
    assert removed.actions == ["remove 1 table(s) from publication openflow_pub: public.orders"]
    assert publication_tables(db, "openflow_pub") == {("public", "sample_data"), ("public", "items")}


def test_a_plan_lists_the_actions_and_changes_nothing(db: Db) -> None:
    db.conn.execute(SAMPLE_DATA)
    before = catalog_snapshot(db)
    plan = prepare_source(
        db.conn, tables="sample_data", publication="openflow_pub", user=db.user, plan_only=True
    )
    assert plan.planned and len(plan.actions) == 7 and not plan.changed
    assert f"mark role {db.user} as created by openflow-autopilot" in plan.actions
    assert catalog_snapshot(db) == before


def test_an_existing_publication_is_brought_to_exactly_the_requested_tables_and_options(db: Db) -> None:
    db.conn.execute(
        SAMPLE_DATA + "CREATE TABLE stray (id int PRIMARY KEY);"
        "CREATE PUBLICATION openflow_pub FOR TABLE stray, sample_data WHERE (id > 1) "
        "WITH (publish = 'insert');"
    )
    kwargs: dict[str, Any] = {"tables": "sample_data", "publication": "openflow_pub", "user": db.user}
    shared = prepare_source(db.conn, password="pw-1", plan_only=True, **kwargs)
    assert shared.kept_tables == ["public.stray"] and not any("remove" in a for a in shared.actions)
    result = prepare_source(db.conn, password="pw-1", exact=True, **kwargs)
    assert publication_tables(db, "openflow_pub") == {("public", "sample_data")}
    assert db.rows("SELECT pubupdate, pubdelete, pubtruncate, pubviaroot FROM pg_publication") == [
        (True, True, True, True)
    ]
    assert db.rows("SELECT prqual IS NULL FROM pg_publication_rel") == [(True,)]
    assert "remove 1 table(s) from publication openflow_pub: public.stray" in result.actions


# --- doctor findings -----------------------------------------------------------------------------
def test_a_table_without_a_primary_key_is_blocking_with_a_fix_that_works_and_nothing_is_changed(
    db: Db,
) -> None:
    db.conn.execute(SAMPLE_DATA + "CREATE TABLE events (uuid uuid NOT NULL, body text); "
                    "CREATE UNIQUE INDEX events_uuid_key ON events (uuid);")  # fmt: skip
    before = catalog_snapshot(db)
    report = run_doctor(db.conn, "sample_data, events")
    blocking = [f for f in report.findings if f.severity == "blocking"]
    assert [(f.id, f.subject) for f in blocking] == [("table_without_primary_key", "public.events")]
    assert blocking[0].fix == "ALTER TABLE public.events REPLICA IDENTITY USING INDEX events_uuid_key;"
    with pytest.raises(PreconditionFailed, match="table_without_primary_key"):
        prepare_source(db.conn, tables="sample_data,events", publication="p", user=db.user, password="x")
    assert catalog_snapshot(db) == before

    db.conn.execute(blocking[0].fix)
    assert run_doctor(db.conn, "sample_data, events").ok


def test_a_table_with_a_primary_key_and_replica_identity_full_blocks_source_preflight_with_the_fix(
    db: Db, server: LocalPostgres
) -> None:
    """connectors/postgres/setup: a table with a primary key must have REPLICA IDENTITY DEFAULT.
    SourcePreflight stops on FULL with the exact fix, and source prepare changes nothing."""
    db.conn.execute(SAMPLE_DATA + 'CREATE SCHEMA sales; CREATE TABLE sales."Orders" (id int PRIMARY KEY); '
                    'ALTER TABLE sales."Orders" REPLICA IDENTITY FULL;')  # fmt: skip
    request = parse_request(
        {
            "name": "full-identity",
            "snowflake": {
                "account": "MYORG-MYACCOUNT",
                "admin_user": "JDOE",
                "credentials_secret_arn": (
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/login-AbCdEf"
                ),
            },
            "openflow": {"deployment_name": "SALES_CDC_DEPLOYMENT"},
            "aws": {"region": "us-east-1"},
            "source": {
                "host": server.host,
                "port": server.port,
                "database": db.name,
                "master_secret_arn": (
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/pg-AbCdEf"
                ),
                "tables": ["public.sample_data", 'sales."Orders"'],
            },
        }
    )
    admin = SourceAdmin(host=server.host, port=server.port, database=db.name, user="postgres", password="")
    with pytest.raises(PreconditionFailed) as caught:
        preflight(request, admin)
    assert 'replica_identity_full (sales."Orders")' in caught.value.message
    assert caught.value.fix == 'ALTER TABLE sales."Orders" REPLICA IDENTITY DEFAULT;'

    # source prepare refuses too and leaves the table's replica identity as it was
    with pytest.raises(PreconditionFailed, match="replica_identity_full"):
        prepare_source(
            db.conn, tables='sample_data,sales."Orders"', publication="p", user=db.user, password="x"
        )
    assert db.rows("SELECT relreplident::text FROM pg_class WHERE relname = 'Orders'") == [("f",)]
    assert db.rows("SELECT count(*) FROM pg_publication") == [(0,)]

    db.conn.execute(caught.value.fix or "")
    assert preflight(request, admin).status == "unchanged"


def test_the_doctor_reports_an_inactive_slot_with_its_retained_wal_and_the_wal_guard_measures_it(
    db: Db,
) -> None:
    db.conn.execute(SAMPLE_DATA)
    slot = f"stopped_connector_{db.name}"
    db.conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [slot])
    try:
        now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        first = check_wal(db.conn, slot, now=now, free_storage_bytes=20 * 2**30)
        assert first.level == "unknown" and first.slot_found and first.active is False
        db.conn.execute(
            "INSERT INTO sample_data (content) SELECT repeat('x', 1000) FROM generate_series(1, 2000)"
        )
        report = run_doctor(db.conn, "sample_data")
        finding = next(
            f for f in report.findings if f.id == "inactive_replication_slot" and f.subject == slot
        )
        assert "inactive and retains" in finding.evidence
        second = check_wal(db.conn, slot, now=now + timedelta(minutes=5), previous=first.sample,
                           free_storage_bytes=20 * 2**30)  # fmt: skip
        assert second.retained_bytes is not None and second.retained_bytes > 2_000_000
        assert second.rate_bytes_per_second is not None and second.rate_bytes_per_second > 2_000_000 / 300
        assert second.hours_until_storage_full is not None and second.level in ("ok", "warning", "critical")
    finally:
        db.conn.execute("SELECT pg_drop_replication_slot(%s)", [slot])


# --- partitioned tables and names ----------------------------------------------------------------
def test_a_partitioned_table_is_published_through_its_root(db: Db) -> None:
    db.conn.execute(
        "CREATE TABLE measurements (id int, taken date, PRIMARY KEY (id, taken)) PARTITION BY RANGE (taken);"
        "CREATE TABLE measurements_2026 PARTITION OF measurements "
        "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
    )
    assert run_doctor(db.conn, "measurements").blocking == 0
    partition_report = run_doctor(db.conn, "measurements_2026")
    assert [f.id for f in partition_report.findings if f.subject == "public.measurements_2026"] == [
        "table_is_partition"
    ]

    prepare_source(
        db.conn, tables="measurements", publication="parts_pub", user=db.user, password=db.password
    )
    with db.connector() as connector:
        proof = prove_replication(
            db.conn,
            connector,
            publication="parts_pub",
            change=insert_row(TableName("public", "measurements"), {"id": 1, "taken": "2026-06-01"}),
        )
    assert proof.seen == ["INSERT public.measurements"]  # the root, not the partition


@pytest.mark.parametrize("identity", ["NOTHING", "FULL"])
def test_a_partition_whose_replica_identity_was_changed_blocks(db: Db, identity: str) -> None:
    db.conn.execute(
        "CREATE TABLE m (id int PRIMARY KEY) PARTITION BY RANGE (id);"
        "CREATE TABLE m_1 PARTITION OF m FOR VALUES FROM (0) TO (10);"
        f"ALTER TABLE m_1 REPLICA IDENTITY {identity};"
    )
    finding = next(f for f in run_doctor(db.conn, "m").findings if f.severity == "blocking")
    assert finding.id == "partitions_without_replica_identity"
    assert finding.fix == "ALTER TABLE public.m_1 REPLICA IDENTITY DEFAULT;"
    db.conn.execute(finding.fix)
    assert run_doctor(db.conn, "m").blocking == 0


def test_names_that_need_quotes_work_end_to_end(db: Db) -> None:
    db.conn.execute(
        'CREATE SCHEMA "My Schema";'
        'CREATE TABLE "My Schema"."Order-Items" (id int PRIMARY KEY, "Item Name" text);'
        'CREATE TABLE "MixedCase" (id int PRIMARY KEY);'
    )
    tables = '"My Schema"."Order-Items", "MixedCase"'
    result = prepare_source(
        db.conn, tables=tables, publication='"Openflow Pub"', user=db.user, password=db.password
    )
    assert result.publication == "Openflow Pub"
    assert publication_tables(db, "Openflow Pub") == {("My Schema", "Order-Items"), ("public", "MixedCase")}
    with db.connector() as connector:
        assert connector.execute('SELECT count(*) FROM "My Schema"."Order-Items"').fetchone() == (0,)
        proof = prove_replication(
            db.conn,
            connector,
            publication='"Openflow Pub"',
            change=insert_row(TableName("My Schema", "Order-Items"), {"id": 7, "Item Name": "widget"}),
        )
    assert proof.seen == ['INSERT "My Schema"."Order-Items"']
    assert prepare_source(db.conn, tables=tables, publication='"Openflow Pub"', user=db.user).actions == []


def test_hostile_names_are_rejected_or_safely_quoted_and_the_database_is_unchanged(db: Db) -> None:
    db.conn.execute(SAMPLE_DATA + "CREATE TABLE y (id int PRIMARY KEY);")
    before = catalog_snapshot(db)
    rejected = [  # (the changed argument, the value the message must name)
        ({"tables": "x; DROP TABLE y"}, "'x; DROP TABLE y'"),
        ({"tables": '"'}, "'\"'"),
        ({"tables": "t" * 64}, "longer than 63 bytes"),
        ({"publication": "p; DROP TABLE y"}, "publication: 'p; DROP TABLE y'"),
        ({"user": "u; DROP TABLE y"}, "user: 'u; DROP TABLE y'"),
        ({"user": "pg_evil"}, "user: 'pg_evil' is reserved"),
    ]
    for change, named in rejected:
        kwargs: dict[str, Any] = {
            "tables": "sample_data", "publication": "openflow_pub", "user": db.user, "password": db.password,
            **change,
        }  # fmt: skip
        with pytest.raises(InvalidRequest) as caught:
            prepare_source(db.conn, **kwargs)
        assert named in str(caught.value)
    # Quoted, the same text is just a name: no such table, so the doctor blocks and nothing runs.
    with pytest.raises(PreconditionFailed, match="table_not_found"):
        prepare_source(
            db.conn, tables='"x; DROP TABLE y"', publication="openflow_pub", user=db.user, password="p"
        )
    assert catalog_snapshot(db) == before

    # A table really named like that is handled as a plain identifier; y survives.
    db.conn.execute('CREATE TABLE "x; DROP TABLE y" (id int PRIMARY KEY)')
    prepare_source(
        db.conn,
        tables='"x; DROP TABLE y"',
        publication='"p; DROP TABLE y"',
        user=db.user,
        password=db.password,
    )
    assert publication_tables(db, "p; DROP TABLE y") == {("public", "x; DROP TABLE y")}
    assert db.rows("SELECT to_regclass('public.y') IS NOT NULL") == [(True,)]


# --- roles and passwords ---------------------------------------------------------------------------
def test_an_existing_roles_password_changes_only_when_asked(db: Db) -> None:
    db.conn.execute(SAMPLE_DATA)
    kwargs: dict[str, Any] = {"tables": "sample_data", "publication": "openflow_pub", "user": db.user}
    prepare_source(db.conn, password="first-password", **kwargs)
    assert prepare_source(db.conn, password="second-password", **kwargs).actions == []
    with pytest.raises(PermissionDenied):
        db.connector("second-password")
    updated = prepare_source(db.conn, password="second-password", update_password=True, **kwargs)
    assert updated.actions == [f"set the password of role {db.user}"]
    with db.connector("second-password") as connector:
        assert connector.info.user == db.user


@pytest.mark.parametrize("who", ["login", "superuser", "rds_superuser", "reserved"])
def test_the_replication_user_is_never_an_administrative_role_and_nothing_changes(db: Db, who: str) -> None:
    db.conn.execute(SAMPLE_DATA)
    user, conn = db.user, db.conn
    if who == "login":  # an admin of its own name (postgres itself is refused by its name already)
        user = f"admin_{db.name}"
        db.conn.execute(
            sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD 'admin-pw'").format(sql.Identifier(user))
        )
        conn = connect(with_credentials(db.dsn, user, "admin-pw"))
    elif who == "superuser":
        db.conn.execute(sql.SQL("CREATE ROLE {} SUPERUSER LOGIN").format(sql.Identifier(user)))
    elif who == "rds_superuser":
        db.conn.execute("CREATE ROLE rds_superuser")
        db.conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE rds_superuser").format(sql.Identifier(user)))
    else:
        user = "rdsadmin"
    passwords = "SELECT rolname, rolpassword FROM pg_authid ORDER BY 1"
    before = catalog_snapshot(db), db.rows(passwords)
    try:
        with pytest.raises(InvalidRequest, match=r"source\.replication_user") as caught:
            prepare_source(conn, tables="sample_data", publication="openflow_pub", user=user, password="pw-x")
        assert "pw-x" not in str(caught.value)
        reason = {"login": "logs in as", "superuser": "a superuser", "rds_superuser": "rds_superuser"}
        assert reason.get(who, "reserved") in caught.value.message
        assert (catalog_snapshot(db), db.rows(passwords)) == before
    finally:
        if conn is not db.conn:
            conn.close()
        if who in ("superuser", "rds_superuser", "login"):
            db.conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))
        if who == "rds_superuser":
            db.conn.execute("DROP ROLE rds_superuser")


def test_a_role_the_workflow_did_not_create_is_used_only_when_asked_and_its_password_never_changes(
    db: Db,
) -> None:
    db.conn.execute(SAMPLE_DATA)
    db.conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'theirs'").format(sql.Identifier(db.user)))
    kwargs: dict[str, Any] = {"tables": "sample_data", "publication": "openflow_pub", "user": db.user}
    before = catalog_snapshot(db)
    with pytest.raises(InvalidRequest, match="was not created by openflow-autopilot") as caught:
        prepare_source(db.conn, password="ours", update_password=True, **kwargs)
    assert "use_existing_replication_user" in (caught.value.fix or "")
    with pytest.raises(InvalidRequest, match="is never changed"):
        prepare_source(db.conn, password="ours", update_password=True, use_existing=True, **kwargs)
    assert catalog_snapshot(db) == before
    used = prepare_source(db.conn, password="theirs", use_existing=True, **kwargs)
    assert not any("password" in a or "create role" in a for a in used.actions), used.actions
    with db.connector("theirs") as connector:  # its own password still works
        assert connector.info.user == db.user


def test_an_admin_without_the_needed_privileges_gets_permission_denied_and_nothing_changes(db: Db) -> None:
    db.conn.execute(SAMPLE_DATA)
    weak = f"weak_admin_{db.name}"
    db.conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'weak-admin-pw'").format(sql.Identifier(weak)))
    before = catalog_snapshot(db)
    with (
        connect(with_credentials(db.dsn, weak, "weak-admin-pw")) as conn,
        pytest.raises(PermissionDenied) as caught,
    ):
        prepare_source(conn, tables="sample_data", publication="openflow_pub", user=db.user, password="pw")
    assert "CREATEROLE" in (caught.value.fix or "")
    assert "weak-admin-pw" not in str(caught.value) and "'pw'" not in str(caught.value)
    assert catalog_snapshot(db) == before


def test_on_rds_the_connector_role_gets_rds_replication_instead_of_the_replication_attribute(
    server: LocalPostgres, db: Db
) -> None:
    db.conn.execute(SAMPLE_DATA)
    db.conn.execute("CREATE ROLE rds_superuser; CREATE ROLE rds_replication")
    try:
        db.conn.execute(
            sql.SQL("ALTER DATABASE {} SET rds.logical_replication = 'on'").format(sql.Identifier(db.name))
        )
        with connect(db.dsn) as rds_conn:  # a new session sees the RDS setting
            report = run_doctor(rds_conn, "sample_data")
            assert report.server.is_rds and report.ok, report.findings
            result = prepare_source(
                rds_conn, tables="sample_data", publication="openflow_pub", user=db.user, password=db.password
            )
        assert f"grant rds_replication to {db.user}" in result.actions
        assert not any("REPLICATION" in a for a in result.actions)
        assert db.rows(
            "SELECT r.rolreplication, pg_has_role(r.oid, 'rds_replication', 'MEMBER') FROM pg_roles r "
            "WHERE r.rolname = %s",
            db.user,
        ) == [(False, True)]
    finally:
        db.conn.execute("DROP ROLE rds_replication; DROP ROLE rds_superuser")


# --- the CLI -----------------------------------------------------------------------------------------
def test_source_doctor_exits_0_without_blocking_findings_1_with_them_and_2_when_nothing_listens(
    db: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    db.conn.execute(SAMPLE_DATA + "CREATE TABLE no_pk (a int);")
    assert cli_source.main(["source", "doctor", "--dsn", db.dsn, "--tables", "sample_data"]) == 0
    assert "No blocking findings" in capsys.readouterr().out
    assert (
        cli_source.main(["source", "doctor", "--dsn", db.dsn, "--tables", "sample_data,no_pk", "--json"]) == 1
    )
    report = json.loads(capsys.readouterr().out)
    assert report["blocking"] == 1 and report["findings"][0]["id"] == "table_without_primary_key"

    nowhere = f"host=127.0.0.1 port={free_port()} dbname=x user=postgres password=hunter2"
    assert cli_source.main(["source", "doctor", "--dsn", nowhere, "--tables", "sample_data"]) == 2
    captured = capsys.readouterr()
    assert "cannot connect to PostgreSQL at 127.0.0.1" in captured.err
    assert "Traceback" not in captured.err and "hunter2" not in captured.err + captured.out


def test_source_prepare_writes_a_private_password_file_prepares_proves_and_is_a_no_op_the_second_time(
    db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.conn.execute(SAMPLE_DATA)
    password_file = tmp_path / "openflow_user.password"
    argv = ["source", "prepare", "--dsn", db.dsn, "--tables", "sample_data", "--publication", "openflow_pub",
            "--user", db.user, "--password-file", str(password_file)]  # fmt: skip
    assert cli_source.main(argv) == 0
    out = capsys.readouterr().out
    password = password_file.read_text().strip()
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert password not in out
    assert "Replication proof: OK" in out and "saw UPDATE public.sample_data" in out
    assert db.rows("SELECT content FROM sample_data ORDER BY id") == [
        ("aaa",),
        ("bbb",),
    ]  # the touch changed nothing

    assert cli_source.main([*argv, "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["prepare"]["actions"] == [] and second["proof"]["ok"]
    assert password not in json.dumps(second)


def test_source_prepare_exits_1_on_blocking_findings_and_3_when_the_proof_cannot_log_in(
    db: Db, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db.conn.execute(SAMPLE_DATA + "CREATE TABLE no_pk (a int);")
    monkeypatch.setenv("CONNECTOR_PW", "first-password")
    base = ["source", "prepare", "--dsn", db.dsn, "--publication", "openflow_pub", "--user", db.user,
            "--password-env", "CONNECTOR_PW"]  # fmt: skip
    assert cli_source.main([*base, "--tables", "sample_data,no_pk"]) == 1
    assert "Nothing was changed." in capsys.readouterr().out
    assert cli_source.main([*base, "--tables", "sample_data"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("CONNECTOR_PW", "a-different-password")
    assert cli_source.main([*base, "--tables", "sample_data"]) == 3
    assert "add --update-password" in capsys.readouterr().out
    assert cli_source.main([*base, "--tables", "sample_data", "--update-password"]) == 0


def test_source_prepare_refuses_the_login_role_and_writes_no_password_file(
    db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.conn.execute(SAMPLE_DATA)
    login = f"admin_{db.name}"
    db.conn.execute(
        sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD 'admin-pw'").format(sql.Identifier(login))
    )
    password_file = tmp_path / "new.password"
    dsn = with_credentials(db.dsn, login, "admin-pw")
    argv = ["source", "prepare", "--dsn", dsn, "--tables", "sample_data", "--publication", "openflow_pub",
            "--user", login, "--password-file", str(password_file)]  # fmt: skip
    before = db.rows("SELECT rolpassword FROM pg_authid WHERE rolname = %s", login)
    try:
        assert cli_source.main(argv) == 2
        err = capsys.readouterr().err
        assert "source.replication_user" in err and "logs in as" in err and "Traceback" not in err
        assert not password_file.exists() and "admin-pw" not in err
        assert db.rows("SELECT rolpassword FROM pg_authid WHERE rolname = %s", login) == before
        assert db.rows("SELECT count(*) FROM pg_publication") == [(0,)]
    finally:
        db.conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))


def test_source_prepare_exact_shows_what_it_would_drop_and_needs_a_yes(
    db: Db, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db.conn.execute(
        SAMPLE_DATA
        + "CREATE TABLE shared (id int PRIMARY KEY); CREATE PUBLICATION openflow_pub FOR TABLE shared;"
    )
    monkeypatch.setenv("CONNECTOR_PW", "pw-exact")
    base = ["source", "prepare", "--dsn", db.dsn, "--tables", "sample_data", "--publication", "openflow_pub",
            "--user", db.user, "--password-env", "CONNECTOR_PW", "--no-proof"]  # fmt: skip
    assert cli_source.main(base) == 0
    assert "Kept in publication openflow_pub" in capsys.readouterr().out
    assert ("public", "shared") in publication_tables(db, "openflow_pub")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli_source.main([*base, "--exact"]) == 2
    err = capsys.readouterr().err
    assert "--exact removes 1 member(s)" in err and "public.shared" in err and "--yes" in err
    assert ("public", "shared") in publication_tables(db, "openflow_pub")
    assert cli_source.main([*base, "--exact", "--yes"]) == 0
    assert publication_tables(db, "openflow_pub") == {("public", "sample_data")}


# --- LocalPostgres itself ---------------------------------------------------------------------------
def test_local_postgres_uses_a_private_port_and_leaves_nothing_behind_even_when_its_owner_is_killed() -> None:
    script = (
        "import sys, time; from openflow_sandbox.postgres import LocalPostgres\n"
        "pg = LocalPostgres().start()\n"
        "pid = int((pg.data_dir / 'postmaster.pid').read_text().split()[0])\n"
        "print(pg.root, pg.port, pid, flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    root, port, pid = child.stdout.readline().split()
    assert int(port) != 5432 and Path(root).is_dir()
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres") as conn:
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
    child.send_signal(signal.SIGKILL)  # no atexit, no context manager: only the watchdog is left
    child.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (Path(root).exists() or _alive(int(pid))):
        time.sleep(0.1)
    assert not Path(root).exists()
    assert not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A reaped-late zombie counts as gone.
    return (
        "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
        if Path(f"/proc/{pid}").exists()
        else False
    )
