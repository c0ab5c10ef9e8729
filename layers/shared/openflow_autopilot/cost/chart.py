"""PNG bar chart of the monthly cost per component: always on vs scheduled (or actual).

matplotlib is a CLI-only dependency: it is imported inside render_chart, never at module import,
so Lambda code that imports the cost package does not need it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from openflow_autopilot.cost.model import CostBreakdown, plain

_ALWAYS_COLOUR = "#9e9e9e"
_SCHEDULED_COLOUR = "#1f77b4"


def _money(value: Decimal) -> str:
    # "\\$": a bare "$" starts matplotlib's math mode
    return f"\\${plain(value, 2)}"


def render_chart(
    breakdown_always_on: CostBreakdown,
    breakdown_scheduled: CostBreakdown | None,
    path: str | Path,
    *,
    title: str = "Openflow monthly cost by component",
) -> Path:
    """Write a horizontal grouped bar chart to `path` (PNG) and return the path. Components that keep
    running while the runtime is stopped are marked, since a schedule never saves them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    always = breakdown_always_on
    other = breakdown_scheduled
    names = [
        line.name.replace("$", "\\$")
        + ("" if other is None or other.line(line.key).stopped_by_schedule else "  (keeps running)")
        for line in always.lines
    ]
    count = len(names)
    fig = Figure(figsize=(11, 0.55 * count + 2.2), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    height = 0.38 if other is not None else 0.6
    rows = list(range(count))
    values = [float(line.usd) for line in always.lines]
    offset = height / 2 if other is not None else 0.0
    bars = ax.barh(
        [r - offset for r in rows],
        values,
        height,
        color=_ALWAYS_COLOUR,
        label=f"{always.label}: {_money(always.total_usd)}",
    )
    ax.bar_label(bars, labels=[_money(line.usd) for line in always.lines], padding=3, fontsize=8)
    if other is not None:
        values2 = [float(other.line(line.key).usd) for line in always.lines]
        bars2 = ax.barh(
            [r + offset for r in rows],
            values2,
            height,
            color=_SCHEDULED_COLOUR,
            label=f"{other.label}: {_money(other.total_usd)}",
        )
        ax.bar_label(
            bars2, labels=[_money(other.line(line.key).usd) for line in always.lines], padding=3, fontsize=8
        )
        saved = always.total_usd - other.total_usd
        pct = saved * 100 / always.total_usd if always.total_usd else Decimal(0)
        subtitle = f"saves {_money(saved)} ({plain(pct, 1)}%) of {_money(always.total_usd)}"
    else:
        subtitle = f"total {_money(always.total_usd)}"
    ax.set_yticks(rows, names, fontsize=9)
    ax.invert_yaxis()  # first component on top, in the table's order
    ax.set_xlabel("USD per month")
    ax.set_xlim(0, max(values) * 1.18 if values and max(values) > 0 else 1)
    ax.set_title(f"{title}\n{subtitle}", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    out = Path(path)
    fig.savefig(out, format="png")
    return out
