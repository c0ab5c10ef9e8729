"""WAL guard arithmetic and pgoutput decoding: pure functions, time passed in."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.postgres.models import WalSample
from openflow_autopilot.postgres.proof import decode_pgoutput
from openflow_autopilot.postgres.wal_guard import SlotWal, assess, fits_off_period, wal_rate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GIB = 2**30
MIB = 2**20


def sample(position: int, at: datetime = NOW) -> WalSample:
    return WalSample(at=at, position_bytes=position)


def slot(**changes: object) -> SlotWal:
    base: dict[str, object] = {
        "name": "openflow_slot",
        "active": False,
        "wal_status": "reserved",
        "retained_bytes": 2 * GIB,
        "safe_wal_size": None,
    }
    base.update(changes)
    return SlotWal(**base)  # type: ignore[arg-type]


def test_the_wal_rate_is_bytes_per_second_between_two_samples() -> None:
    earlier = sample(1_000_000, NOW - timedelta(minutes=10))
    assert wal_rate(earlier, sample(1_000_000 + 600 * 5000)) == 5000.0


def test_a_wal_rate_needs_the_earlier_sample_first() -> None:
    with pytest.raises(InvalidRequest):
        wal_rate(sample(10), sample(20, NOW - timedelta(seconds=1)))


def test_hours_until_storage_is_full_is_free_storage_over_the_wal_rate() -> None:
    rate = 100 * MIB / 3600  # 100 MiB per hour
    report = assess(
        slot_name="openflow_slot", slot=slot(), sample=sample(0), rate_bytes_per_second=rate,
        free_storage_bytes=10 * GIB,
    )  # fmt: skip
    assert report.hours_until_storage_full == pytest.approx(102.4)
    assert report.level == "ok"
    assert report.retained_bytes == 2 * GIB
    assert report.headroom_hours == pytest.approx(102.4)


def test_less_than_72_hours_is_a_warning_and_less_than_24_is_critical() -> None:
    rate = GIB / 3600  # 1 GiB per hour
    warn = assess(
        slot_name="s", slot=slot(), sample=sample(0), rate_bytes_per_second=rate, free_storage_bytes=48 * GIB
    )
    crit = assess(
        slot_name="s", slot=slot(), sample=sample(0), rate_bytes_per_second=rate, free_storage_bytes=12 * GIB
    )
    assert (warn.level, crit.level) == ("warning", "critical")
    assert "48.0 h until storage is full" in warn.message


def test_the_slot_limit_counts_when_it_comes_before_the_disk() -> None:
    rate = GIB / 3600
    report = assess(
        slot_name="s", slot=slot(safe_wal_size=10 * GIB), sample=sample(0), rate_bytes_per_second=rate,
        free_storage_bytes=500 * GIB,
    )  # fmt: skip
    assert report.hours_until_slot_limit == pytest.approx(10)
    assert report.headroom_hours == pytest.approx(10)
    assert report.level == "critical"
    assert "the slot limit" in report.message


def test_without_a_rate_the_level_is_unknown_and_the_sample_is_returned_for_next_time() -> None:
    report = assess(
        slot_name="s", slot=slot(), sample=sample(123), rate_bytes_per_second=None, free_storage_bytes=GIB
    )
    assert report.level == "unknown"
    assert report.sample.position_bytes == 123
    assert not fits_off_period(report, 1)


def test_no_wal_growth_is_ok() -> None:
    report = assess(
        slot_name="s", slot=slot(), sample=sample(0), rate_bytes_per_second=0.0, free_storage_bytes=GIB
    )
    assert report.level == "ok"
    assert report.hours_until_storage_full is None
    assert fits_off_period(report, 1000)


def test_a_lost_slot_is_critical() -> None:
    report = assess(
        slot_name="s", slot=slot(wal_status="lost"), sample=sample(0), rate_bytes_per_second=1.0,
        free_storage_bytes=GIB,
    )  # fmt: skip
    assert report.level == "critical"


def test_a_missing_slot_is_reported_as_such() -> None:
    report = assess(
        slot_name="s", slot=None, sample=sample(0), rate_bytes_per_second=1.0, free_storage_bytes=GIB
    )
    assert not report.slot_found
    assert report.retained_bytes is None
    assert report.message.startswith("slot s does not exist")


def test_an_off_period_fits_only_with_a_safety_margin() -> None:
    rate = GIB / 3600
    report = assess(
        slot_name="s", slot=slot(), sample=sample(0), rate_bytes_per_second=rate, free_storage_bytes=100 * GIB
    )
    assert fits_off_period(report, 60)  # 60 h * 1.25 = 75 h <= 100 h
    assert not fits_off_period(report, 90)


def test_the_report_has_a_json_form() -> None:
    report = assess(
        slot_name="s", slot=slot(), sample=sample(0), rate_bytes_per_second=1.0, free_storage_bytes=GIB
    )
    text = report.to_json()
    assert '"headroom_hours"' in text and '"level": "ok"' in text


def _relation(oid: int, namespace: str, name: str) -> bytes:
    return b"R" + struct.pack("!I", oid) + namespace.encode() + b"\0" + name.encode() + b"\0" + b"d" + b"\0\0"


def test_pgoutput_messages_are_decoded_to_kind_and_relation() -> None:
    messages = [
        b"B" + bytes(20),
        _relation(16384, "public", "sample_data"),
        b"I" + struct.pack("!I", 16384) + b"N\0\0",
        b"U" + struct.pack("!I", 16384) + b"N\0\0",
        _relation(16390, "My Schema", "Order-Items"),
        b"D" + struct.pack("!I", 16390) + b"K\0\0",
        b"T" + struct.pack("!I", 2) + b"\0" + struct.pack("!II", 16384, 16390),
        b"C" + bytes(25),
    ]
    decoded = [(d.kind, d.relation) for d in decode_pgoutput(messages)]
    assert decoded == [
        ("BEGIN", None),
        ("RELATION", "public.sample_data"),
        ("INSERT", "public.sample_data"),
        ("UPDATE", "public.sample_data"),
        ("RELATION", '"My Schema"."Order-Items"'),
        ("DELETE", '"My Schema"."Order-Items"'),
        ("TRUNCATE", 'public.sample_data, "My Schema"."Order-Items"'),
        ("COMMIT", None),
    ]
