"""A gen 2 connector's config.json: read it from and write it to the connector's versioned stage.

Snowflake keeps each connector version's files on a stage addressed as
``snow://openflow_connector/<db.schema.name>/versions/<version>/`` (gen2/connector-versioning):
GET downloads config.json, PUT uploads it to the writable ``live`` version, and
``ALTER OPENFLOW CONNECTOR ... COMMIT`` freezes the live version. The real connector's GET/PUT do
the transfer (to a local temporary directory; /tmp in Lambda).

`ConnectorConfigStore` is the small interface the connector phase needs, so tests can hand it a
dict-backed store; `merge_parameters` edits a config while keeping every key it does not own.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.openflow.connector_parameters import PARAMETERS_KEY
from openflow_autopilot.snowflake.identifiers import split_qualified
from openflow_autopilot.snowflake.session import Sql

CONFIG_FILE = "config.json"
LIVE = "live"


class ConnectorConfigStore(Protocol):
    def get(self, connector: str, version: str) -> dict[str, Any]:
        """config.json of a version (``live`` or a name such as VERSION$2)."""
        ...

    def put(self, connector: str, config: Mapping[str, Any]) -> None:
        """Replace config.json in the live version."""
        ...


def stage_uri(connector: str, version: str, file_name: str = "") -> str:
    db, schema, name = split_qualified(connector, 3, "connector")
    if version != LIVE and not version.replace("$", "").isalnum():
        raise ValueError(f"not a connector version name: {version!r}")
    return f"snow://openflow_connector/{db}.{schema}.{name}/versions/{version}/{file_name}"


def _path_literal(path: Path) -> str:
    text = path.as_posix()
    if "'" in text or "\\" in text:
        raise ValueError(f"temporary path {text!r} cannot be quoted safely")
    return f"'file://{text}'"


class StageConfigStore:
    """GET/PUT of config.json through the Snowflake connector's file transfer."""

    def __init__(self, sql: Sql, *, workdir: str | None = None) -> None:
        self._sql = sql
        self._workdir = workdir

    def get(self, connector: str, version: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(dir=self._workdir, prefix="openflow-config-") as tmp:
            local = Path(tmp)
            source = stage_uri(connector, version, CONFIG_FILE)
            self._sql.query(f"GET '{source}' {_path_literal(local)}/")
            path = local / CONFIG_FILE
            if not path.exists():
                raise PreconditionFailed(
                    f"GET of {source} returned no config.json",
                    call=f"GET '{source}'",
                    fix="check the version",
                )
            try:
                config = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise PreconditionFailed(
                    f"{source} is not valid JSON: {exc}", call=f"GET '{source}'"
                ) from None
        if not isinstance(config, dict):
            raise PreconditionFailed(f"{source} does not hold a JSON object", call=f"GET '{source}'")
        return config

    def put(self, connector: str, config: Mapping[str, Any]) -> None:
        with tempfile.TemporaryDirectory(dir=self._workdir, prefix="openflow-config-") as tmp:
            path = Path(tmp) / CONFIG_FILE
            path.write_text(json.dumps(config, indent=2, sort_keys=False), encoding="utf-8")
            target = stage_uri(connector, LIVE)
            self._sql.query(f"PUT {_path_literal(path)} '{target}' AUTO_COMPRESS = FALSE OVERWRITE = TRUE")


def merge_parameters(
    config: Mapping[str, Any], values: Mapping[str, Any], *, remove: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[str]]:
    """A copy of `config` with `values` set under PARAMETERS_KEY (and `remove` dropped); every other
    key, at every level, is kept. Returns (new config, names of the parameters that changed)."""
    merged = copy.deepcopy(dict(config))
    params = merged.setdefault(PARAMETERS_KEY, {})
    if not isinstance(params, dict):
        raise PreconditionFailed(
            f"config.json has '{PARAMETERS_KEY}' but it is not a JSON object",
            fix="check the connector definition's config.json layout (connector_parameters.PARAMETERS_KEY)",
        )
    changed = [name for name, value in values.items() if params.get(name) != value]
    changed += [name for name in remove if name in params]
    for name, value in values.items():
        params[name] = copy.deepcopy(value)
    for name in remove:
        params.pop(name, None)
    return merged, changed
