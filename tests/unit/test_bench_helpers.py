"""The benchmark's pure parts: reading the functions and layers from template.yaml, the size walk
and the limit check, the Step Functions arithmetic, and the per-function import summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from openflow_sandbox import bench_imports, bench_layers, bench_power, bench_template
from openflow_sandbox.bench import markdown
from openflow_sandbox.bench import rows as bench_rows
from openflow_sandbox.bench_template import FunctionSpec, LayerSpec

ROOT = Path(__file__).resolve().parents[2]


def test_every_function_folder_is_a_function_of_the_template_and_the_other_way_round() -> None:
    functions = bench_template.functions(bench_template.load(ROOT / "template.yaml"))
    folders = {f"functions/{p.parent.name}/" for p in (ROOT / "functions").glob("*/app.py")}
    assert {fn.code_uri for fn in functions} == folders
    assert len({fn.logical_id for fn in functions}) == len(functions) >= 30
    for fn in functions:
        assert fn.module == "app"
        assert (ROOT / fn.code_uri / f"{fn.module}.py").is_file()
        assert fn.layers == ("SharedLayer", "DependenciesLayer")


def test_the_template_names_both_layers_with_their_sources() -> None:
    layers = {layer.logical_id: layer for layer in bench_template.layers(bench_template.load())}
    assert set(layers) == {"SharedLayer", "DependenciesLayer"}
    assert (ROOT / layers["DependenciesLayer"].content_uri / "requirements.txt").is_file()
    assert (ROOT / layers["SharedLayer"].content_uri / "openflow_autopilot").is_dir()


def test_short_tags_are_read_as_intrinsics_and_a_function_s_own_layers_win() -> None:
    text = """
Globals:
  Function:
    Handler: app.lambda_handler
    Layers: [!Ref SharedLayer, !Ref DependenciesLayer]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-x"
      Arn: !GetAtt Other.Arn
  OwnFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/own/
      Handler: main.handle
      Layers: [!Ref SharedLayer]
  PlainFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/plain/
