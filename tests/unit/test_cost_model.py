"""The cost model: the seed's worked example line by line, schedules, what is never saved, price overrides."""

# ruff: noqa: RUF001  (the multiplication sign is the seed's notation for the arithmetic)

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from openflow_autopilot.config import load_request_file
from openflow_autopilot.cost.model import monthly_cost, scheduled_cost
from openflow_autopilot.cost.prices import default_prices, load_prices, with_credit_price, with_runtime_size
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.power.schedule import parse_schedule

ROOT = Path(__file__).resolve().parents[2]
REQUEST = ROOT / "events" / "provision" / "request.yaml"

# The seed's table (seed-digest.md section 8): component key, arithmetic, USD.
SEED_LINES = [
    ("openflow_service", "0.0225 credits/h × 24 × 30 × $4.30", "69.66"),
    ("nat", "$0.062/h × 24 × 30 + 200 GB × $0.062/GB", "57.04"),
    ("agent", "$0.0136/h × 24 × 30", "9.792"),
    ("runtime_nodes", "$0.2604/h × 24 × 30", "187.488"),
    ("management_nodes", "$0.5208/h × 24 × 30", "374.976"),
    ("eks", "$0.10/h × 24 × 30", "72"),
    ("s3", "1 GB × $0.025/GB", "0.025"),
    ("ingestion", "0.0037 credits/GB × 200 GB × $4.30", "3.182"),
    ("telemetry", "0.02 credits/GB × 1 GB × $4.30", "0.086"),
]
NEVER_SAVED = {"nat", "management_nodes", "eks", "s3", "ingestion", "telemetry"}


@pytest.mark.parametrize(("key", "arithmetic", "amount"), SEED_LINES)
def test_each_line_of_the_seeds_worked_example_is_reproduced_exactly(
    key: str, arithmetic: str, amount: str
) -> None:
    line = monthly_cost(default_prices()).line(key)
    assert line.arithmetic == arithmetic
    assert line.usd == Decimal(amount)


def test_the_seeds_total_is_exactly_774_249_in_the_seeds_order() -> None:
    breakdown = monthly_cost(default_prices())
    assert breakdown.total_usd == Decimal("774.249")
    assert [line.key for line in breakdown.lines] == [key for key, _, _ in SEED_LINES]
    assert breakdown.hours_in_month == 720


def test_the_example_requests_weekday_office_hours_save_the_runtime_share() -> None:
    schedule = load_request_file(REQUEST).schedule
    assert schedule is not None
    report = scheduled_cost(default_prices(), schedule)
    on = Decimal(60) * 30 / 7  # 257.14 h of 720
    runtime_per_hour = Decimal("0.0225") * Decimal("4.30") + Decimal("0.2604")
    assert report.on_hours == on
    assert report.saved_usd == runtime_per_hour * (720 - on)
    assert report.saved_usd.quantize(Decimal("0.01")) == Decimal("165.31")
    assert report.saved_percent == Decimal("21.4")
    assert report.scheduled.line("runtime_nodes").arithmetic == "$0.2604/h × 257.14 h"
    assert report.always_on.total_usd == Decimal("774.249")


def test_nat_eks_storage_volumes_and_management_nodes_are_never_counted_as_saved() -> None:
    schedule = parse_schedule(
        {"timezone": "UTC", "on_hours": [{"days": ["mon"], "start": "09:00", "end": "10:00"}]}
    )
    report = scheduled_cost(default_prices(), schedule)
    for key in NEVER_SAVED:
        assert report.scheduled.line(key).usd == report.always_on.line(key).usd, key
        assert not report.scheduled.line(key).stopped_by_schedule
    assert {line.key for line in report.still_running} == NEVER_SAVED | {"agent"}


def test_the_agent_is_saved_only_when_the_schedule_opts_in() -> None:
    base = {"timezone": "UTC", "on_hours": [{"days": ["mon"], "start": "09:00", "end": "21:00"}]}
    kept = scheduled_cost(default_prices(), parse_schedule(base))
    stopped = scheduled_cost(default_prices(), parse_schedule({**base, "stop_agent": True}))
    assert kept.scheduled.line("agent").usd == Decimal("9.792")
    assert stopped.scheduled.line("agent").usd == Decimal("0.0136") * Decimal(12) * 30 / 7
    assert "agent" not in {line.key for line in stopped.still_running}


