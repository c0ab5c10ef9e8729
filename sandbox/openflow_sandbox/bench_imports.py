"""Benchmark: each function's cold import, `import app` in a fresh interpreter, as Lambda's init does.

Every function of template.yaml (AWS::Serverless::Function, its CodeUri and Handler) is imported
in its own subprocess, `python -S` with only what Lambda puts on sys.path: the function's folder,
then its layers. Two setups:

- `venv`: functions/<name>/, layers/shared/ and the virtualenv's site-packages as the dependency
  layer, with the bytecode those folders already cache (a warm developer machine).
- `built` (when the layers are built, see bench_layers): the function and the layers exactly as
  `sam build` makes them, which ship no bytecode. Lambda's /var/task and /opt are read-only, so every
  cold start compiles the modules it imports; here too (PYTHONDONTWRITEBYTECODE=1).

The environment is the one Lambda gives (region, function name) and the one template.yaml gives the
function (Globals' and its own variables, deploy-time values as stand-ins): each function reads its
environment model at cold start, so an import without it would fail. Runs are interleaved across
functions; each function's median over `runs` is reported, in ms.

Run: `python -m openflow_sandbox.bench_imports [--runs 3] [--built]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openflow_sandbox import bench_template
from openflow_sandbox.bench_template import ROOT, FunctionSpec

_PROBE = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import {module}
    print(time.perf_counter() - t0)
    """
)


def venv_paths(fn: FunctionSpec, root: Path = ROOT) -> list[Path]:
    """Function folder, the shared layer's source, the virtualenv's site-packages."""
    return [root / fn.code_uri, root / "layers" / "shared", Path(sysconfig.get_paths()["purelib"])]


def built_paths(fn: FunctionSpec, build_dir: Path) -> list[Path]:
    """The built function, then each of its layers' python/ folder (what /opt/python holds)."""
    return [build_dir / fn.logical_id, *(build_dir / layer / "python" for layer in fn.layers)]


def lambda_env(fn: FunctionSpec, paths: list[Path], *, compile_only: bool) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": fn.logical_id,
        "LAMBDA_TASK_ROOT": str(paths[0]),
        "POWERTOOLS_SERVICE_NAME": "openflow-autopilot",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        **dict(fn.environment),
    }
    if compile_only:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def import_seconds(fn: FunctionSpec, env: dict[str, str], cwd: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-S", "-c", _PROBE.format(module=fn.module)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{fn.logical_id}: import {fn.module} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def summarize(per_function_ms: dict[str, float], slowest: int = 3) -> dict[str, Any]:
    """Median and max over the functions, and the slowest few, from each function's median (ms)."""
    ordered = sorted(per_function_ms.items(), key=lambda kv: kv[1], reverse=True)
    return {
        "functions": len(per_function_ms),
        "median_ms": round(statistics.median(per_function_ms.values()), 1),
        "max_ms": round(ordered[0][1], 1),
        "slowest": [{"function": name, "ms": round(ms, 1)} for name, ms in ordered[:slowest]],
    }


def measure(
    functions: list[FunctionSpec],
    paths: Callable[[FunctionSpec], list[Path]],
    *,
    runs: int,
    compile_only: bool,
    cwd: Path,
) -> dict[str, float]:
    samples: dict[str, list[float]] = {fn.logical_id: [] for fn in functions}
    for _ in range(runs):
        for fn in functions:
            env = lambda_env(fn, paths(fn), compile_only=compile_only)
            samples[fn.logical_id].append(import_seconds(fn, env, cwd))
    return {name: round(statistics.median(s) * 1000, 1) for name, s in samples.items()}


def bench_imports(runs: int = 3, build_dir: Path | None = None, root: Path = ROOT) -> dict[str, Any]:
    """Per-function cold import (ms), `venv` always, `built` when `build_dir` (a sam build) is given."""
    functions = bench_template.functions(bench_template.load(root / "template.yaml"))
    cwd = Path("/tmp") if Path("/tmp").is_dir() else root  # no stray module in the working directory
    result: dict[str, Any] = {"runs": runs}
    venv = measure(functions, lambda fn: venv_paths(fn, root), runs=runs, compile_only=False, cwd=cwd)
    result["venv"] = {**summarize(venv), "per_function_ms": venv}
    if build_dir is not None:
        built = measure(
            functions, lambda fn: built_paths(fn, build_dir), runs=runs, compile_only=True, cwd=cwd
        )
        result["built"] = {**summarize(built), "per_function_ms": built}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--built", action="store_true", help="also import from a sam build (builds it)")
    args = parser.parse_args()
    build_dir = None
    if args.built:
        from openflow_sandbox.bench_layers import build

        build_dir = build().path
    print(json.dumps(bench_imports(args.runs, build_dir), indent=2))


if __name__ == "__main__":
    main()
