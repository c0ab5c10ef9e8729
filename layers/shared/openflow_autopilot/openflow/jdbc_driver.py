"""The PostgreSQL JDBC driver the gen 2 connector needs on its stage.

The connector does not ship the driver: the jar is uploaded into the connector's live version and
``Source Database Driver`` references it as an asset (connectors/postgres/setup, "Gen 2
parameters"; gen2/configure-connector-sql). The jar comes from the request (``source.jdbc_driver``,
an S3 URI under the artifact bucket's ``drivers/`` prefix) or, by default, from a pinned release
downloaded from ``JDBC_DRIVER_URL`` and checked against ``JDBC_DRIVER_SHA256`` (both settings of
the deployment, so a mirror can be used; the defaults are Maven Central's
org.postgresql:postgresql 42.7.4 and its published SHA-256).
"""

from __future__ import annotations

import hashlib
import io
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openflow_autopilot.aws.clients import client
from openflow_autopilot.aws.s3uri import S3Location
from openflow_autopilot.errors import NotReadyYet, PreconditionFailed

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_URL = "https://repo1.maven.org/maven2/org/postgresql/postgresql/42.7.4/postgresql-42.7.4.jar"
DEFAULT_SHA256 = "188976721ead8e8627eb6d8389d500dccc0c9bebd885268a3047180274a6031e"
DRIVER_CLASS = "org/postgresql/Driver.class"  # what makes the jar a PostgreSQL JDBC driver
MAX_BYTES = 20 * 1024 * 1024  # the driver is about 1 MB; anything far larger is not it
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Driver:
    file_name: str  # the asset id in config.json
    sha256: str
    source: str  # where it came from (URL or S3 URI), for the phase's actions
    content: bytes = field(repr=False)


def file_name_of(location: str) -> str:
    name = urllib.parse.urlsplit(location).path.rsplit("/", 1)[-1]
    if not name.endswith(".jar") or not name[:-4] or "/" in name:
        raise PreconditionFailed(
            f"{location} does not name a .jar file",
            fix="point the JDBC driver setting at the PostgreSQL JDBC driver jar (postgresql-<version>.jar)",
        )
    return name


def check_jar(content: bytes, source: str) -> None:
    """A readable jar holding the PostgreSQL driver class, or a permanent error saying what is wrong."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as jar:
            names = set(jar.namelist())
            bad = jar.testzip()
    except zipfile.BadZipFile:
        raise PreconditionFailed(
            f"the JDBC driver from {source} is not a readable jar",
            fix="use the PostgreSQL JDBC driver jar from jdbc.postgresql.org or Maven Central",
        ) from None
    if bad is not None:
        raise PreconditionFailed(f"the JDBC driver from {source} is corrupt ({bad})", fix="download it again")
    if DRIVER_CLASS not in names:
        raise PreconditionFailed(
            f"the jar from {source} has no {DRIVER_CLASS}: it is not the PostgreSQL JDBC driver",
            fix="use the PostgreSQL JDBC driver jar (postgresql-<version>.jar)",
        )


def _download(url: str, timeout: float) -> bytes:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise PreconditionFailed(
            f"JDBC_DRIVER_URL {url!r} is not an https URL",
            fix="set the JdbcDriverUrl parameter to an https URL",
        )
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            content: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise NotReadyYet(
                f"downloading the JDBC driver failed (HTTP {exc.code})", call=f"GET {url}"
            ) from None
        raise PreconditionFailed(
            f"downloading the JDBC driver from {url} failed with HTTP {exc.code}",
            call=f"GET {url}",
            fix="check the JdbcDriverUrl parameter, or name a jar in request.source.jdbc_driver",
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotReadyYet(f"downloading the JDBC driver failed: {reason}", call=f"GET {url}") from None
    if len(content) > MAX_BYTES:
        raise PreconditionFailed(f"{url} is larger than {MAX_BYTES} bytes: not the JDBC driver jar")
    return content


def fetch_driver(
    *,
    url: str = DEFAULT_URL,
    sha256: str = DEFAULT_SHA256,
    s3_uri: str | None = None,
    s3: S3Client | None = None,
    artifact_bucket: str | None = None,
    timeout: float = 30.0,
) -> Driver:
    """The driver jar, checked: from `s3_uri` when the request names one, else downloaded from `url`
    and compared with `sha256`."""
    if s3_uri:
        loc = S3Location.parse(s3_uri)
        bucket, key = loc.bucket, loc.key
        if artifact_bucket and (bucket != artifact_bucket or not key.startswith("drivers/")):
            raise PreconditionFailed(
                f"request.source.jdbc_driver {s3_uri} is outside s3://{artifact_bucket}/drivers/",
                fix=f"copy the jar to s3://{artifact_bucket}/drivers/ (the functions may read only there)",
            )
        name = file_name_of(key)
        from botocore.exceptions import ClientError

        s3 = s3 or client("s3")
        try:
            content = s3.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_BYTES + 1)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise PreconditionFailed(
                f"cannot read the JDBC driver {s3_uri} ({code})",
                call="s3:GetObject",
                fix="upload the jar there, or remove request.source.jdbc_driver to use the pinned release",
            ) from None
        source = s3_uri
        expected = None
    else:
        name = file_name_of(url)
        content = _download(url, timeout)
        source, expected = url, sha256.strip().lower()
    digest = hashlib.sha256(content).hexdigest()
    if expected and digest != expected:
        raise PreconditionFailed(
            f"the JDBC driver from {source} has SHA-256 {digest}, not the published {expected}",
            call=f"GET {source}",
            fix="the download is not the pinned release: check the JdbcDriverUrl mirror, or set "
            "JdbcDriverSha256 to the published checksum of the jar that URL serves",
        )
    check_jar(content, source)
    return Driver(file_name=name, sha256=digest, source=source, content=content)
