"""What the emulation received, on disk, for whoever debugs the sandbox.

`<dir>/snowflake-statements.jsonl`: one JSON object per statement (user, role, the session's
application, time, ok, kind, and the SQL with its secret literals masked by the product's own
masker). `<dir>/connector-stages/<DB>.<SCHEMA>.<CONNECTOR>/<version>/<file>`: every file accepted
onto a connector's stage, saved under `live` when uploaded and copied under the version's name
(VERSION$n) when a COMMIT makes the live version that version. The Sandbox (or the demo) chooses
the directory; nothing is written without one.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from pathlib import Path
from typing import Any

from openflow_autopilot.snowflake.masking import mask_config, mask_secrets

STATEMENTS_FILE = "snowflake-statements.jsonl"
STAGES_DIR = "connector-stages"
LIVE = "live"


def _safe(part: str) -> str:
    """A path component from a name the emulation accepted (no separators, no parent links)."""
    cleaned = part.replace("/", "_").replace("\\", "_").replace("\x00", "_")
    return "_" if cleaned in ("", ".", "..") else cleaned


class EmulationRecorder:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        # a new run starts from nothing: stale files from an earlier run would mislead
        (self.directory / STATEMENTS_FILE).unlink(missing_ok=True)
        shutil.rmtree(self.directory / STAGES_DIR, ignore_errors=True)
        self._lock = threading.Lock()

    @property
    def statements_path(self) -> Path:
        return self.directory / STATEMENTS_FILE

    def stage_dir(self, connector: str, version: str) -> Path:
        return self.directory / STAGES_DIR / _safe(connector) / _safe(version)

    def statement(self, record: dict[str, Any]) -> None:
        line = {**record, "sql": mask_secrets(str(record.get("sql", "")))}
        with self._lock, self.statements_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line, default=str) + "\n")

    def stage_file(self, connector: str, file_name: str, content: bytes) -> None:
        """A file accepted onto the connector's live version."""
        if file_name.endswith(".json"):
            # config.json names secrets; a literal credential in it is masked all the same
            with contextlib.suppress(UnicodeDecodeError, json.JSONDecodeError):
                content = (json.dumps(mask_config(json.loads(content)), indent=2) + "\n").encode()
        target = self.stage_dir(connector, LIVE) / _safe(file_name)
        with self._lock:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)

    def committed(self, connector: str, version: str) -> None:
        """COMMIT made the live version `version`: its files, as uploaded, under that name too."""
        live, target = self.stage_dir(connector, LIVE), self.stage_dir(connector, version)
        with self._lock:
            if live.is_dir():
                shutil.copytree(live, target, dirs_exist_ok=True)
