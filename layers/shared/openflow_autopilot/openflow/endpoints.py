"""Where the connector reads and writes: the PostgreSQL source and the Snowflake destination as the
source and destination phases leave them. Secrets are held in memory only, never in a repr."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.postgres.names import as_table_names

_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:]+\]$")


@dataclass(frozen=True)
class SourceEndpoint:
    """Where and as whom the connector reads PostgreSQL. The password is held in memory only."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    publication: str
    slot_name: str
    tables: tuple[str, ...]
    password_version: str | None = None  # e.g. the Secrets Manager VersionId the password came from

    def jdbc_url(self) -> str:
        if not _HOST.match(self.host) or not 0 < self.port < 65536:
            raise PreconditionFailed(f"not a host:port for a JDBC URL: {self.host}:{self.port}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$-]*", self.database):
            raise PreconditionFailed(f"database name {self.database!r} cannot go into a JDBC URL unquoted")
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    def table_list(self) -> str:
        return ",".join(str(t) for t in as_table_names(list(self.tables), "source.tables"))


@dataclass(frozen=True)
class DestinationInfo:
    """The Snowflake side, as the destination phase left it. Key material in memory only."""

    database: str
    role: str
    warehouse: str
    user: str
    account_identifier: str
    private_key_pem: str = field(repr=False)
    private_key_passphrase: str | None = field(default=None, repr=False)
    key_fingerprint: str = ""

    def unencrypted_private_key_pem(self) -> str:
        """The key as an unencrypted PKCS8 PEM: what the connector's key secret holds."""
        from cryptography.hazmat.primitives import serialization

        password = self.private_key_passphrase.encode() if self.private_key_passphrase else None
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=password)
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
