"""`cost [-c FILE] [--prices FILE] [--json] [--chart FILE] [--actual --bucket B ...]`: outputs, exit codes,
the PNG chart; and that matplotlib stays out of everything but --chart."""

# ruff: noqa: RUF001  (the multiplication sign is the seed's notation for the arithmetic)

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.cost.chart import render_chart
from openflow_autopilot.cost.model import monthly_cost
from openflow_autopilot.cost.prices import default_prices
from openflow_autopilot.cost.records import PowerRecord, append_record
from openflow_autopilot_cli import cost as cli_cost

ROOT = Path(__file__).resolve().parents[2]
REQUEST = ROOT / "events" / "provision" / "request.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NOW = datetime(2026, 3, 4, 12, tzinfo=UTC)


def run(*argv: str, s3: Any = None) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="openflow-autopilot")
    cli_cost.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["cost", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, stdout=out, stderr=err, now=NOW, s3=s3)
    return code, out.getvalue(), err.getvalue()


def test_no_arguments_print_the_seeds_example_line_by_line_with_the_total_and_yen() -> None:
    code, out, _ = run()
    assert code == 0
    lines = out.splitlines()
    expected = [
        ("Openflow service", "0.0225 credits/h × 24 × 30 × $4.30", "$69.66"),
        ("VPC (NAT gateway, 200 GB)", "$0.062/h × 24 × 30 + 200 GB × $0.062/GB", "$57.04"),
        ("EC2 t3.medium (agent)", "$0.0136/h × 24 × 30", "$9.792"),
        ("EC2 m7i.xlarge (runtime node group)", "$0.2604/h × 24 × 30", "$187.488"),
        ("EC2 m7i.2xlarge (management node group)", "$0.5208/h × 24 × 30", "$374.976"),
        ("EKS cluster", "$0.10/h × 24 × 30", "$72"),
        ("S3 (logs, 1 GB)", "1 GB × $0.025/GB", "$0.025"),
        ("Ingestion (Snowpipe Streaming, 200 GB)", "0.0037 credits/GB × 200 GB × $4.30", "$3.182"),
        ("Telemetry (1 GB)", "0.02 credits/GB × 1 GB × $4.30", "$0.086"),
    ]
    body = [line for line in lines if line.startswith("  ") and "$" in line]
    for (name, arithmetic, amount), line in zip(expected, body, strict=False):
        assert line.split()[0] == name.split()[0] and name in line and arithmetic in line
        assert line.rstrip().endswith(amount), line
    total = next(line for line in lines if line.strip().startswith("total"))
    assert "$774.249" in total and "≈ ¥108,395 at ¥140/$" in total


def test_json_output_carries_every_line_and_the_total() -> None:
    code, out, _ = run("--json")
    data = json.loads(out)
    assert code == 0
    assert data["total_usd"] == 774.249
    assert [line["usd"] for line in data["lines"]] == [
        69.66,
        57.04,
        9.792,
        187.488,
        374.976,
        72,
        0.025,
        3.182,
        0.086,
    ]
    assert data["converted"] == {"JPY": 108395}


def test_with_the_example_request_it_compares_always_on_and_scheduled_and_names_what_keeps_running() -> None:
    code, out, _ = run("-c", str(REQUEST))
    assert code == 0
    assert "Schedule: Asia/Tokyo, mon,tue,wed,thu,fri 08:00-20:00" in out
    assert "Runtime on 257.14 h of 720 h" in out
    assert "Saving: $165.309 a month (21.4%)" in out
    running = out.split("Still running while stopped", 1)[1]
    for name in ("VPC (NAT gateway", "EKS cluster", "S3 (logs", "management node group"):
        assert name in running
    assert "runtime node group" not in running


def test_json_with_a_schedule_and_a_month_counts_that_calendar_month() -> None:
    code, out, _ = run("-c", str(REQUEST), "--month", "2026-12", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["on_hours"] == 264 and data["hours_in_month"] == 744
    assert data["saved_usd"] > 0 and data["month"] == "2026-12"


def test_a_price_file_and_a_credit_price_change_the_output(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("region: us-east-1\ninstance_prices_usd_per_hour: {m7i.2xlarge: 0.4032}\n")
    code, out, _ = run("--prices", str(prices), "--credit-price", "3", "--json")
    data = json.loads(out)
    assert code == 0 and data["region"] == "us-east-1"
    assert data["lines"][0]["usd"] == 48.6  # 0.0225 x 720 x 3
    assert data["lines"][4]["usd"] == 290.304


def test_an_invalid_request_file_exits_2_with_the_field_named(tmp_path: Path) -> None:
    bad = tmp_path / "request.yaml"
    bad.write_text(REQUEST.read_text().replace('end: "20:00"', 'end: "07:00"'))
    code, out, err = run("-c", str(bad))
    assert code == 2 and out == ""
    assert "schedule.on_hours.0" in err and "overnight: true" in err


def test_a_bad_month_exits_2() -> None:
    code, _, err = run("--month", "2026-13")
    assert code == 2 and "YYYY-MM" in err


def test_actual_without_a_bucket_exits_2() -> None:
    code, _, err = run("--actual")
    assert code == 2 and "--bucket" in err


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="state")
        yield client


def test_actual_reports_the_month_so_far_from_records(s3: Any, tmp_path: Path) -> None:
    for action, day, hour in (("stop", 27, 11), ("start", 1, 23), ("stop", 2, 11), ("start", 2, 23)):
        month = 2 if day == 27 else 3
        at = datetime(2026, month, day, hour, tzinfo=UTC)
        record = PowerRecord.model_validate(
            {"deployment": "SALES_CDC_DEPLOYMENT", "action": action, "at": at}
        )
        append_record(s3, "state", "power-records", record)
    chart = tmp_path / "actual.png"
    code, out, err = run("--actual", "--bucket", "state", "-c", str(REQUEST), "--chart", str(chart), s3=s3)
    assert code == 0, err
    # Tokyo's March began at 15:00 UTC on 28 Feb; now is 21:00 on 4 March in Tokyo
    assert "Actual cost of SALES_CDC_DEPLOYMENT, 2026-03 (Asia/Tokyo)" in out
    # 28 Feb 15:00 UTC to 4 March 12:00 UTC is 93 h;
    # on from 23:00 to 11:00 (12 h) and from 23:00 on the 2nd (37 h)
    assert "Runtime on 49 h of 93 h, from 3 record(s); at the start of the month: off" in out
    assert "Saved so far:" in out
    assert chart.read_bytes().startswith(PNG_MAGIC)


def test_actual_with_no_records_exits_1(s3: Any) -> None:
    code, _, err = run("--actual", "--bucket", "state", "--deployment", "NOPE", s3=s3)
    assert code == 1 and "no power records for NOPE" in err


def test_chart_writes_a_png_comparing_always_on_and_scheduled(tmp_path: Path) -> None:
    chart = tmp_path / "cost.png"
    code, _, err = run("-c", str(REQUEST), "--chart", str(chart))
    assert code == 0 and f"chart written to {chart}" in err
    data = chart.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_a_chart_of_one_breakdown_alone_is_a_png_too(tmp_path: Path) -> None:
    path = render_chart(monthly_cost(default_prices()), None, tmp_path / "one.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_the_cost_and_schedule_modules_do_not_import_matplotlib() -> None:
    code = (
        "import sys, openflow_autopilot.cost.model, openflow_autopilot.cost.chart, "
        "openflow_autopilot.power.schedule, openflow_autopilot_cli.cost; "
        "sys.exit('matplotlib' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
