"""Benchmark: the template doctor on every hostile input (each at most 1 MiB, or just over it).

The bound it is held to: any input answered within 2 s and 200 MB. Reported per input: the median
seconds of `doctor(text, fix=True)` and the peak memory Python allocated while it ran (tracemalloc,
measured in a separate run so that tracing does not slow the timed ones).
"""

from __future__ import annotations

import contextlib
import statistics
import time
import tracemalloc
from typing import Any

from openflow_autopilot.openflow.template import TemplateError, doctor
from openflow_sandbox.hostile_templates import ANSWERED, UNREADABLE

LIMIT_SECONDS = 2.0
LIMIT_MB = 200.0


def _once(data: bytes) -> None:
    with contextlib.suppress(TemplateError):  # a refusal is an answer too
        doctor(data, fix=True)


def bench_doctor(runs: int = 3) -> dict[str, Any]:
    cases: dict[str, dict[str, float]] = {}
    for name, (data, _) in {**UNREADABLE, **ANSWERED}.items():
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            _once(data)
            samples.append(time.perf_counter() - started)
        tracemalloc.start()
        _once(data)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        cases[name] = {
            "bytes": len(data),
            "median_s": round(statistics.median(samples), 4),
            "peak_mb": round(peak / 1e6, 1),
        }
    slowest = max(cases, key=lambda name: cases[name]["median_s"])
    largest = max(cases, key=lambda name: cases[name]["peak_mb"])
    return {
        "runs": runs,
        "cases": cases,
        "slowest": slowest,
        "largest": largest,
        "within_limits": all(
            case["median_s"] <= LIMIT_SECONDS and case["peak_mb"] <= LIMIT_MB for case in cases.values()
        ),
        "limit_seconds": LIMIT_SECONDS,
        "limit_mb": LIMIT_MB,
    }