"""
    template = yaml.load(text, Loader=bench_template._CfnLoader)  # noqa: S506 - SafeLoader subclass
    assert template["Resources"]["Bucket"]["Properties"] == {
        "BucketName": {"Fn::Sub": "${AWS::StackName}-x"},
        "Arn": {"Fn::GetAtt": "Other.Arn"},
    }
    own, plain = bench_template.functions(template)
    assert (own.module, own.layers) == ("main", ("SharedLayer",))
    assert (plain.handler, plain.layers) == ("app.lambda_handler", ("SharedLayer", "DependenciesLayer"))


def test_the_size_walk_adds_every_file_and_leaves_out_bytecode_caches(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "__pycache__").mkdir()
    (tmp_path / "top.py").write_bytes(b"x" * 100)
    (tmp_path / "a" / "b" / "deep.so").write_bytes(b"y" * 2048)
    (tmp_path / "a" / "__pycache__" / "top.cpython-313.pyc").write_bytes(b"z" * 999)
    assert bench_layers.tree_bytes(tmp_path) == 2148
    assert bench_layers.tree_bytes(tmp_path / "missing") == 0


def _built(tmp_path: Path, deps_bytes: int) -> bench_layers.Built:
    (tmp_path / "FnA").mkdir()
    (tmp_path / "FnA" / "app.py").write_bytes(b"a" * 10)
    (tmp_path / "SharedLayer" / "python").mkdir(parents=True)
    (tmp_path / "SharedLayer" / "python" / "m.py").write_bytes(b"s" * 20)
    (tmp_path / "DependenciesLayer" / "python").mkdir(parents=True)
    (tmp_path / "DependenciesLayer" / "python" / "big.so").write_bytes(b"d" * deps_bytes)
    return bench_layers.Built("test", tmp_path, 0.0)


FN = FunctionSpec("FnA", "functions/a/", "app.lambda_handler", ("SharedLayer", "DependenciesLayer"))
LAYERS = [
    LayerSpec("SharedLayer", "layers/shared/", None),
    LayerSpec("DependenciesLayer", "layers/deps/", None),
]


def test_a_function_s_total_is_its_code_plus_its_layers(tmp_path: Path) -> None:
    result = bench_layers.sizes(_built(tmp_path, 1000), [FN], LAYERS, limit=2000)
    assert result["layers"]["SharedLayer"]["bytes"] == 20
    assert result["layers"]["DependenciesLayer"]["bytes"] == 1000
    assert result["functions"]["FnA"] == {"code_bytes": 10, "total_bytes": 1030}
    assert result["fits"] and result["over_limit"] == []
    bench_layers.check(result)  # does not raise


def test_a_function_over_the_limit_fails_the_check(tmp_path: Path) -> None:
    result = bench_layers.sizes(_built(tmp_path, 5000), [FN], LAYERS, limit=2000)
    assert not result["fits"] and result["over_limit"] == ["FnA"]
    with pytest.raises(bench_layers.LayerLimitExceeded, match="FnA"):
        bench_layers.check(result)


def test_lambda_s_limit_is_250_mib() -> None:
    assert bench_layers.LAMBDA_UNZIPPED_LIMIT_BYTES == 262_144_000 == 250 * 1024 * 1024


def test_state_transitions_cost_two_and_a_half_cents_per_thousand() -> None:
    assert bench_power.transitions_cost_usd(1000) == pytest.approx(0.025)
    assert bench_power.transitions_cost_usd(65) == pytest.approx(0.001625)
    assert bench_power.transitions_cost_usd(0) == 0


def test_weekday_office_hours_cost_about_22_stops_and_22_starts_a_month() -> None:
    schedule = {
        "timezone": "Asia/Tokyo",
        "on_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"}],
    }
    assert bench_power.firings_per_week(schedule) == {"stop": 5, "start": 5}
    month = bench_power.monthly_schedule_cost(schedule, stop_transitions=30, start_transitions=40)
    assert month["stops_per_month"] == pytest.approx(21.74, abs=0.01)
    assert month["starts_per_month"] == pytest.approx(21.74, abs=0.01)
    assert month["transitions_per_month"] == pytest.approx(5 * 365.25 / 12 / 7 * 70, abs=0.1)
    assert month["cost_per_month_usd"] == pytest.approx(
        month["transitions_per_month"] * 0.025 / 1000, abs=1e-6
    )


def test_power_medians_are_taken_per_action() -> None:
    def run(stop: int, start: int) -> dict[str, dict[str, float]]:
        row = {"seconds": 1.0, "lambda_invocations": 3, "lambda_summed_seconds": 0.5}
        return {"stop": {**row, "state_transitions": stop}, "start": {**row, "state_transitions": start}}

    result = bench_power.summarize([run(30, 40), run(32, 44), run(31, 90)], schedule=None)
    assert result["stop"]["state_transitions"] == 31 and result["start"]["state_transitions"] == 44
    assert result["start"]["cost_usd"] == pytest.approx(0.0011)
    assert "schedule" not in result
    assert "wake_to_canary_s" not in result["start"]


def test_a_wakes_time_to_its_canary_is_a_median_of_the_runs_that_saw_it() -> None:
    def run(canary: float | None, wake: float | None) -> dict[str, dict[str, Any]]:
        row: dict[str, Any] = {"seconds": 1.0, "lambda_invocations": 3, "lambda_summed_seconds": 0.5}
        start = {**row, "state_transitions": 40, "canary_seconds": canary, "wake_to_canary_s": wake}
        return {"stop": {**row, "state_transitions": 30}, "start": start}

    result = bench_power.summarize([run(1.0, 7.0), run(3.0, 9.0), run(None, None)])
    assert result["start"]["canary_seconds"] == 2.0 and result["start"]["wake_to_canary_s"] == 8.0
    assert "canary_seconds" not in result["stop"]
    row = bench_rows({"power": result, "power_deep": result})
    deep_start = dict(row)["power start, deep sleep (one execution)"]
    assert deep_start.endswith("canary row seen 8.00 s after the start began")


def test_the_import_summary_names_the_slowest_functions_first() -> None:
    summary = bench_imports.summarize({"A": 100.0, "B": 300.0, "C": 200.0, "D": 50.0}, slowest=2)
    assert summary["functions"] == 4
    assert summary["median_ms"] == 150.0 and summary["max_ms"] == 300.0
    assert [s["function"] for s in summary["slowest"]] == ["B", "C"]


def test_the_import_path_puts_the_function_before_its_layers(tmp_path: Path) -> None:
    fn = FN
    assert bench_imports.built_paths(fn, tmp_path) == [
        tmp_path / "FnA",
        tmp_path / "SharedLayer" / "python",
        tmp_path / "DependenciesLayer" / "python",
    ]
    venv = bench_imports.venv_paths(fn, ROOT)
    assert venv[:2] == [ROOT / "functions/a/", ROOT / "layers" / "shared"]
    assert venv[2].name == "site-packages"


def test_the_readme_table_names_the_machine_and_a_skipped_layer_build() -> None:
    text = markdown(
        {
            "machine": {
                "platform": "Linux-x",
                "cpus": 2,
                "cpu_model": "CPU",
                "ram_gib": 7.8,
                "python": "3.13.0",
            },
            "layers": {"skipped": True},
        }
    )
    assert "2 cores (CPU), 7.8 GiB RAM, Python 3.13.0" in text
    assert "| built layers | skipped (--no-layers) |" in text


def test_the_watchs_month_is_express_requests_and_duration_and_stays_under_a_dollar() -> None:
    from openflow_sandbox import bench_watch

    run = {"seconds": 3.0, "state_transitions": 14, "lambda_invocations": 7, "lambda_summed_seconds": 1.5}
    month = bench_watch.monthly(run)
    assert month["runs_per_month"] == round(365.25 / 12 * 24 * 12)  # every 5 minutes
    per_run = 1e-6 + 3.0 * (64 / 1024) * 0.00001667
    assert month["express_usd_per_month"] == pytest.approx(month["runs_per_month"] * per_run, rel=1e-3)
    assert month["ceiling_seconds_per_run"] == 63.0  # the default 60 s heartbeat wait on top
    assert month["express_ceiling_usd_per_month"] < 1.0 < month["standard_usd_per_month"]
