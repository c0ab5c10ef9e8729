"""Benchmark: the source doctor and prepare on a database with many tables (1,000 by default).

`prepare` is timed cold (a new role and publication each run, so every grant and the whole
publication are created) and as a no-op re-run. Run: `python -m openflow_sandbox.bench_source`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any

from psycopg import sql

from openflow_autopilot.postgres.connection import connect
from openflow_autopilot.postgres.doctor import run_doctor
from openflow_autopilot.postgres.prepare import prepare_source
from openflow_sandbox.postgres import LocalPostgres


def _median_seconds(fn: Callable[[int], object], runs: int) -> float:
    times = []
    for i in range(runs):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 4)


def bench_source(n_tables: int = 1000, runs: int = 5) -> dict[str, Any]:
    """Median seconds of the doctor, a cold prepare and a no-op prepare over `n_tables` tables."""
    with LocalPostgres() as pg:
        dsn = pg.create_database("bench_source")
        with connect(dsn) as conn:
            start = time.perf_counter()
            with conn.transaction():
                for i in range(n_tables):
                    name = sql.Identifier(f"t_{i:05d}")
                    conn.execute(
                        sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY, content text)").format(name)
                    )
            setup = time.perf_counter() - start
            tables = [f"public.t_{i:05d}" for i in range(n_tables)]
            password = secrets.token_urlsafe(16)

            def doctor(_: int) -> object:
                report = run_doctor(conn, tables)
                assert report.ok, report.findings
                return report

            def prepare(i: int) -> object:
                result = prepare_source(
                    conn,
                    tables=tables,
                    publication=f"bench_pub_{i}",
                    user=f"bench_user_{i}",
                    password=password,
                )
                assert result.actions
                return result

            def prepare_again(_: int) -> object:
                result = prepare_source(
                    conn, tables=tables, publication="bench_pub_0", user="bench_user_0", password=password
                )
                assert not result.actions
                return result

            return {
                "n_tables": n_tables,
                "runs": runs,
                "setup_seconds": round(setup, 3),
                "doctor_median_seconds": _median_seconds(doctor, runs),
                "prepare_median_seconds": _median_seconds(prepare, runs),
                "prepare_noop_median_seconds": _median_seconds(prepare_again, runs),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(bench_source(args.tables, args.runs), indent=2))


if __name__ == "__main__":
    main()
