"""`make bench`: medians over several runs on this machine, written to build/bench.json.

Timings are reported, never asserted: tests check behaviour, this measures speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openflow_sandbox.demo import run_provisioning
from openflow_sandbox.environment import Sandbox


def _median(samples: list[float]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(samples), 4),
        "runs": len(samples),
        "min_s": round(min(samples), 4),
        "max_s": round(max(samples), 4),
    }


def _time(fn: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_sandbox(runs: int) -> dict[str, Any]:
    def start_stop() -> None:
        Sandbox().start().stop()

    starts = _time(start_stop, runs)
    demo_runs: list[float] = []
    transitions: list[int] = []
    invocations: list[int] = []
    lambda_seconds: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sandbox = Sandbox().start()
        try:
            report = run_provisioning(sandbox, sandbox.request())
            assert report.status == "SUCCEEDED", report
        finally:
            sandbox.stop()
        demo_runs.append(time.perf_counter() - t0)
        transitions.append(report.state_transitions)
        invocations.append(len(sandbox.moto.registry.invocations))
        lambda_seconds.append(sum(i.seconds for i in sandbox.moto.registry.invocations))
    return {
        "sandbox_start_stop": _median(starts),
        "demo_run": _median(demo_runs),
        "state_transitions_per_provisioning_run": statistics.median(transitions),
        "step_functions_cost_per_provisioning_run_usd": round(
            statistics.median(transitions) * 0.025 / 1000, 6
        ),
        "lambda_invocations_per_run": statistics.median(invocations),
        "lambda_summed_seconds_per_run": round(statistics.median(lambda_seconds), 4),
    }


def markdown(results: dict[str, Any]) -> str:
    """The README's table: one row per measure, medians first."""
    m = results["machine"]
    rows = [
        f"Measured on {m['platform']}, {m['cpus']} CPUs, Python {m['python']} (`make bench`, medians).",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    for key, value in results.items():
        if key == "machine":
            continue
        if isinstance(value, dict) and "median_s" in value:
            rows.append(f"| {key} | {value['median_s']:.3f} s (median of {value['runs']}) |")
        elif isinstance(value, dict):
            inner = ", ".join(f"{k} {v}" for k, v in value.items() if not isinstance(v, dict | list))
            rows.append(f"| {key} | {inner} |")
        else:
            rows.append(f"| {key} | {value} |")
    return "\n".join(rows) + "\n"


def update_readme(readme: Path, results: dict[str, Any]) -> None:
    text = readme.read_text()
    start, end = "<!-- bench -->", "<!-- /bench -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{start}\n{markdown(results)}{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m openflow_sandbox.bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("build/bench.json"))
    parser.add_argument("--readme", type=Path, help="also rewrite the table between <!-- bench --> markers")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": __import__("os").cpu_count(),
        },
        **bench_sandbox(args.runs),
    }
    from openflow_sandbox.bench_source import bench_source
    from openflow_sandbox.bench_webhook import bench_webhook

    results["source_1000_tables"] = bench_source(n_tables=1000, runs=args.runs)
    results["webhook_ack"] = bench_webhook(n=1000)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"{'measure':48} value")
    for key, value in results.items():
        if key == "machine":
            continue
        if isinstance(value, dict) and "median_s" in value:
            print(f"{key:48} median {value['median_s']:.3f}s over {value['runs']} runs")
        else:
            print(f"{key:48} {value}")
    print(f"written to {args.out}")
    if args.readme is not None:
        update_readme(args.readme, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
