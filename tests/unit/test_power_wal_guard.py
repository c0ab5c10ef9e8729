"""The WAL guard's verdict on a stop, with numbers: refusing a weekend stop, shortening it, allowing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openflow_autopilot.postgres.models import WalSample
from openflow_autopilot.postgres.wal_guard import SlotWal, assess
from openflow_autopilot.power.wal import judge, usable_sample

GIB = 2**30
FRIDAY_EVENING = datetime(2026, 3, 13, 11, 0, tzinfo=UTC)  # 20:00 in Tokyo
WEEKEND = 60.0  # Friday 20:00 to Monday 08:00


def report(*, free_gib: float | None, gib_per_hour: float | None, found: bool = True, **slot: object):
    fields: dict[str, object] = {
        "name": "openflow_sales_cdc",
        "active": True,
        "wal_status": "reserved",
        "retained_bytes": 1 * GIB,
        "safe_wal_size": None,
    }
    fields.update(slot)
    return assess(
        slot_name="openflow_sales_cdc",
        slot=SlotWal(**fields) if found else None,  # type: ignore[arg-type]
        sample=WalSample(at=FRIDAY_EVENING, position_bytes=123 * GIB),
        rate_bytes_per_second=None if gib_per_hour is None else gib_per_hour * GIB / 3600,
        free_storage_bytes=None if free_gib is None else int(free_gib * GIB),
    )


def test_a_weekend_stop_is_refused_when_the_disk_fills_before_monday() -> None:
    # 40 GiB free at 1 GiB/h of WAL: 40 h of headroom; 60 h off x 1.25 needs 75 h.
    verdict = judge(
        report(free_gib=40, gib_per_hour=1), off_hours=WEEKEND, at=FRIDAY_EVENING, allow_shorten=False
    )
    assert verdict.decision == "refuse"
    assert verdict.headroom_hours == pytest.approx(40.0) and verdict.needed_hours == pytest.approx(75.0)
    assert "40.0 h" in verdict.reason and "60.0 h off period" in verdict.reason and "75.0 h" in verdict.reason
    assert "free storage 40.0 GiB" in verdict.reason and "WAL rate 1024 MiB/h" in verdict.reason
    assert "shorten_stops" in verdict.reason  # says how to allow a shorter stop


def test_the_same_weekend_stop_is_shortened_when_the_request_allows_it() -> None:
    verdict = judge(
        report(free_gib=40, gib_per_hour=1), off_hours=WEEKEND, at=FRIDAY_EVENING, allow_shorten=True
    )
    assert verdict.decision == "shorten"
    assert verdict.restart_at == FRIDAY_EVENING + timedelta(hours=32)  # 40 h / 1.25
    assert "stopping for 32.0 h only" in verdict.reason


def test_a_stop_with_enough_headroom_is_allowed() -> None:
    verdict = judge(
        report(free_gib=200, gib_per_hour=1), off_hours=WEEKEND, at=FRIDAY_EVENING, allow_shorten=False
    )
    assert verdict.decision == "allow" and "200.0 h of WAL headroom covers the 60.0 h" in verdict.reason


def test_the_slot_limit_counts_when_it_comes_before_the_disk() -> None:
    limited = report(free_gib=500, gib_per_hour=1, safe_wal_size=30 * GIB)
    assert judge(limited, off_hours=WEEKEND, at=FRIDAY_EVENING, allow_shorten=False).decision == "refuse"


def test_an_overnight_stop_fits_where_the_weekend_does_not() -> None:
    assert (
        judge(
            report(free_gib=40, gib_per_hour=1), off_hours=12, at=FRIDAY_EVENING, allow_shorten=False
        ).decision
        == "allow"
    )


def test_without_a_schedule_72_hours_are_assumed() -> None:
    verdict = judge(
        report(free_gib=80, gib_per_hour=1), off_hours=None, at=FRIDAY_EVENING, allow_shorten=False
    )
    assert verdict.decision == "refuse" and verdict.off_hours == 72.0 and "72 h assumed" in verdict.reason


def test_no_slot_means_no_wal_is_kept_so_the_stop_is_allowed() -> None:
    verdict = judge(
        report(free_gib=1, gib_per_hour=5, found=False),
        off_hours=WEEKEND,
        at=FRIDAY_EVENING,
        allow_shorten=False,
    )
    assert verdict.decision == "allow" and "does not exist" in verdict.reason


def test_an_unmeasured_rate_or_a_critical_slot_refuses_even_when_shortening_is_allowed() -> None:
    unknown = judge(
        report(free_gib=40, gib_per_hour=None), off_hours=12, at=FRIDAY_EVENING, allow_shorten=True
    )
    assert unknown.decision == "refuse" and "could not be measured" in unknown.reason
    critical = judge(report(free_gib=10, gib_per_hour=1), off_hours=12, at=FRIDAY_EVENING, allow_shorten=True)
    assert critical.decision == "refuse" and "critical" in critical.reason
    lost = judge(
        report(free_gib=500, gib_per_hour=1, wal_status="lost"),
        off_hours=1,
        at=FRIDAY_EVENING,
        allow_shorten=True,
    )
    assert lost.decision == "refuse" and "invalidated" in lost.reason


def test_a_shortened_stop_under_an_hour_is_refused_instead() -> None:
    tiny = report(free_gib=25.5, gib_per_hour=25)  # ~1 h of headroom: level critical
    assert judge(tiny, off_hours=12, at=FRIDAY_EVENING, allow_shorten=True).decision == "refuse"


def test_a_previous_sample_gives_a_rate_only_if_it_is_old_enough_and_not_too_old() -> None:
    now = FRIDAY_EVENING

    def sample(age: timedelta) -> WalSample:
        return WalSample(at=now - age, position_bytes=0)

    assert not usable_sample(None, now, 300)
    assert not usable_sample(sample(timedelta(seconds=30)), now, 300)
    assert usable_sample(sample(timedelta(hours=12)), now, 300)
    assert not usable_sample(sample(timedelta(days=30)), now, 300)
