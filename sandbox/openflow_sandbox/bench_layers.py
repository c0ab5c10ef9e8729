"""Benchmark: the built layers' unzipped sizes against Lambda's limit.

The layers and functions are built once per process the way `make build` does (`sam build`, with the
virtualenv's python3.13 first on PATH, into a temporary folder and from a temporary working
directory, so nothing in the repository changes). Without the SAM CLI, or when it fails, each layer
with a requirements.txt is installed with `pip install --target` for the Lambda platform
(manylinux2014_x86_64, CPython 3.13, wheels only, no bytecode: sam build ships none either) and its
source is copied beside it, under python/ as in a layer zip.

Lambda's limit is on a function's code plus all its layers, unzipped: 262,144,000 bytes (250 MiB).
Sizes are the sum of the files' sizes, which is what unzipping writes.

Run: `python -m openflow_sandbox.bench_layers`.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openflow_sandbox import bench_template
from openflow_sandbox.bench_template import ROOT, FunctionSpec, LayerSpec

LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000  # 250 MiB: function code + all of its layers, unzipped
MIB = 1024 * 1024
_SKIP_DIRS = {"__pycache__"}


class LayerLimitExceeded(RuntimeError):
    """A function's code plus its layers would not fit Lambda's unzipped limit."""


@dataclass(frozen=True)
class Built:
    method: str  # "sam build" or "pip --target"
    path: Path  # <path>/<LogicalId>/ for each function and layer, as `sam build` lays it out
    seconds: float


def tree_bytes(path: Path) -> int:
    """Bytes of every file under `path` (symbolic links count as their own small size, not followed)."""
    total = 0
    for folder, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for name in files:
            total += os.lstat(os.path.join(folder, name)).st_size
    return total


def mib(n: int) -> float:
    return round(n / MIB, 2)


def _venv_bin() -> Path:
    return Path(sys.executable).parent


def _sam() -> str | None:
    candidate = _venv_bin() / "sam"
    return str(candidate) if candidate.exists() else shutil.which("sam")


def sam_build(root: Path, out: Path) -> None:
    sam = _sam()
    if sam is None:
        raise FileNotFoundError("the SAM CLI is not installed")
    env = {**os.environ, "PATH": f"{_venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}"}
    with tempfile.TemporaryDirectory(prefix="bench-sam-cwd-") as cwd:
        # A working directory of its own: sam keeps its dependency cache under ./.aws-sam.
        subprocess.run(
            [
                *(sam, "build", "--template", str(root / "template.yaml")),
                *("--build-dir", str(out), "--no-cached", "--parallel"),
            ],
            cwd=cwd,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=1200,
        )


def _copy_source(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_SKIP_DIRS))


def pip_build(root: Path, out: Path, template: dict[str, Any]) -> None:
    """The fallback: the same layout as `sam build`, dependencies from wheels for Lambda's platform."""
    for layer in bench_template.layers(template):
        src = root / layer.content_uri
        target = out / layer.logical_id / "python"
        target.mkdir(parents=True, exist_ok=True)
        requirements = src / "requirements.txt"
        if requirements.exists():
            subprocess.run(
                [
                    *(sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"),
                    *("--target", str(target), "-r", str(requirements)),
                    *("--platform", "manylinux2014_x86_64", "--implementation", "cp"),
                    *("--python-version", "3.13", "--only-binary=:all:"),
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=1200,
            )
        _copy_source(src, target)
    for fn in bench_template.functions(template):
        _copy_source(root / fn.code_uri, out / fn.logical_id)


@functools.cache
def build(root: Path = ROOT) -> Built:
    """Build once per process; the folder is removed when the process exits."""
    import time

    out = Path(tempfile.mkdtemp(prefix="bench-layers-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    t0 = time.perf_counter()
    try:
        sam_build(root, out / "sam")
        return Built("sam build", out / "sam", time.perf_counter() - t0)
    except (FileNotFoundError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", None) or exc
        print(f"bench: sam build failed, installing with pip --target instead: {detail}", file=sys.stderr)
    t0 = time.perf_counter()
    pip_build(root, out / "pip", bench_template.load(root / "template.yaml"))
    return Built("pip --target", out / "pip", time.perf_counter() - t0)


def layer_path(built: Built, layer: str) -> Path:
    """What the layer puts on sys.path (/opt/python in Lambda)."""
    return built.path / layer / "python"


def sizes(
    built: Built,
    functions: list[FunctionSpec],
    layers: list[LayerSpec],
    limit: int = LAMBDA_UNZIPPED_LIMIT_BYTES,
) -> dict[str, Any]:
    """Each layer's unzipped size and each function's total (code + its layers) against `limit`."""
    layer_bytes = {layer.logical_id: tree_bytes(built.path / layer.logical_id) for layer in layers}
    totals = {}
    for fn in functions:
        code = tree_bytes(built.path / fn.logical_id)
        totals[fn.logical_id] = {
            "code_bytes": code,
            "total_bytes": code + sum(layer_bytes.get(name, 0) for name in fn.layers),
        }
    largest = max(totals, key=lambda name: totals[name]["total_bytes"])
    over = sorted(name for name, t in totals.items() if t["total_bytes"] > limit)
    return {
        "method": built.method,
        "build_seconds": round(built.seconds, 1),
        "limit_bytes": limit,
        "limit_mib": mib(limit),
        "layers": {name: {"bytes": n, "mib": mib(n)} for name, n in layer_bytes.items()},
        "functions": totals,
        "largest_function": largest,
        "largest_total_mib": mib(totals[largest]["total_bytes"]),
        "headroom_mib": mib(limit - totals[largest]["total_bytes"]),
        "over_limit": over,
        "fits": not over,
    }


def check(result: dict[str, Any]) -> None:
    if result["over_limit"]:
        raise LayerLimitExceeded(
            f"over Lambda's {result['limit_mib']} MiB unzipped limit (code + layers): "
            + ", ".join(
                f"{name} {mib(result['functions'][name]['total_bytes'])} MiB" for name in result["over_limit"]
            )
        )


def bench_layers(root: Path = ROOT) -> dict[str, Any]:
    template = bench_template.load(root / "template.yaml")
    return sizes(build(root), bench_template.functions(template), bench_template.layers(template))


def main() -> int:
    result = bench_layers()
    print(json.dumps({k: v for k, v in result.items() if k != "functions"}, indent=2))
    try:
        check(result)
    except LayerLimitExceeded as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
