"""A gen 2 connector's config.json: read it from and write it to the connector's versioned stage.

Snowflake keeps each connector version's files on a stage addressed as
``snow://openflow_connector/<db.schema.name>/versions/<version>/`` (gen2/connector-versioning):
GET downloads config.json, PUT uploads it to the writable ``live`` version, and
``ALTER OPENFLOW CONNECTOR ... COMMIT`` freezes the live version. The real connector's GET/PUT do
the transfer (to a local temporary directory; /tmp in Lambda).

The file's layout (gen2/configure-connector-sql): ``configFormatVersion``, ``connectorDefinitionId``
and ``configuration``, a list of sections ``{name, properties}``; each property is an object with a
``valueType`` (STRING_LITERAL, SECRET_REFERENCE, ASSET_REFERENCE) and exactly the field that type
uses (``value``, ``fullyQualifiedSecretName``, ``assetIds``). Assets such as the JDBC driver jar are
PUT into the same live version directory.

`ConnectorConfigStore` is the small interface the connector phase needs, so tests can hand it a
dict-backed store; `set_properties` edits values inside the downloaded document and never adds a
property the document does not have.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.openflow.connector_parameters import VALUE_FIELDS, ValueType
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

    def put_asset(self, connector: str, file_name: str, content: bytes) -> None:
        """Upload a file (the JDBC driver jar) into the live version."""
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
            self._put(connector, path)

    def put_asset(self, connector: str, file_name: str, content: bytes) -> None:
        if "/" in file_name or not file_name or file_name.startswith("."):
            raise ValueError(f"not a plain file name: {file_name!r}")
        with tempfile.TemporaryDirectory(dir=self._workdir, prefix="openflow-asset-") as tmp:
            path = Path(tmp) / file_name
            path.write_bytes(content)
            self._put(connector, path)

    def _put(self, connector: str, path: Path) -> None:
        # into the live version's directory, uncompressed: the connector reads the file as named
        target = stage_uri(connector, LIVE)
        self._sql.query(f"PUT {_path_literal(path)} '{target}' AUTO_COMPRESS = FALSE OVERWRITE = TRUE")


@dataclass(frozen=True)
class PropertyValue:
    """A property's value as config.json writes it."""

    value_type: ValueType
    value: str | tuple[str, ...]

    def body(self) -> dict[str, Any]:
        field = VALUE_FIELDS[self.value_type]
        value: Any = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"valueType": self.value_type, field: value}


def literal_value(value: str) -> PropertyValue:
    return PropertyValue("STRING_LITERAL", value)


def secret_value(qualified_name: str) -> PropertyValue:
    return PropertyValue("SECRET_REFERENCE", qualified_name)


def asset_value(*file_names: str) -> PropertyValue:
    return PropertyValue("ASSET_REFERENCE", tuple(file_names))


def _sections(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    sections = config.get("configuration")
    if not isinstance(sections, list) or not all(
        isinstance(s, dict) and isinstance(s.get("properties"), dict) for s in sections
    ):
        raise PreconditionFailed(
            "the connector's config.json has no 'configuration' list of sections with 'properties'",
            fix="this is not the documented gen 2 config.json layout; check the connector definition's "
            "version (SHOW VERSIONS IN OPENFLOW CONNECTOR) and open an issue with the file",
        )
    return sections


def property_body(config: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The property object called `name`, wherever its section is; None when absent."""
    for section in _sections(config):
        body = section["properties"].get(name)
        if body is not None:
            return dict(body) if isinstance(body, dict) else {"invalid": body}
    return None


def set_properties(
    config: Mapping[str, Any], values: Mapping[str, PropertyValue]
) -> tuple[dict[str, Any], list[str]]:
    """A copy of `config` with each property in `values` set where the document has it; every other
    key is kept. Returns (new config, names of the properties that changed). A property the document
    does not hold is refused: the connector would not read it."""
    merged = copy.deepcopy(dict(config))
    sections = _sections(merged)
    changed: list[str] = []
    missing: list[str] = []
    for name, wanted in values.items():
        section = next((s for s in sections if name in s["properties"]), None)
        if section is None:
            missing.append(name)
            continue
        body = wanted.body()
        if section["properties"][name] != body:
            section["properties"][name] = body
            changed.append(name)
    if missing:
        raise PreconditionFailed(
            f"the connector's config.json has no propert{'y' if len(missing) == 1 else 'ies'} "
            + ", ".join(repr(m) for m in missing),
            fix="the connector definition's version does not document these properties; check "
            "connectors/postgres/setup for the version in use (SHOW VERSIONS IN OPENFLOW CONNECTOR)",
        )
    return merged, changed
