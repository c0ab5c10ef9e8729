"""Openflow connector definitions as data, and the validation a connector runs on COMMIT.

A definition (``definitions/<ID>.json``) lists the sections of the connector's configuration and
each property's valueType, whether it is required, its default and its allowed values, taken from
the connector's documentation page (named in the file's ``_source``). A new connector's live
version holds the definition's ``config.json`` with those defaults (gen2/configure-connector-sql:
``configFormatVersion``, ``connectorDefinitionId``, ``configuration[]`` of ``{name, properties}``,
each property ``{valueType, value | fullyQualifiedSecretName | assetIds}``).

`validate` checks a configuration the way the connector's validator does on COMMIT and returns the
first problem as Snowflake would show it in the connector's status message, naming the property.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DEFINITIONS_DIR = Path(__file__).with_name("definitions")
CONFIG_FORMAT_VERSION = 1
# valueType -> the one field that type uses (gen2/configure-connector-sql)
VALUE_FIELDS = {
    "STRING_LITERAL": "value",
    "SECRET_REFERENCE": "fullyQualifiedSecretName",
    "ASSET_REFERENCE": "assetIds",
}
# The connector's words when a value is not usable by the configured identity
# (connectors/postgres/setup: a missing warehouse grant shows as this).
NOT_ALLOWABLE = "Value is not one of the allowable values"


@dataclass(frozen=True)
class PropertySpec:
    section: str
    name: str
    value_type: str
    required: bool = False
    required_one_of: str | None = None
    required_when: tuple[tuple[str, str], ...] = ()
    default: str | None = None
    allowed: tuple[str, ...] = ()
    pattern: str | None = None
    regex: bool = False
    json_kind: str | None = None
    secret_type: str | None = None


@dataclass(frozen=True)
class Definition:
    id: str
    display_name: str
    description: str
    properties: tuple[PropertySpec, ...]

    @property
    def sections(self) -> list[str]:
        return list(dict.fromkeys(p.section for p in self.properties))

    def spec(self, section: str, name: str) -> PropertySpec | None:
        return next((p for p in self.properties if p.section == section and p.name == name), None)

    def default_config(self) -> dict[str, Any]:
        """config.json of a new connector's live version."""
        configuration = []
        for section in self.sections:
            props: dict[str, Any] = {}
            for p in self.properties:
                if p.section != section:
                    continue
                field = VALUE_FIELDS[p.value_type]
                empty: Any = [] if p.value_type == "ASSET_REFERENCE" else None
                props[p.name] = {"valueType": p.value_type, field: p.default if p.default else empty}
            configuration.append({"name": section, "properties": props})
        return {
            "configFormatVersion": CONFIG_FORMAT_VERSION,
            "connectorDefinitionId": self.id,
            "configuration": configuration,
        }


def _load(path: Path) -> Definition:
    data = json.loads(path.read_text(encoding="utf-8"))
    props = []
    for section in data["sections"]:
        for name, spec in section["properties"].items():
            props.append(
                PropertySpec(
                    section=section["name"],
                    name=name,
                    value_type=spec["valueType"],
                    required=bool(spec.get("required")),
                    required_one_of=spec.get("requiredOneOf"),
                    required_when=tuple((spec.get("requiredWhen") or {}).items()),
                    default=spec.get("default"),
                    allowed=tuple(spec.get("allowed") or ()),
                    pattern=spec.get("pattern"),
                    regex=bool(spec.get("regex")),
                    json_kind=spec.get("json"),
                    secret_type=spec.get("secretType"),
                )
            )
    return Definition(data["definition"], data["display_name"], data["description"], tuple(props))


@cache
def definitions() -> dict[str, Definition]:
    found = (_load(p) for p in sorted(DEFINITIONS_DIR.glob("*.json")))
    return {d.id: d for d in found}


# -- validation --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Environment:
    """What validation looks up in the account, supplied by the emulator."""

    secret_type: Callable[[str], str | None]  # qualified secret name -> its TYPE, None when missing
    can_read_secret: Callable[[str], bool]  # whether the runtime's execute-as role may read it
    warehouse_usable: Callable[[str, str | None], bool]  # (warehouse, role or None: execute-as role)
    account_identifier: str  # ORG-ACCOUNT
    assets: frozenset[str]  # files on this version's stage


