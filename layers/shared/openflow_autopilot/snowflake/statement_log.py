"""What a session sent to Snowflake, as evidence: each statement masked (masking.py), its time and
outcome, and each file PUT to an Openflow connector's stage (config.json's content, an asset's name,
size and digest). `Sql` keeps these; the execution's artifacts in S3 store them (evidence/)."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from openflow_autopilot.snowflake.masking import mask_config, mask_statement, scrub

CONFIG_FILE = "config.json"
_MAX_DOCUMENT_BYTES = 1 << 20  # a config.json is a few KiB; anything larger is recorded by digest only
_MAX_ERROR_CHARS = 500

_ARG = r"'(?:[^'\\]|\\.|'')*'|\S+"
_PUT = re.compile(rf"^\s*PUT\s+(?P<local>{_ARG})\s+(?P<stage>{_ARG})", re.I | re.S)
_CONNECTOR_STAGE = re.compile(
    r"^snow://openflow_connector/(?P<connector>[^/]+)/versions/(?P<version>[^/]+)/?(?P<file>[^/]*)$", re.I
)


class StatementRecord(BaseModel):
    """One statement a session sent, with every secret literal masked."""

    model_config = ConfigDict(frozen=True)

    at: str  # when it was sent (UTC, ISO 8601)
    sql: str
    ok: bool
    seconds: float
    error: str | None = None  # the error class and message, with the statement's secret values removed


class StageFile(BaseModel):
    """One file PUT to a connector's versioned stage."""

    model_config = ConfigDict(frozen=True)

    at: str
    connector: str  # DB.SCHEMA.NAME as written in the stage URI
    version: str  # the version directory written (the live version)
    file: str
    ok: bool = True
    size: int | None = None
    sha256: str | None = None
    document: dict[str, Any] | None = None  # config.json's content (it names secrets, never holds them)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _unquote(arg: str) -> str:
    if len(arg) >= 2 and arg[0] == arg[-1] == "'":
        return re.sub(r"''|\\(.)", lambda m: m.group(1) or "'", arg[1:-1])
    return arg


def _local_files(local: str) -> list[str]:
    path = _unquote(local)
    if not path.lower().startswith("file://"):
        return []
    path = path[len("file://") :]
    return sorted(glob.glob(path)) if glob.has_magic(path) else [path]


def _describe(path: str, at: str, connector: str, version: str, file_name: str) -> StageFile:
    size = os.path.getsize(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    document = None
    if os.path.basename(path) == CONFIG_FILE and size <= _MAX_DOCUMENT_BYTES:
        try:
            with open(path, encoding="utf-8") as f:
                parsed = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
        document = mask_config(parsed) if isinstance(parsed, dict) else None
    return StageFile(
        at=at,
        connector=connector,
        version=version,
        file=file_name or os.path.basename(path),
        size=size,
        sha256=digest.hexdigest(),
        document=document,
    )


def stage_files_of(statement: str, *, at: str) -> list[StageFile]:
    """The files a PUT to a connector's stage uploads, read before it is sent ([] for any other
    statement; a file that cannot be read is left out: recording never breaks the PUT)."""
    m = _PUT.match(statement)
    if m is None:
        return []
    target = _CONNECTOR_STAGE.match(_unquote(m["stage"]))
    if target is None:
        return []
    found = []
    for path in _local_files(m["local"]):
        try:
            found.append(_describe(path, at, target["connector"], target["version"], target["file"]))
        except OSError:
            continue
    return found


def statement_record(
    statement: str, *, at: str, seconds: float, error: BaseException | None = None
) -> StatementRecord:
    masked = mask_statement(statement)
    text = None
    if error is not None:
        message = getattr(error, "message", None) or str(error)
        text = f"{type(error).__name__}: {scrub(message, masked.values)}"[:_MAX_ERROR_CHARS]
    return StatementRecord(at=at, sql=masked.text, ok=error is None, seconds=round(seconds, 3), error=text)