def test_deep_sleep_stops_the_management_node_group_and_the_agent_down_to_the_floor() -> None:
    schedule = load_request_file(REQUEST).schedule
    assert schedule is not None
    runtime_only = scheduled_cost(default_prices(), schedule)
    deep = scheduled_cost(default_prices(), schedule.model_copy(update={"sleep": "deep"}))
    assert round(runtime_only.scheduled.total_usd, 2) == Decimal("608.94")
    on = deep.on_hours
    assert deep.scheduled.line("management_nodes").usd == Decimal("0.5208") * on
    assert deep.scheduled.line("agent").usd == Decimal("0.0136") * on
    assert round(deep.scheduled.total_usd) == 362 and round(deep.saved_percent) == 53
    floor = {line.key for line in deep.still_running}
    assert floor == {"nat", "eks", "s3", "ingestion", "telemetry"}
    assert deep.scheduled.sleep == "deep" and runtime_only.scheduled.sleep == "runtime"
    assert any("deep sleep" in note for note in deep.notes)
    assert any("schedule.sleep: deep" in note for note in runtime_only.notes)


def test_a_calendar_month_counts_its_own_hours_and_holidays() -> None:
    schedule = load_request_file(REQUEST).schedule
    assert schedule is not None
    report = scheduled_cost(default_prices(), schedule, month="2026-12")
    assert report.hours_in_month == 744
    assert report.on_hours == 22 * 12  # 23 weekdays, the 31st is a holiday
    assert report.always_on.line("eks").usd == Decimal("74.4")
    assert report.always_on.line("eks").arithmetic == "$0.10/h × 744 h"


def test_a_user_price_file_overrides_region_instance_prices_and_the_credit_price(tmp_path: Path) -> None:
    override = tmp_path / "prices.yaml"
    override.write_text(
        "region: us-east-1\n"
        "credit_price_usd: 3.00\n"
        "instance_prices_usd_per_hour: {m7i.xlarge: 0.2016}\n"
        "components:\n"
        "  nat: {usd_per_hour: 0.045, usd_per_gb: 0.045}\n"
        "  telemetry: null\n"
    )
    prices = load_prices(override)
    breakdown = monthly_cost(prices)
    assert prices.region == "us-east-1"
    assert breakdown.line("runtime_nodes").usd == Decimal("0.2016") * 720
    assert breakdown.line("openflow_service").usd == Decimal("0.0225") * 720 * 3
    assert breakdown.line("nat").usd == Decimal("0.045") * 720 + 200 * Decimal("0.045")
    assert breakdown.line("agent").usd == Decimal("9.792")  # untouched instance prices stay
    assert "telemetry" not in {line.key for line in breakdown.lines}


def test_a_price_file_can_mark_a_component_as_stopping_with_the_runtime(tmp_path: Path) -> None:
    override = tmp_path / "prices.json"
    override.write_text('{"components": {"management_nodes": {"stops_with": "runtime"}}}')
    schedule = parse_schedule(
        {"timezone": "UTC", "on_hours": [{"days": ["mon"], "start": "09:00", "end": "10:00"}]}
    )
    report = scheduled_cost(load_prices(override), schedule)
    assert report.scheduled.line("management_nodes").stopped_by_schedule


def test_an_instance_type_without_a_price_is_rejected_naming_the_component(tmp_path: Path) -> None:
    override = tmp_path / "prices.yaml"
    override.write_text("components:\n  agent: {instance_type: t3.nano}\n")
    with pytest.raises(InvalidRequest, match=r"components.agent: no price for instance type t3.nano"):
        load_prices(override)


def test_an_unknown_field_in_a_price_file_is_rejected(tmp_path: Path) -> None:
    override = tmp_path / "prices.yaml"
    override.write_text("credit_prize_usd: 3\n")
    with pytest.raises(InvalidRequest, match="credit_prize_usd"):
        load_prices(override)


def test_the_credit_price_can_be_overridden_alone() -> None:
    prices = with_credit_price(default_prices(), Decimal("2.00"))
    assert monthly_cost(prices).line("openflow_service").usd == Decimal("32.4")


def test_a_medium_runtime_uses_its_node_type_and_four_vcpus_of_service() -> None:
    breakdown = monthly_cost(with_runtime_size(default_prices(), "MEDIUM"))
    assert breakdown.line("runtime_nodes").name == "EC2 m7i.4xlarge (runtime node group)"
    assert breakdown.line("openflow_service").arithmetic == "0.0225 credits/h × 4 vCPU × 24 × 30 × $4.30"
    assert breakdown.line("openflow_service").usd == Decimal("278.64")


def test_on_hours_beyond_the_month_are_rejected() -> None:
    with pytest.raises(InvalidRequest, match="not between 0"):
        monthly_cost(default_prices(), on_hours_per_month=Decimal(721))