def _values(config: Mapping[str, Any], definition: Definition) -> tuple[dict[str, Any], str | None]:
    """{property name: its value} from a document, or the first structural problem."""
    if config.get("configFormatVersion") != CONFIG_FORMAT_VERSION:
        return {}, f"Unsupported configFormatVersion {config.get('configFormatVersion')!r}"
    if config.get("connectorDefinitionId") != definition.id:
        return {}, f"connectorDefinitionId must be {definition.id!r}"
    extra = sorted(set(config) - {"configFormatVersion", "connectorDefinitionId", "configuration"})
    if extra:
        return {}, f"Unknown key {extra[0]!r} in config.json"
    sections = config.get("configuration")
    if not isinstance(sections, list):
        return {}, "config.json has no 'configuration' list"
    values: dict[str, Any] = {}
    for section in sections:
        if not isinstance(section, dict) or set(section) != {"name", "properties"}:
            return {}, "Each configuration entry must be an object with 'name' and 'properties'"
        name, props = section["name"], section["properties"]
        if name not in definition.sections:
            return {}, f"Unknown configuration section {name!r}"
        if not isinstance(props, dict):
            return {}, f"Section {name!r}: 'properties' must be an object"
        for prop, body in props.items():
            spec = definition.spec(name, prop)
            if spec is None:
                return {}, f"Unknown property {prop!r} in section {name!r}"
            if not isinstance(body, dict) or "valueType" not in body:
                return {}, f"Property {prop!r}: must be an object with a valueType"
            if body["valueType"] != spec.value_type:
                wrong = body["valueType"]
                return {}, f"Property {prop!r}: valueType {wrong!r} is invalid, expected {spec.value_type}"
            field = VALUE_FIELDS[spec.value_type]
            if set(body) != {"valueType", field}:
                return {}, f"Property {prop!r}: a {spec.value_type} has exactly the field {field!r}"
            values[prop] = body[field]
    return values, None


def _set(value: Any) -> bool:
    return value not in (None, "", [])


def validate(config: Mapping[str, Any], definition: Definition, env: Environment) -> str | None:
    """None when the configuration is valid, else the status message naming the property."""
    values, problem = _values(config, definition)
    if problem:
        return problem
    groups: dict[str, list[str]] = {}
    for spec in definition.properties:
        value = values.get(spec.name, spec.default)
        if spec.required_one_of:
            groups.setdefault(spec.required_one_of, [])
            if _set(value):
                groups[spec.required_one_of].append(spec.name)
        needed = spec.required or any(
            values.get(k, _default(definition, k)) == v for k, v in spec.required_when
        )
        if not _set(value):
            if needed:
                return f"Property {spec.name!r} is required"
            continue
        if problem := _check_value(spec, value, values, definition, env):
            return problem
    for group, found in groups.items():
        if not found:
            names = [p.name for p in definition.properties if p.required_one_of == group]
            return f"One of the properties {', '.join(repr(n) for n in names)} is required"
    return None


def _default(definition: Definition, name: str) -> str | None:
    return next((p.default for p in definition.properties if p.name == name), None)


def _check_value(
    spec: PropertySpec, value: Any, values: Mapping[str, Any], definition: Definition, env: Environment
) -> str | None:
    name = spec.name
    if spec.value_type == "ASSET_REFERENCE":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"Property {name!r}: assetIds must be a list of file names"
        missing = [v for v in value if v not in env.assets]
        return f"Property {name!r}: asset {missing[0]!r} is not on the connector's stage" if missing else None
    if not isinstance(value, str):
        return f"Property {name!r}: the value must be a string"
    if spec.value_type == "SECRET_REFERENCE":
        kind = env.secret_type(value)
        if kind is None:
            return f"Property {name!r}: secret {value!r} does not exist or is not authorized"
        if spec.secret_type and kind != spec.secret_type:
            return f"Property {name!r}: secret {value!r} is of type {kind}, expected {spec.secret_type}"
        if not env.can_read_secret(value):
            return f"Property {name!r}: the runtime's execute-as role cannot READ secret {value!r}"
        return None
    if spec.allowed and value not in spec.allowed:
        return f"Property {name!r}: {value!r} is invalid; allowed values: {', '.join(spec.allowed)}"
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        return f"Property {name!r}: {value!r} is not in the expected format"
    if spec.regex:
        try:
            re.compile(value)
        except re.error:
            return f"Property {name!r}: {value!r} is not a valid regular expression"
    if spec.json_kind == "array":
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, list):
            return f"Property {name!r}: must be a JSON array"
    strategy = "Snowflake Authentication Strategy"
    key_pair = values.get(strategy, _default(definition, strategy))
    if name == "Snowflake Account Identifier" and value.upper() != env.account_identifier.upper():
        return f"Property {name!r}: {value!r} is not this account ({env.account_identifier})"
    if name == "Snowflake Warehouse":
        role = values.get("Snowflake Role") if key_pair == "KEY_PAIR" else None
        if not env.warehouse_usable(value, role):
            return f"Property {name!r}: {NOT_ALLOWABLE}"
    return None
