"""Calendar months in a time zone: parsing 'YYYY-MM' and the first instants of a month and of
the next one as UTC datetimes. The cost estimates, the measured costs and the power records count
by month whether or not a schedule is involved, so these helpers stand apart from the on/off
arithmetic in schedule.py (whose month_hours builds on them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from openflow_autopilot.errors import InvalidRequest

# Months the cost and history commands count: the calendar arithmetic (a month's last day in a
# timezone, UTC offsets) needs a year with a neighbour on both sides, and no record predates 2000.
FIRST_YEAR, LAST_YEAR = 2000, 2999


def parse_month(month: str) -> tuple[int, int]:
    """'2026-03' -> (2026, 3)."""
    try:
        year_text, mon_text = month.split("-")
        if len(year_text) != 4 or len(mon_text) != 2:
            raise ValueError(month)
        year, mon = int(year_text), int(mon_text)
        date(year, mon, 1)
    except ValueError:
        raise InvalidRequest(f"month: {month!r} is not a month as YYYY-MM, e.g. 2026-03") from None
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidRequest(
            f"month: {month!r} is outside the months counted ({FIRST_YEAR}-01 to {LAST_YEAR}-12)",
            fix="give a month such as 2026-03",
        )
    return year, mon


def month_bounds(timezone: str, month: str) -> tuple[datetime, datetime]:
    """The first instant of `month` and of the next month in `timezone`, as UTC datetimes."""
    year, mon = parse_month(month)
    zone = ZoneInfo(timezone)
    nxt = (year + 1, 1) if mon == 12 else (year, mon + 1)
    start = datetime(year, mon, 1, tzinfo=zone).astimezone(UTC)
    return start, datetime(*nxt, 1, tzinfo=zone).astimezone(UTC)
