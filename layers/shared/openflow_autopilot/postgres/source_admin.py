"""The source database's admin login and the connector's replication slot name, shared by the
provisioning, power and watch workflows and the CLI. The login comes from Secrets Manager (the
RDS-managed master secret, or one named in the request); where to connect is the request's host
override, else the RDS instance's endpoint. `source_admin` makes the default clients when none are
given (the RDS one only for an RDS instance).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from psycopg.conninfo import make_conninfo

from openflow_autopilot.aws.clients import client
from openflow_autopilot.aws.rds import rds_status
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient


def slot_name(request: ProvisionRequest) -> str:
    """The connector's replication slot: one per request, a valid PostgreSQL name."""
    return "openflow_" + re.sub(r"[^a-z0-9_]", "_", request.name.lower())[:50]


@dataclass(frozen=True)
class SourceAdmin:
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)

    def dsn(self) -> str:
        return make_conninfo(
            host=self.host,
            port=str(self.port),
            dbname=self.database,
            user=self.user,
            password=self.password,
            application_name="openflow-autopilot",
        )


def admin_login(
    request: ProvisionRequest, *, secrets: SecretsManagerClient, rds: RDSClient | None
) -> SourceAdmin:
    """Where and as whom to connect: the request's host override, else the RDS endpoint."""
    src = request.source
    status = rds_status(rds, src.rds_instance_id) if (rds is not None and src.rds_instance_id) else None
    secret_arn = src.master_secret_arn or (status.master_secret_arn if status else None)
    if not secret_arn:
        raise ConfigurationError(
            "no admin login for the source database",
            fix="set source.master_secret_arn, or enable the RDS-managed master user secret",
        )
    data = json.loads(secrets.get_secret_value(SecretId=secret_arn)["SecretString"])
    host = src.host or (status.endpoint_address if status else None) or data.get("host")
    if not host:
        raise ConfigurationError("the source database has no endpoint yet", fix="set source.host")
    port = (
        src.port
        if src.host
        else int((status.endpoint_port if status else None) or data.get("port") or src.port)
    )
    return SourceAdmin(
        host=str(host),
        port=port,
        database=src.database,
        user=str(data.get("username") or data.get("user")),
        password=str(data.get("password", "")),
    )


def source_admin(
    request: ProvisionRequest, *, secrets: SecretsManagerClient | None = None, rds: RDSClient | None = None
) -> SourceAdmin:
    """`admin_login` with the request region's default clients for those not given; an RDS client
    only when the request names an RDS instance (none otherwise, even if one is given)."""
    region = request.aws.region
    return admin_login(
        request,
        secrets=secrets or client("secretsmanager", region),
        rds=(rds or client("rds", region)) if request.source.rds_instance_id else None,
    )
