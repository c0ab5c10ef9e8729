"""The provisioning request: the state machine's input and the CLI's YAML file.

One pydantic model validates everything up front, so a bad request fails before anything
changes, with a message naming the field. Secrets are referenced by Secrets Manager ARN,
never inlined. The shared field types are in config_types.py; the runtime, schedule and
monitoring (notifications, watch, digest) sections are in config_runtime.py, config_schedule.py
and config_monitoring.py.
"""

from __future__ import annotations

import re
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from openflow_autopilot import request_rules as rules
from openflow_autopilot.config_monitoring import DigestSettings, NotificationTarget, WatchSettings
from openflow_autopilot.config_runtime import RuntimeSettings
from openflow_autopilot.config_schedule import Schedule
from openflow_autopilot.config_types import (
    AdminRole,
    Int,
    MasterSecretArn,
    SecretArn,
    ServiceRole,
    ServiceUser,
    SnowflakeName,
    Strict,
)
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.request_file import load_request_data

# org-account form, e.g. MYORG-MYACCOUNT (https://docs.snowflake.com/en/user-guide/admin-account-identifier)
_ACCOUNT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,254}-[A-Za-z][A-Za-z0-9_]{0,254}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_INSTANCE = re.compile(r"^i-[0-9a-f]{8,17}$")
_PARAMETER_GROUP = re.compile(r"[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)")
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$")
_RDS_ID = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")
# PostgreSQL table names: [schema.]table, unquoted or double-quoted parts; the source phase
# re-parses and composes them with psycopg.sql, this only rejects what can never be a name.
_PG_PART = r'(?:[A-Za-z_][A-Za-z0-9_$]{0,62}|"(?:[^"\x00;]|""){1,63}")'
_PG_TABLE = re.compile(rf"^{_PG_PART}(?:\.{_PG_PART})?$")


class Generation(IntEnum):
    GEN1 = 1
    GEN2 = 2


class VpcType(StrEnum):
    MANAGED = "MANAGED"
    PROVIDED = "PROVIDED"


WarehouseSize = Literal["XSMALL", "SMALL", "MEDIUM", "LARGE", "XLARGE", "XXLARGE"]


class SnowflakeSettings(Strict):
    account: str = Field(description="Account identifier in org-account form, e.g. MYORG-MYACCOUNT")
    admin_user: SnowflakeName = Field(description="The human admin who will use Openflow")
    credentials_secret_arn: SecretArn = Field(
        description="Secret with the automation's login: {'user', 'private_key' (PEM), 'passphrase'?} "
        "or {'user', 'password'}"
    )
    login_role: SnowflakeName = Field("ACCOUNTADMIN", description="Role the automation runs as")
    admin_role: AdminRole = Field("OPENFLOW_ADMIN_ROLE", description="Openflow owner/admin role")
    openflow_database: SnowflakeName = "OPENFLOW"
    openflow_schema: SnowflakeName = "OPENFLOW"
    image_repository: SnowflakeName = "OPENFLOW"

    @field_validator("account")
    @classmethod
    def _account(cls, v: str) -> str:
        if not _ACCOUNT.match(v):
            raise ValueError(
                f"{v!r} is not an account identifier in org-account form: write it as ORGNAME-ACCOUNTNAME "
                "(see SELECT CURRENT_ORGANIZATION_NAME() || '-' || CURRENT_ACCOUNT_NAME())"
            )
        return v.upper()


