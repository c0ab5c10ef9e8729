"""What both connector paths (gen 2's Connector, gen 1's NiFi) start from: the source and
destination phases' outputs, with the password and the service user's key read from Secrets
Manager (in memory only), and where the connector's JDBC driver comes from."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.openflow import jdbc_driver
from openflow_autopilot.openflow.endpoints import DestinationInfo, SourceEndpoint
from openflow_autopilot.phases.connector import destination_from_secret

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class PreparedSource(BaseModel):
    """`$.phases.SourcePrepare.outputs`: where the connector reads, and its password's secret."""

    model_config = ConfigDict(extra="ignore")

    host: str
    port: int
    database: str
    user: str
    publication: str
    slot_name: str
    tables: list[str]
    password_secret_arn: str


class PreparedDestination(BaseModel):
    """`$.phases.Destination.outputs`: the service user's key secret (and its fingerprint)."""

    model_config = ConfigDict(extra="ignore")

    key_secret_arn: str
    key_fingerprint: str | None = None


def source_endpoint(prepared: PreparedSource, secrets: SecretsManagerClient) -> SourceEndpoint:
    value = secrets.get_secret_value(SecretId=prepared.password_secret_arn)
    return SourceEndpoint(
        host=prepared.host,
        port=prepared.port,
        database=prepared.database,
        user=prepared.user,
        password=str(json.loads(value["SecretString"])["password"]),
        publication=prepared.publication,
        slot_name=prepared.slot_name,
        tables=tuple(prepared.tables),
        password_version=str(value.get("VersionId") or "") or None,
    )


def connector_inputs(
    request: ProvisionRequest,
    source: PreparedSource,
    destination: PreparedDestination,
    secrets: SecretsManagerClient,
) -> tuple[SourceEndpoint, DestinationInfo]:
    target = destination_from_secret(
        request,
        secrets=secrets,
        key_secret=destination.key_secret_arn,
        key_fingerprint=destination.key_fingerprint,
    )
    return source_endpoint(source, secrets), target


def driver_source(
    request: ProvisionRequest, env: FunctionEnv
) -> tuple[str, Callable[[], jdbc_driver.Driver]]:
    """(the jar's file name, how to fetch it): the request's S3 jar, else the deployment's pinned one."""
    s3_uri = request.source.jdbc_driver
    name = jdbc_driver.file_name_of(s3_uri or env.jdbc_driver_url)

    def fetch() -> jdbc_driver.Driver:
        return jdbc_driver.fetch_driver(
            url=env.jdbc_driver_url,
            sha256=env.jdbc_driver_sha256,
            s3_uri=s3_uri,
            s3=client("s3", request.aws.region) if s3_uri else None,
            artifact_bucket=env.artifact_bucket,
        )

    return name, fetch
