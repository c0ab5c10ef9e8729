"""Hardening rules for the provisioning request (config.py's model calls these).

Each rule is pure validation: it returns the value unchanged (or canonical) or raises
ValueError, which pydantic reports under the field's dotted path. Messages never echo a value
that may carry a credential (URLs, tokens, secrets): `masked_url` shows only its shape.
"""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from openflow_autopilot.errors import InvalidRequest

# --- strict numbers ----------------------------------------------------------------------------


def strict_int(value: Any) -> Any:
    """A pydantic `mode="before"` check: a whole number, not `true`/`false` (a bool is an int in
    Python), a float or a quoted string such as "5432"."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"must be a whole number (got {type(value).__name__}); write it without quotes, "
            "e.g. 5432, and never true/false"
        )
    return value


def strict_generation(value: Any) -> Any:
    """`openflow.generation` is the number 1 or 2: not `true` (which Python would read as 1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"must be the number 1 or 2 (got {type(value).__name__}); write generation: 2 without quotes, "
            "never true/false"
        )
    return value


# --- values that may carry a credential --------------------------------------------------------


def masked_url(value: Any) -> str:
    """The value's shape for a message: scheme and host only, with userinfo, path and query masked
    (`https://***@host/***`); anything that is not a URL is not shown at all."""
    if not isinstance(value, str):
        return "the value (not shown)"
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return "the value (not shown)"
    if not parts.scheme or not parts.netloc:
        return "the value (not shown)"
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host = hostport if re.fullmatch(r"[A-Za-z0-9.:\[\]-]{1,100}", hostport) else "***"
    tail = "/***" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    scheme = parts.scheme if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,15}", parts.scheme) else "***"
    return f"{scheme}://{'***@' if userinfo else ''}{host}{tail}"


# --- the PostgreSQL source's host --------------------------------------------------------------