class OpenflowSettings(Strict):
    generation: Annotated[Generation, BeforeValidator(rules.strict_generation)] = Generation.GEN2
    deployment_name: SnowflakeName
    vpc_type: VpcType = VpcType.MANAGED
    subnet_ids: list[str] = Field(default_factory=list)
    template_s3_uri: str | None = Field(None, description="s3://bucket/key of the deployment's template")
    template_repair: Literal["apply", "report"] = Field(
        "apply",
        description="apply: repair known template defects before the stack is created; report: only report "
        "them (the stack runs the template as downloaded, and agent health repairs what it can)",
    )
    data_plane_integration: SnowflakeName | None = Field(
        None, description="Gen 1 only: the existing OPENFLOW_DATAPLANE_<uuid> integration (found if omitted)"
    )
    agent_instance_id: str | None = Field(
        None,
        description="Gen 1 only: the agent's EC2 instance (found if omitted: the instance of the "
        "CloudFormation stack whose DataPlaneUUID parameter is the integration's data_plane_id)",
    )

    @field_validator("subnet_ids")
    @classmethod
    def _subnets(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if not _SUBNET.match(s)]
        if bad:
            raise ValueError(f"not subnet ids: {bad}; use ids like subnet-0123456789abcdef0")
        return v

    @field_validator("agent_instance_id")
    @classmethod
    def _instance(cls, v: str | None) -> str | None:
        if v is not None and not _INSTANCE.match(v):
            raise ValueError(f"{v!r} is not an EC2 instance id; use an id like i-0123456789abcdef0")
        return v

    @field_validator("template_s3_uri")
    @classmethod
    def _s3(cls, v: str | None) -> str | None:
        if v is not None and not _S3_URI.match(v):
            raise ValueError(
                f"{rules.masked_url(v)} is not an S3 URI; use s3://bucket/key.yaml (not a presigned URL), "
                "or omit it to upload later"
            )
        return v

    @model_validator(mode="after")
    def _vpc(self) -> OpenflowSettings:
        if self.vpc_type is VpcType.PROVIDED and len(self.subnet_ids) < 2:
            raise ValueError("vpc_type PROVIDED needs subnet_ids: at least two private subnets in two AZs")
        if self.agent_instance_id and self.generation is not Generation.GEN1:
            raise ValueError(
                "agent_instance_id is only used with generation 1 (gen 2 finds it from its stack)"
            )
        if self.vpc_type is VpcType.MANAGED and self.subnet_ids:
            raise ValueError("subnet_ids are only used with vpc_type PROVIDED; remove them or set PROVIDED")
        return self


class AwsSettings(Strict):
    region: str

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not _REGION.match(v):
            raise ValueError(f"{v!r} is not an AWS region name such as ap-northeast-1")
        return v


