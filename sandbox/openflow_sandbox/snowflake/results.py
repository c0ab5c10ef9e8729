"""Result sets in the JSON shape of a Snowflake query response (``queryResultFormat: json``).

The connector builds its cursor description from ``rowtype`` and converts each ``rowset`` cell
(always a string or null) with the column's type, so SHOW output reads back as real Python values:
timestamps as aware datetimes, numbers as ints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ColumnType = Literal["text", "fixed", "timestamp_ltz", "boolean"]

# statementTypeId values Snowflake returns (see fakesnow.statement_type); none is DML, so the
# connector reads rows instead of an affected-row count.
SELECT_TYPE_ID = 0x1000
SHOW_TYPE_ID = 0x4400
DESCRIBE_TYPE_ID = 0x4500
USE_TYPE_ID = 0x4300
DDL_TYPE_ID = 0x6000


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType = "text"

    def rowtype(self) -> dict[str, Any]:
        text = self.type == "text"
        return {
            "name": self.name,
            "database": "",
            "schema": "",
            "table": "",
            "nullable": True,
            "type": self.type,
            "length": 16777216 if text else None,
            "byteLength": 16777216 if text else None,
            "precision": 38 if self.type == "fixed" else 0 if self.type == "timestamp_ltz" else None,
            "scale": 0 if self.type == "fixed" else 9 if self.type == "timestamp_ltz" else None,
            "collation": None,
        }

    def cell(self, value: object) -> str | None:
        if value is None:
            return None
        if self.type == "timestamp_ltz":
            assert isinstance(value, datetime)
            return f"{value.timestamp():.9f}"
        if self.type == "boolean":
            return "1" if value else "0"
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


def columns(spec: str) -> tuple[Column, ...]:
    """``"created_on:ts name owner auto_suspend:int"`` -> columns (text unless typed)."""
    kinds: dict[str, ColumnType] = {"ts": "timestamp_ltz", "int": "fixed", "bool": "boolean"}
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append(Column(name, kinds[kind] if kind else "text"))
    return tuple(out)


@dataclass
class Result:
    columns: Sequence[Column]
    rows: Sequence[Sequence[object]] = field(default_factory=list)
    statement_type_id: int = SELECT_TYPE_ID

    def json_data(self) -> dict[str, Any]:
        return {
            "rowtype": [c.rowtype() for c in self.columns],
            "rowset": [[c.cell(v) for c, v in zip(self.columns, row, strict=True)] for row in self.rows],
            "total": len(self.rows),
            "returned": len(self.rows),
            "queryResultFormat": "json",
            "statementTypeId": self.statement_type_id,
        }


def status(message: str, type_id: int = DDL_TYPE_ID) -> Result:
    """The one-row ``status`` result DDL statements return."""
    return Result((Column("status"),), [(message,)], type_id)


def executed() -> Result:
    return status("Statement executed successfully.")


def properties_result(rows: list[tuple[str, object, object, str]]) -> Result:
    """DESC USER style output: one row per property."""
    return Result(columns("property value default description"), list(rows), DESCRIBE_TYPE_ID)