LOOPBACK_ENV = "OPENFLOW_AUTOPILOT_ALLOW_LOOPBACK_SOURCE"
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9A-Fa-f]*|[0-9]+)$")
# EC2's IPv6 instance services (not link-local, so named here): the instance metadata service, the
# Route 53 resolver and the time sync service (docs.aws.amazon.com/AWSEC2/latest/UserGuide/
# instancedata-data-retrieval.html, .../set-time.html, VPC DNS: AmazonProvidedDNS).
_AWS_SERVICE_V6 = frozenset(
    ipaddress.IPv6Address(a) for a in ("fd00:ec2::254", "fd00:ec2::253", "fd00:ec2::123")
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOST_FIX = (
    "write the database's DNS name or its routable IP address, "
    "e.g. sales-db.abc123.ap-northeast-1.rds.amazonaws.com"
)


def _loopback_allowed() -> bool:
    return os.environ.get(LOOPBACK_ENV) == "1"


def _refuse_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why this address cannot be a source, or None."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _AWS_SERVICE_V6:
            return "is an EC2 instance service address (metadata, DNS or time), not a database"
        mapped = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if mapped is not None:
            return _refuse_address(mapped)
    if ip.is_link_local:
        return (
            "is a link-local address (169.254.0.0/16, fe80::/10), where the EC2 and ECS metadata "
            "services answer (169.254.169.254, 169.254.170.2), not a database"
        )
    if ip.is_unspecified:
        return "is the unspecified address (0.0.0.0 or ::), not a host"
    if ip.is_multicast:
        return "is a multicast address, not a host"
    if ip.is_loopback:
        if _loopback_allowed():
            return None
        return (
            "is a loopback address: the functions would connect to themselves; "
            f"({LOOPBACK_ENV}=1 allows it only for a local SSH tunnel from the CLI or the sandbox)"
        )
    if ip.is_reserved:
        return "is a reserved address, not routable"
    return None


def check_source_host(value: str) -> str:
    """`source.host`: a DNS name (RFC 1123 labels, at most 253 characters) or a routable IP address.

    Refused: loopback (127.0.0.0/8, ::1, `localhost` and names under `.localhost`), link-local
    (169.254.0.0/16, fe80::/10: the EC2/ECS metadata services 169.254.169.254 and 169.254.170.2),
    EC2's IPv6 service addresses (fd00:ec2::254 ...), unspecified (0.0.0.0, ::), multicast and
    reserved addresses, also written as IPv4-mapped or NAT64 IPv6, and names whose last label is
    numeric (`127.1`, `0x7f000001`: resolvers read them as IPv4 addresses).

    Exception, loopback only (never link-local or metadata addresses): when the environment
    variable OPENFLOW_AUTOPILOT_ALLOW_LOOPBACK_SOURCE is `1`, a loopback source is accepted. It is
    for a source reached through a local SSH tunnel from the CLI, and for the local sandbox (whose
    PostgreSQL listens on 127.0.0.1); the Lambda functions never set it.
    """
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        ip = None
    if ip is not None:
        reason = _refuse_address(ip)
        if reason:
            raise ValueError(f"{value} {reason}; {_HOST_FIX}")
        return value
    name = value.lower()
    if len(value) > 253 or not all(_LABEL.match(label) for label in value.split(".")):
        raise ValueError(
            "is neither a DNS name (letters, digits and hyphens in dot-separated labels of at most 63, "
            f"253 characters in all; no scheme, port, path or trailing dot) nor an IP address; {_HOST_FIX}"
        )
    if _NUMERIC_LABEL.match(value.rsplit(".", 1)[-1]):
        raise ValueError(
            f"{value} ends in a numeric label, which resolvers read as an IPv4 address; write the "
            f"address in dotted form (a.b.c.d) or a DNS name; {_HOST_FIX}"
        )
    if (name == "localhost" or name.endswith(".localhost")) and not _loopback_allowed():
        raise ValueError(
            f"{value} is the loopback host: the functions would connect to themselves "
            f"({LOOPBACK_ENV}=1 allows it only for a local SSH tunnel from the CLI or the sandbox); "
            f"{_HOST_FIX}"
        )
    return value


# --- source.tables -----------------------------------------------------------------------------


def check_tables_unique(tables: list[str]) -> list[str]:
    """Refuse a table listed twice under PostgreSQL's naming rules: an unquoted part folds to lower
    case, a quoted one keeps its case (`""` is a quote), and a missing schema is `public`
    (postgresql.org/docs/current/sql-syntax-lexical.html#SQL-SYNTAX-IDENTIFIERS)."""
    from openflow_autopilot.postgres.names import parse_table_name  # psycopg: imported when needed

    seen: dict[Any, str] = {}
    for raw in tables:
        try:
            name = parse_table_name(raw, "table")
        except InvalidRequest as exc:
            raise ValueError(exc.message.removeprefix("table: ")) from None
        if name in seen:
            raise ValueError(
                f"{name} is listed twice (as {seen[name]!r} and {raw!r}; unquoted names fold to lower "
                "case and a name without a schema is in public): list each table once"
            )
        seen[name] = raw
    return tables


# --- Snowflake system roles and users ----------------------------------------------------------

# docs.snowflake.com/en/user-guide/security-access-control-overview#system-defined-roles
SYSTEM_ROLES = frozenset(
    {"ACCOUNTADMIN", "ORGADMIN", "GLOBALORGADMIN", "SECURITYADMIN", "SYSADMIN", "USERADMIN", "PUBLIC"}
)
SYSTEM_USERS = SYSTEM_ROLES | {"SNOWFLAKE"}


def not_system_role(what: str, default: str) -> Callable[[str], str]:
    """An after-validator for a role the workflow creates and grants: `what` says what it does."""

    def check(value: str) -> str:
        if value.upper() in SYSTEM_ROLES:
            raise ValueError(
                f"{value.upper()} is a system role; {what}, so name a role of its own (default {default})"
            )
        return value

    return check


admin_role = not_system_role(
    "the workflow creates this role and grants it Openflow's privileges and the admin user",
    "OPENFLOW_ADMIN_ROLE",
)
service_role = not_system_role("the workflow grants this role to the service user", "OPENFLOW_SERVICE_ROLE")
runtime_role = not_system_role(
    "the workflow creates this role and grants it what the connector needs, and the runtime acts as it",
    "OPENFLOW_RUNTIME_ROLE",
)


def not_system_user(value: str) -> str:
    if value.upper() in SYSTEM_USERS:
        raise ValueError(
            f"{value.upper()} is a system user or role name; the workflow creates this user and sets its "
            "key and default role, so name a user of its own (default OPENFLOW_SERVICE_USER)"
        )
    return value


# --- PostgreSQL replication user ---------------------------------------------------------------


def check_replication_user(value: str) -> str:
    """Reserved names: `postgres` (the superuser), `pg_*` (reserved by PostgreSQL,
    postgresql.org/docs/current/predefined-roles.html) and `rds*` including `rdsadmin` (RDS's own
    roles, docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.Roles.html)."""
    if value == "postgres" or value.startswith(("pg_", "rds")):
        raise ValueError(
            f"{value} is a reserved or administrative role (postgres, pg_*, rds*); the connector "
            "logs in as this user, so name a user of its own (default openflow_user)"
        )
    return value


# --- secrets the functions may read ------------------------------------------------------------

DEFAULT_SECRETS_PREFIX = "openflow-autopilot/"
RDS_SECRET_PREFIX = "rds!"  # noqa: S105 - a name prefix; docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html


def secrets_prefix() -> str:
    """The prefix the template grants (parameter SecretsPrefix, the functions' SECRETS_PREFIX)."""
    return os.environ.get("SECRETS_PREFIX") or DEFAULT_SECRETS_PREFIX


def check_secret_name(arn: str, *, rds_managed: bool = False) -> str:
    """The secret's name must start with the granted prefix; `rds_managed` also accepts the
    RDS-managed master secret (`rds!...`), which the template grants to the source functions."""
    name = arn.split(":secret:", 1)[1]
    prefix = secrets_prefix()
    if name.startswith(prefix) or (rds_managed and name.startswith(RDS_SECRET_PREFIX)):
        return arn
    also = " or be the RDS-managed master secret (rds!...)" if rds_managed else ""
    raise ValueError(
        f"the secret's name must start with {prefix}{also}: the functions may read only those "
        f"(template parameter SecretsPrefix); store it as {prefix}<name> and reference that ARN"
    )


def granted_secret(arn: str) -> str:
    return check_secret_name(arn)


def master_secret(arn: str) -> str:
    return check_secret_name(arn, rds_managed=True)
