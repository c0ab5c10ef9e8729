"""PUT / GET on a connector's versioned stage (``snow://openflow_connector/<name>/versions/<v>/``).

Snowflake answers PUT and GET with stage information, and the connector then moves the bytes itself.
The emulation answers like a GCS stage with presigned URLs (the one cloud the connector reaches by
plain HTTP PUT/GET on a URL it is given), and the URLs point back at this server's
``/openflow_stage/...`` routes, where :meth:`SnowflakeEmulator.stage_upload` and ``stage_download``
read and write the connector's versions. Only the live version accepts uploads, as in Snowflake.

Other PUT/GET targets (table and named stages) are left to fakesnow.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from .. import errors
from ..context import Ctx, Delegate, Outcome, Rule
from ..sqltext import Parser, fq, parse_name
from ..state import Connector, ConnectorVersion, Name3
from .connectors import find_connector

CONFIG_FILE = "config.json"
STAGE_ROUTE = "/openflow_stage"

_ARG = r"'(?:[^'\\]|\\.|'')*'|\S+"
_STATEMENT = re.compile(
    rf"^\s*(?P<verb>PUT|GET)\s+(?P<first>{_ARG})\s+(?P<second>{_ARG})(?P<rest>.*)$", re.I | re.S
)
_STAGE_URI = re.compile(
    r"^snow://openflow_connector/(?P<name>[^/]+)/versions/(?P<version>[^/]+)/?(?P<path>.*)$", re.I
)
_OPTION = re.compile(r"(\w+)\s*=\s*('(?:[^']|'')*'|\w+)")


@dataclass
class StageTransfer:
    """The answer to PUT/GET: what the connector needs to move the file itself."""

    data: dict[str, Any]

    def json_data(self) -> dict[str, Any]:
        return dict(self.data)


def _unquote(arg: str) -> str:
    if len(arg) >= 2 and arg[0] == arg[-1] == "'":
        return arg[1:-1].replace("''", "'").replace("\\\\", "\\")
    return arg


def _local_path(arg: str) -> str:
    text = _unquote(arg)
    if not text.lower().startswith("file://"):
        raise errors.syntax_error(text[:20])
    return text[len("file://") :]


@dataclass(frozen=True)
class StageRef:
    connector: Name3
    version: str  # "live" or a VERSION$n name
    path: str  # a file inside the version ('' for the version itself)

    def url(self, base_url: str, file_name: str) -> str:
        connector = quote(fq(*self.connector), safe="")
        return f"{base_url}{STAGE_ROUTE}/{connector}/{quote(self.version)}/{quote(file_name)}"


def _stage_ref(ctx: Ctx, arg: str) -> tuple[StageRef, Connector] | None:
    m = _STAGE_URI.match(_unquote(arg))
    if m is None:
        return None
    connector = find_connector(ctx, parse_name(m["name"]))
    version = m["version"]
    version = "live" if version.lower() == "live" else version.upper()
    return StageRef(connector.name3, version, m["path"].strip("/")), connector


def _options(text: str) -> dict[str, str]:
    return {k.upper(): _unquote(v).upper() for k, v in _OPTION.findall(text)}


def put(ctx: Ctx, p: Parser) -> Outcome:
    m = _STATEMENT.match(p.sql)
    if m is None:
        return Delegate()
    found = _stage_ref(ctx, m["second"])
    if found is None:
        return Delegate()
    ref, connector = found
    ctx.require("MODIFY", "OPENFLOW_CONNECTOR", connector.name3)
    if ref.version != "live":
        raise errors.invalid_state(
            f"Version {ref.version} of Openflow connector '{connector.name}' is read-only."
        )
    if connector.live_config is None:
        raise errors.invalid_state(
            f"Openflow connector '{connector.name}' has no live version; "
            "ALTER OPENFLOW CONNECTOR ... ADD LIVE VERSION FROM LAST first."
        )
    source = _local_path(m["first"])
    options = _options(m["rest"])
    file_name = os.path.basename(source)
    auto_compress = options.get("AUTO_COMPRESS", "TRUE") == "TRUE"
    # the connector asks again per file with the name it will upload (".gz" added when it compresses)
    target = file_name if file_name.endswith(".gz") or not auto_compress else file_name + ".gz"
    stage_info = {
        "locationType": "GCS",
        "location": f"openflow-connector-stage/{fq(*ref.connector)}/live/",
        "path": "live/",
        "region": "us-central1",
        "creds": {},
        "presignedUrl": ref.url(ctx.base_url, target),
    }
    return StageTransfer(
        {
            "command": "UPLOAD",
            "src_locations": [source],
            "parallel": 1,
            "autoCompress": auto_compress,
            "sourceCompression": options.get("SOURCE_COMPRESSION", "AUTO_DETECT").lower(),
            "overwrite": options.get("OVERWRITE", "FALSE") == "TRUE",
            "stageInfo": stage_info,
            "encryptionMaterial": None,
        }
    )


def get(ctx: Ctx, p: Parser) -> Outcome:
    m = _STATEMENT.match(p.sql)
    if m is None:
        return Delegate()
    found = _stage_ref(ctx, m["first"])
    if found is None:
        return Delegate()
    ref, connector = found
    ctx.require("USAGE", "OPENFLOW_CONNECTOR", connector.name3)
    if version_config(connector, ref.version) is None:
        raise errors.does_not_exist("Openflow connector version", f"{connector.name}/{ref.version}")
    assets = version_assets(connector, ref.version)
    if ref.path and ref.path != CONFIG_FILE and ref.path not in assets:
        raise errors.does_not_exist("File", f"{ref.version}/{ref.path}")
    files = [ref.path] if ref.path else [CONFIG_FILE, *sorted(assets)]
    local = _local_path(m["second"])
    stage_info = {
        "locationType": "GCS",
        "location": f"openflow-connector-stage/{fq(*ref.connector)}/{ref.version}/",
        "path": f"{ref.version}/",
        "region": "us-central1",
        "creds": {},
    }
    return StageTransfer(
        {
            "command": "DOWNLOAD",
            "src_locations": files,
            "presignedUrls": [ref.url(ctx.base_url, f) for f in files],
            "localLocation": local,
            "parallel": 1,
            "stageInfo": stage_info,
            "encryptionMaterial": None,
        }
    )


def version_config(connector: Connector, version: str) -> dict[str, Any] | None:
    """config.json of the named version: ``live``, ``LAST``/``FIRST`` or ``VERSION$n``."""
    if version == "live":
        return connector.live_config
    found = _version(connector, version)
    return found.config if found else None


def _version(connector: Connector, version: str) -> ConnectorVersion | None:
    if not connector.versions:
        return None
    if version in ("LAST", "DEFAULT"):
        return connector.versions[-1]
    if version == "FIRST":
        return connector.versions[0]
    return next((v for v in connector.versions if v.name == version), None)


def version_assets(connector: Connector, version: str) -> dict[str, bytes]:
    """The files other than config.json on a version's stage (the live version's are writable)."""
    if version == "live":
        return connector.assets if connector.live_config is not None else {}
    found = _version(connector, version)
    return found.assets if found else {}


def parse_route(path: str) -> tuple[list[str], str, str]:
    """``<connector>/<version>/<file>`` from the URL path (after the route prefix)."""
    connector, version, file_name = (unquote(part) for part in path.split("/", 2))
    return parse_name(connector), version, file_name


def decode_upload(file_name: str, body: bytes) -> tuple[str, bytes]:
    """The stored name and content of an uploaded file (the connector may have gzipped it)."""
    if file_name.endswith(".gz"):
        return file_name[: -len(".gz")], gzip.decompress(body)
    return file_name, body


def config_from_upload(body: bytes) -> dict[str, Any]:
    try:
        config = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"config.json is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError("config.json must hold a JSON object")
    return config


RULES = [
    Rule("PUT", put, "write", fallthrough=True),
    Rule("GET", get, "read", fallthrough=True),
]