class SourceSettings(Strict):
    rds_instance_id: str | None = Field(
        None, description="RDS instance identifier; omit for plain PostgreSQL"
    )
    host: Annotated[str, AfterValidator(rules.check_source_host)] | None = Field(
        None, description="Endpoint override (else the RDS instance's): a DNS name or routable IP address"
    )
    port: Int = Field(5432, ge=1, le=65535)
    database: str = Field(min_length=1, max_length=63)
    tables: list[str] = Field(description="Tables to replicate, [schema.]table")
    master_secret_arn: MasterSecretArn | None = Field(
        None, description="Secret with the admin login; default: the RDS-managed master secret"
    )
    publication: str = Field("openflow_pub", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    replication_user: Annotated[str, AfterValidator(rules.check_replication_user)] = Field(
        "openflow_user", pattern=r"^[a-z_][a-z0-9_]{0,62}$"
    )
    # Left out of dumps when false, so requests written before the field existed round-trip unchanged.
    use_existing_replication_user: StrictBool = Field(
        False,
        exclude_if=lambda v: v is False,
        description="the replication user already exists and is used as it is: the workflow never sets "
        "its password",
    )
    allow_reboot: StrictBool = Field(
        False, description="May the workflow reboot the instance for parameters?"
    )
    # Left out of dumps when unset, as use_existing_replication_user.
    parameter_group_name: str | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="RDS: the custom DB parameter group to create, or to use when it exists (it gets "
        "rds.logical_replication = 1); default openflow-<rds_instance_id>, which is never adopted when "
        "someone else created it",
    )
    jdbc_driver: str | None = Field(
        None,
        description="Gen 2: s3://<artifact bucket>/drivers/<file>.jar, the PostgreSQL JDBC driver to upload "
        "to the connector; default: the pinned release the deployment downloads and checks",
    )

    @field_validator("parameter_group_name")
    @classmethod
    def _parameter_group_name(cls, v: str | None) -> str | None:
        # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBParameterGroup.html
        if v is not None and not _PARAMETER_GROUP.fullmatch(v):
            raise ValueError(
                f"{v[:80]!r} is not a DB parameter group name: 1-255 letters, digits and hyphens, "
                "starting with a letter, no two hyphens in a row, not ending with one"
            )
        return v

    @field_validator("jdbc_driver")
    @classmethod
    def _jdbc_driver(cls, v: str | None) -> str | None:
        if v is not None and (not _S3_URI.match(v) or not v.endswith(".jar")):
            raise ValueError(
                f"{rules.masked_url(v)} is not the S3 URI of a jar; write "
                "s3://<artifact bucket>/drivers/postgresql-42.7.4.jar, or omit it to use the pinned release"
            )
        return v

    @field_validator("rds_instance_id")
    @classmethod
    def _rds(cls, v: str | None) -> str | None:
        if v is not None and not _RDS_ID.match(v):
            raise ValueError(f"{v!r} is not an RDS instance identifier (letters, digits, hyphens)")
        return v

    @field_validator("database")
    @classmethod
    def _db(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_$-]*$", v):
            raise ValueError(f"{v!r} is not a plain PostgreSQL database name (letters, digits, _ $ -)")
        return v

    @field_validator("tables")
    @classmethod
    def _tables(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list at least one table to replicate, e.g. public.sample_data")
        bad = [t for t in v if not _PG_TABLE.match(t)]
        if bad:
            raise ValueError(
                f"not table names: {bad}; write schema.table, double-quoting parts with other characters "
                'e.g. "My Schema"."Order-Items" (no semicolons)'
            )
        if len(set(v)) != len(v):
            raise ValueError("a table is listed twice")
        return rules.check_tables_unique(v)

    @model_validator(mode="after")
    def _where(self) -> SourceSettings:
        if self.rds_instance_id is None and self.host is None:
            raise ValueError("set rds_instance_id (an RDS instance) or host (any PostgreSQL)")
        return self


class DestinationSettings(Strict):
    database: SnowflakeName = "OPENFLOW_REPLICATED_DATA"
    warehouse: SnowflakeName = "OPENFLOW_COMPUTE_WH"
    warehouse_size: WarehouseSize = "MEDIUM"
    auto_suspend_seconds: Int = Field(300, ge=60, le=86400)
    service_user: ServiceUser = "OPENFLOW_SERVICE_USER"
    service_role: ServiceRole = "OPENFLOW_SERVICE_ROLE"


class ProvisionRequest(Strict):
    """Everything the provisioning workflow needs, validated before anything changes."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Request name (execution names)")
    snowflake: SnowflakeSettings
    openflow: OpenflowSettings
    aws: AwsSettings
    source: SourceSettings
    destination: DestinationSettings = Field(default_factory=DestinationSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    schedule: Schedule | None = None
    notifications: list[NotificationTarget] = Field(default_factory=list)
    watch: WatchSettings = Field(default_factory=WatchSettings, exclude_if=lambda v: v == WatchSettings())
    digest: DigestSettings = Field(default_factory=DigestSettings, exclude_if=lambda v: v == DigestSettings())
    allow_recreate_stack: StrictBool = False
    diagnose_only: StrictBool = False
    remove_canary: StrictBool = Field(
        False, description="delete the verification row at the source once it arrived"
    )

    @model_validator(mode="after")
    def _gen1_nifi(self) -> ProvisionRequest:
        if self.runtime.configures_nifi and self.openflow.generation is not Generation.GEN1:
            raise ValueError(
                "runtime.nifi_url and runtime.nifi_token_secret_arn are only used with openflow.generation "
                "1 (gen 2 connectors are configured over SQL); remove them"
            )
        return self

    @property
    def digest_timezone(self) -> str:
        if self.digest.timezone:
            return self.digest.timezone
        return self.schedule.timezone if self.schedule else "UTC"


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        # the location only (a key is at most 64 characters here) and the message: never err["input"]
        where = ".".join(str(p)[:64] for p in err["loc"]) or "request"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {msg}")
    return "invalid provisioning request: " + "; ".join(lines)


def parse_request(data: Any) -> ProvisionRequest:
    """Validate a request (dict) or raise InvalidRequest naming every bad field."""
    if not isinstance(data, dict):
        raise InvalidRequest("invalid provisioning request: expected a mapping (YAML/JSON object)")
    try:
        return ProvisionRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(_format_errors(exc), fix="correct the fields named above") from None


def load_request_file(path: str | Path) -> ProvisionRequest:
    """Read a YAML (or JSON) request file: at most 1 MiB of UTF-8 text, without aliases, deep
    nesting or repeated keys (request_file.py); any failure is an InvalidRequest."""
    return parse_request(load_request_data(path))
