"""`make bench`: medians over several runs on this machine, written to build/bench.json, printed as a
table and (with --readme) written between the README's <!-- bench --> markers.

Measured: sandbox start; the full demo (start, provisioning, one power stop and start, stop); per
provisioning run and per stop/start the Step Functions state transitions and their list price, the
Lambda invocations and their summed duration; what the power schedules cost per month; each
function's cold import; the built layers' sizes against Lambda's 250 MiB limit (fails the run when a
function would not fit); the webhook's acknowledgement latency; the source doctor and prepare on
1,000 tables; the template doctor on hostile inputs. Timings are reported, never asserted: tests check
behaviour, this measures speed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openflow_sandbox import bench_power, bench_watch
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


def machine() -> dict[str, Any]:
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 0
    cpu = platform.processor()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(ram / 1024**3, 1),
    }


def bench_sandbox(runs: int) -> dict[str, Any]:
    def start_stop() -> None:
        Sandbox().start().stop()

    starts = _time(start_stop, runs)
    demo_runs: list[float] = []
    provisioning_runs: list[float] = []
    transitions: list[int] = []
    invocations: list[int] = []
    lambda_seconds: list[float] = []
    power: list[dict[str, dict[str, Any]]] = []
    deep: list[dict[str, dict[str, Any]]] = []
    watch: list[dict[str, Any]] = []
    schedule: Any = None
    for _ in range(runs):
        t0 = time.perf_counter()
        sandbox = Sandbox().start()
        try:
            request = sandbox.request()
            schedule = request.get("schedule")
            t1 = time.perf_counter()
            report = run_provisioning(sandbox, request)
            assert report.status == "SUCCEEDED", report
            provisioning_runs.append(time.perf_counter() - t1)
            calls = list(sandbox.moto.registry.invocations)
            watch.append(bench_watch.measure_watch(sandbox, request))
            power.append(bench_power.measure_power(sandbox, request))
            deep.append(bench_power.measure_deep(sandbox, request))
        finally:
            sandbox.stop()
        demo_runs.append(time.perf_counter() - t0)
        transitions.append(report.state_transitions)
        invocations.append(len(calls))
        lambda_seconds.append(sum(i.seconds for i in calls))
    return {
        "sandbox_start_stop": _median(starts),
        "demo_run": _median(demo_runs),
        "provisioning_run": _median(provisioning_runs),
        "state_transitions_per_provisioning_run": statistics.median(transitions),
        "step_functions_cost_per_provisioning_run_usd": bench_power.transitions_cost_usd(
            statistics.median(transitions)
        ),
        "lambda_invocations_per_run": statistics.median(invocations),
        "lambda_summed_seconds_per_run": round(statistics.median(lambda_seconds), 4),
        "power": bench_power.summarize(power, schedule),
        "power_deep": bench_power.summarize(deep),
        "watch": bench_watch.summarize(watch),
    }


# --- the table --------------------------------------------------------------------------------
def _s(value: dict[str, Any]) -> str:
    return f"{value['median_s']:.3f} s (median of {value['runs']})"


def _usd(value: float) -> str:
    return f"${value:.6f}".rstrip("0").rstrip(".") if value else "$0"


def _power_row(p: dict[str, Any], action: str, sleep: str = "runtime") -> tuple[str, str]:
    a = p[action]
    value = (
        f"{a['state_transitions']:g} transitions = {_usd(a['cost_usd'])}; {a['median_s']:.2f} s; "
        f"{a['lambda_invocations']:g} Lambda invocations, {a['lambda_summed_seconds']:.2f} s summed"
    )
    if "wake_to_canary_s" in a:
        value += f"; canary row seen {a['wake_to_canary_s']:.2f} s after the start began"
    return (f"power {action}, {sleep} sleep (one execution)", value)


def _imports_row(label: str, i: dict[str, Any], runs: int) -> tuple[str, str]:
    slowest = ", ".join(f"{s['function']} {s['ms']:.0f}" for s in i["slowest"])
    return (
        label,
        f"median {i['median_ms']:.0f} ms, max {i['max_ms']:.0f} ms over {i['functions']} functions "
        f"(median of {runs} each); slowest: {slowest} ms",
    )


def rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    """One (measure, value) per line of the table; sections that were skipped say so."""
    r = results
    out: list[tuple[str, str]] = []
    if "sandbox_start_stop" in r:
        out += [
            ("sandbox start + stop", _s(r["sandbox_start_stop"])),
            (
                "full bench run (start, provisioning, 3 watch runs, power stop + start twice, stop)",
                _s(r["demo_run"]),
            ),
            ("provisioning execution", _s(r["provisioning_run"])),
            (
                "provisioning: state transitions, list price",
                f"{r['state_transitions_per_provisioning_run']:g} transitions = "
                f"{_usd(r['step_functions_cost_per_provisioning_run_usd'])} per run",
            ),
            (
                "provisioning: Lambda invocations, summed duration",
                f"{r['lambda_invocations_per_run']:g} invocations, "
                f"{r['lambda_summed_seconds_per_run']:.2f} s per run",
            ),
        ]
    if "power" in r:
        p = r["power"]
        out += [_power_row(p, "stop"), _power_row(p, "start")]
        if "power_deep" in r:
            d = r["power_deep"]
            out += [_power_row(d, "stop", "deep"), _power_row(d, "start", "deep")]
        if "schedule" in p:
            m = p["schedule"]
            out.append(
                (
                    "power schedules per month",
                    f"{m['stops_per_week']} stops + {m['starts_per_week']} starts a week x "
                    f"{m['weeks_per_month']} weeks = {m['stops_per_month']:g} stop/start pairs, "
                    f"{m['transitions_per_month']:g} transitions = {_usd(m['cost_per_month_usd'])}/month",
                )
            )
    if "watch" in r:
        w, m = r["watch"]["run"], r["watch"]["month"]
        out += [
            (
                "watch run (healthy, every check)",
                f"{w['state_transitions']:g} transitions; {w['seconds']:.2f} s; {w['lambda_invocations']:g} "
                f"Lambda invocations, {w['lambda_summed_seconds']:.2f} s summed; heartbeat seen in "
                f"{w['heartbeat_seconds']:.1f} s",
            ),
            (
                f"watch per month, every {m['interval_minutes']} min",
                f"{m['runs_per_month']} runs: Express {_usd(m['express_usd_per_month'])} "
                f"(ceiling {_usd(m['express_ceiling_usd_per_month'])} if each run waited "
                f"{m['ceiling_seconds_per_run']:g} s); as Standard it would be "
                f"{_usd(m['standard_usd_per_month'])}; Lambda {_usd(m['lambda_usd_per_month'])}",
            ),
        ]
    if "cold_imports" in r:
        imports = r["cold_imports"]
        out.append(
            _imports_row("cold import per function (venv, bytecode cached)", imports["venv"], imports["runs"])
        )
        if "built" in imports:
            out.append(
                _imports_row(
                    "cold import per function (as built: sam build layers, no bytecode)",
                    imports["built"],
                    imports["runs"],
                )
            )
    if "layers" in r:
        layers = r["layers"]
        if layers.get("skipped"):
            out.append(("built layers", "skipped (--no-layers)"))
        else:
            sizes = ", ".join(f"{name} {v['mib']:.2f} MiB" for name, v in layers["layers"].items())
            out.append(
                (
                    f"built layers, unzipped ({layers['method']})",
                    f"{sizes}; largest function + layers {layers['largest_total_mib']:.2f} MiB "
                    f"of {layers['limit_mib']:g} MiB ({'fits' if layers['fits'] else 'OVER THE LIMIT'}, "
                    f"{layers['headroom_mib']:.2f} MiB headroom)",
                )
            )
    if "webhook_ack" in r:
        w = r["webhook_ack"]
        out.append(
            (
                "webhook acknowledgement",
                f"p50 {w['ack_p50_ms']:.3f} ms, p99 {w['ack_p99_ms']:.3f} ms over {w['n']} requests; "
                f"first request {w['first_request_ms']:.1f} ms; cold first request "
                f"{w['cold_first_request_ms']:.0f} ms",
            )
        )
    if "source_1000_tables" in r:
        s = r["source_1000_tables"]
        out.append(
            (
                f"source doctor / prepare, {s['n_tables']} tables",
                f"doctor {s['doctor_median_seconds']:.3f} s, prepare {s['prepare_median_seconds']:.3f} s, "
                f"no-op prepare {s['prepare_noop_median_seconds']:.3f} s (median of {s['runs']})",
            )
        )
    if "template_doctor_hostile" in r:
        d = r["template_doctor_hostile"]
        slow, large = d["cases"][d["slowest"]], d["cases"][d["largest"]]
        out.append(
            (
                f"template doctor, {len(d['cases'])} hostile inputs",
                f"slowest {slow['median_s']:.3f} s ({d['slowest']}), largest {large['peak_mb']:.1f} MB "
                f"({d['largest']}); limit {d['limit_seconds']:g} s and {d['limit_mb']:g} MB: "
                f"{'within' if d['within_limits'] else 'OVER'}",
            )
        )
    return out


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"Measured on {m['platform']}, {m['cpus']} cores ({m['cpu_model']}), {m['ram_gib']} GiB RAM, "
        f"Python {m['python']}."
    )


def markdown(results: dict[str, Any]) -> str:
    """The README's table: one row per measure, medians first."""
    lines = [
        f"{machine_line(results['machine'])} `make bench`, medians; list prices; full numbers in "
        "build/bench.json.",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    lines += [f"| {measure} | {value} |" for measure, value in rows(results)]
    if "power" in results and "schedule" in results["power"]:
        lines += [
            "",
            f"Power schedules per month: {results['power']['schedule']['how']}. Transitions count every "
            "pass of a Wait -> check loop as often as it ran here, against the sandbox's emulated "
            "systems with compressed waits; in AWS a loop passes as often as the real system needs.",
        ]
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, results: dict[str, Any]) -> None:
    text = readme.read_text()
    start, end = "<!-- bench -->", "<!-- /bench -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{start}\n{markdown(results)}{end}{tail}")


def _print_table(results: dict[str, Any]) -> None:
    table = rows(results)
    width = max(len(m) for m, _ in table)
    print(machine_line(results["machine"]))
    for measure, value in table:
        print(f"{measure:{width}}  {value}")


def _write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m openflow_sandbox.bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--import-runs", type=int, help="runs per function's cold import (default: --runs)")
    parser.add_argument("--out", type=Path, default=Path("build/bench.json"))
    parser.add_argument("--readme", type=Path, help="also rewrite the table between <!-- bench --> markers")
    parser.add_argument("--no-layers", action="store_true", help="skip building the layers (quick runs)")
    args = parser.parse_args(argv)
    from openflow_sandbox.bench_doctor import bench_doctor
    from openflow_sandbox.bench_imports import bench_imports
    from openflow_sandbox.bench_layers import LayerLimitExceeded, bench_layers, build, check
    from openflow_sandbox.bench_source import bench_source
    from openflow_sandbox.bench_webhook import bench_webhook

    results: dict[str, Any] = {"machine": machine()}
    build_dir = None
    if args.no_layers:
        results["layers"] = {"skipped": True}
    else:  # first: a function that does not fit fails the run before the long part
        results["layers"] = bench_layers()
        try:
            check(results["layers"])
        except LayerLimitExceeded as exc:
            _write(args.out, results)
            print(f"error: {exc}", file=sys.stderr)
            return 1
        build_dir = build().path
    results.update(bench_sandbox(args.runs))
    results["cold_imports"] = bench_imports(args.import_runs or args.runs, build_dir)
    results["source_1000_tables"] = bench_source(n_tables=1000, runs=args.runs)
    results["webhook_ack"] = bench_webhook(n=1000)
    results["template_doctor_hostile"] = bench_doctor(runs=args.runs)
    _write(args.out, results)
    _print_table(results)
    print(f"written to {args.out}")
    if args.readme is not None:
        update_readme(args.readme, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
