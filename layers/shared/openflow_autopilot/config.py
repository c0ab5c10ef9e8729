"""The provisioning request: the state machine's input and the CLI's YAML file.

One pydantic model validates everything up front, so a bad request fails before anything
changes, with a message naming the field. Secrets are referenced by Secrets Manager ARN,
never inlined.
"""

from __future__ import annotations

import re
import urllib.parse
from datetime import date, time
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from openflow_autopilot import request_rules as rules
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.request_file import load_request_data
from openflow_autopilot.snowflake.identifiers import IdentifierError, check_identifier

# org-account form, e.g. MYORG-MYACCOUNT (https://docs.snowflake.com/en/user-guide/admin-account-identifier)
_ACCOUNT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,254}-[A-Za-z][A-Za-z0-9_]{0,254}$")
# a secret's name: letters, digits and /_+=.@-; `rds!` starts the RDS-managed master secrets
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:(?:rds!)?[A-Za-z0-9/_+=.@-]+$"
)
_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
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
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _snowflake_ident(value: str) -> str:
    try:
        return check_identifier(value, "name")
    except IdentifierError as exc:
        raise ValueError(str(exc)) from None


def _secret_arn(value: str) -> str:
    if not _SECRET_ARN.match(value):
        raise ValueError(
            "must be a Secrets Manager ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>); "
            "put the secret in Secrets Manager and reference it here, never inline it"
        )
    return value


SnowflakeName = Annotated[str, AfterValidator(_snowflake_ident)]
# A secret under the prefix the functions may read (SecretsPrefix); the master secret may also be
# the RDS-managed one (rds!...), which the template grants to the functions that read it.
SecretArn = Annotated[str, AfterValidator(_secret_arn), AfterValidator(rules.granted_secret)]
MasterSecretArn = Annotated[str, AfterValidator(_secret_arn), AfterValidator(rules.master_secret)]
# Integers are strict: `true` is not 1 and "5432" is not a number.
Int = Annotated[int, BeforeValidator(rules.strict_int)]
# Roles and a user the workflow creates and grants: never a system role or user.
AdminRole = Annotated[SnowflakeName, AfterValidator(rules.admin_role)]
ServiceRole = Annotated[SnowflakeName, AfterValidator(rules.service_role)]
RuntimeRole = Annotated[SnowflakeName, AfterValidator(rules.runtime_role)]
ServiceUser = Annotated[SnowflakeName, AfterValidator(rules.not_system_user)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Generation(IntEnum):
    GEN1 = 1
    GEN2 = 2


class VpcType(StrEnum):
    MANAGED = "MANAGED"
    PROVIDED = "PROVIDED"


class Size(StrEnum):
    SMALL = "SMALL"
    MEDIUM = "MEDIUM"
    LARGE = "LARGE"


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


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _nifi_url(value: str) -> str:
    """https://<runtime host>[:port]/<path>; plain http only on the loopback interface, where the
    token never crosses a network."""
    parts = urllib.parse.urlsplit(value)
    host = parts.hostname or ""
    secure = parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK)
    if not secure or not host or parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(
            f"{rules.masked_url(value)} is not the https URL of the runtime's NiFi API; write it as "
            "https://<runtime host>/nifi-api (no credentials, query or fragment: the token comes from "
            "nifi_token_secret_arn)"
        )
    return value.rstrip("/")


class RuntimeSettings(Strict):
    name: SnowflakeName = "POSTGRES_CDC_RUNTIME"
    # connectors/postgres/about asks for at least MEDIUM; SMALL is allowed with a warning
    size: Size = Size.MEDIUM
    execute_as_role: RuntimeRole = Field(
        "OPENFLOW_RUNTIME_ROLE",
        description="Gen 2: the runtime's EXECUTE_AS_ROLE, the identity its connector acts as (it reads "
        "the connector's secrets); created and granted what it needs by the workflow",
    )
    # Gen 1 only: configure the connector over the runtime's NiFi REST API instead of asking a human.
    # Left out of dumps when unset, so requests without them round-trip unchanged (and the state
    # machine's choice tests only for their presence).
    nifi_url: Annotated[str, AfterValidator(_nifi_url)] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="Gen 1 only: the runtime's NiFi API, e.g. https://<runtime host>/nifi-api",
    )
    nifi_token_secret_arn: SecretArn | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="Gen 1 only: secret whose JSON field 'token' is a Snowflake programmatic access token "
        "(sent as the bearer token to the runtime's NiFi)",
    )
    nifi_process_group_id: str | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="Gen 1 only: the connector's process group (found by a name containing 'PostgreSQL' if "
        "omitted)",
    )

    @field_validator("nifi_process_group_id")
    @classmethod
    def _group(cls, v: str | None) -> str | None:
        if v is not None and not _UUID.match(v):
            raise ValueError(
                f"{v!r} is not a NiFi process group id; copy the UUID from the group's Configuration "
                "dialog on the canvas, or omit it to find the group by name"
            )
        return v

    @model_validator(mode="after")
    def _nifi_pair(self) -> RuntimeSettings:
        if (self.nifi_url is None) != (self.nifi_token_secret_arn is None):
            missing = "nifi_token_secret_arn" if self.nifi_token_secret_arn is None else "nifi_url"
            raise ValueError(
                f"nifi_url and nifi_token_secret_arn go together: add {missing}, or remove both to "
                "configure the gen 1 connector on the canvas by hand"
            )
        if self.nifi_process_group_id is not None and self.nifi_url is None:
            raise ValueError(
                "nifi_process_group_id is only used with nifi_url and nifi_token_secret_arn; add them "
                "or remove it"
            )
        return self

    @property
    def configures_nifi(self) -> bool:
        return self.nifi_url is not None


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OnHours(Strict):
    """One on-period, e.g. days [mon..fri] 08:00-20:00 in the schedule's time zone.

    `overnight: true` makes the period end on the next day: start 20:00, end 06:00 runs from each
    listed day's evening to the following morning (end may equal start: a 24-hour period). Without
    it, an end at or before the start is a mistake and is rejected.
    """

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]
    start: str
    end: str
    # Left out of dumps when false, so requests written before the field existed round-trip unchanged.
    overnight: StrictBool = Field(False, exclude_if=lambda v: v is False)

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"{v!r} is not a time of day as HH:MM (24-hour)")
        return v

    @model_validator(mode="after")
    def _order(self) -> OnHours:
        if not self.days:
            raise ValueError("on_hours.days is empty; list days such as [mon, tue, wed, thu, fri]")
        if len(set(self.days)) != len(self.days):
            raise ValueError(f"on_hours.days lists a day twice: {self.days}")
        start, end = time.fromisoformat(self.start), time.fromisoformat(self.end)
        if self.overnight and end > start:
            raise ValueError(
                f"overnight is set but end {self.end} is after start {self.start} on the same day; "
                "remove overnight, or give the next day's end time (at or before the start)"
            )
        if not self.overnight and end <= start:
            raise ValueError(
                f"end {self.end} is not after start {self.start}; for a period that ends the next day "
                "set overnight: true"
            )
        return self

    def weekly_spans(self) -> list[tuple[int, int]]:
        """(start, end) in minutes from Monday 00:00, one per day; an overnight end passes midnight
        (and Sunday's may pass the end of the week)."""
        start = _minutes(self.start)
        end = _minutes(self.end) + (_DAY_MINUTES if self.overnight else 0)
        return [
            (_DAYS.index(d) * _DAY_MINUTES + start, _DAYS.index(d) * _DAY_MINUTES + end) for d in self.days
        ]


_DAY_MINUTES = 24 * 60
_WEEK_MINUTES = 7 * _DAY_MINUTES


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _describe(index: int, period: OnHours) -> str:
    kind = " overnight" if period.overnight else ""
    return f"on_hours[{index}] ({','.join(period.days)} {period.start}-{period.end}{kind})"


class Schedule(Strict):
    timezone: str = "UTC"
    on_hours: list[OnHours] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    # runtime: stop the runtime and its nodes (the agent too with stop_agent); deep: the whole data
    # plane sleeps: runtime, agent (its timers and instance), every node group, management included.
    sleep: Literal["runtime", "deep"] = Field("runtime", exclude_if=lambda v: v == "runtime")
    # The agent instance keeps running while runtimes are stopped unless the request opts in.
    stop_agent: StrictBool = Field(False, exclude_if=lambda v: v is False)
    # The warehouse auto-suspends anyway; this suspends it at once when the runtime stops.
    suspend_warehouse: StrictBool = Field(False, exclude_if=lambda v: v is False)
    # When the WAL guard finds the source cannot keep WAL for the whole off period: False refuses
    # the stop; True stops anyway and schedules an early start within the safe time.
    shorten_stops: StrictBool = Field(False, exclude_if=lambda v: v is False)

    @property
    def deep(self) -> bool:
        return self.sleep == "deep"

    @property
    def agent_sleeps(self) -> bool:
        """Deep sleep stops the agent whatever stop_agent says: a running agent would re-apply the
        infrastructure and scale the node groups back."""
        return self.stop_agent or self.deep

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        if v not in available_timezones():
            raise ValueError(f"{v!r} is not an IANA time zone name such as Asia/Tokyo or Europe/Berlin")
        try:
            ZoneInfo(v)
        except ZoneInfoNotFoundError:  # pragma: no cover - available_timezones already checked
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @model_validator(mode="after")
    def _overlap(self) -> Schedule:
        if not self.on_hours:
            raise ValueError(
                "on_hours is empty: list at least one period such as "
                "{days: [mon, tue, wed, thu, fri], start: '08:00', end: '20:00'}, "
                "or remove schedule to keep the runtime always on"
            )
        # Compare every pair of periods on the weekly circle, so an overnight period spilling into
        # the next day (or Sunday's into Monday) is checked against that day's periods too.
        spans = sorted(
            (start, end, i) for i, p in enumerate(self.on_hours) for start, end in p.weekly_spans()
        )
        for a, (start1, end1, i) in enumerate(spans):
            for start2, end2, j in spans[a + 1 :]:
                for shift in (-_WEEK_MINUTES, 0, _WEEK_MINUTES):
                    lo, hi = max(start1, start2 + shift), min(end1, end2 + shift)
                    if lo < hi:
                        first, second = sorted((i, j))
                        day = _DAYS[(lo // _DAY_MINUTES) % 7]
                        raise ValueError(
                            f"on_hours periods overlap on {day} at "
                            f"{lo % _DAY_MINUTES // 60:02d}:{lo % 60:02d}: "
                            f"{_describe(first, self.on_hours[first])} and "
                            f"{_describe(second, self.on_hours[second])}; shorten one or merge them"
                        )
        if sum(end - start for start, end, _ in spans) >= _WEEK_MINUTES:
            raise ValueError(
                "on_hours cover the whole week, so nothing would ever stop; "
                "leave some hours off, or remove schedule to keep the runtime always on"
            )
        return self


class NotificationTarget(Strict):
    sns_topic_arn: str | None = None
    slack_webhook_secret_arn: SecretArn | None = None

    @field_validator("sns_topic_arn")
    @classmethod
    def _sns(cls, v: str | None) -> str | None:
        if v is not None and not _SNS_ARN.match(v):
            raise ValueError(
                f"{rules.masked_url(v)} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>); "
                "a Slack webhook URL is a secret: store it under the secrets prefix and set "
                "slack_webhook_secret_arn"
            )
        return v

    @model_validator(mode="after")
    def _one(self) -> NotificationTarget:
        if (self.sns_topic_arn is None) == (self.slack_webhook_secret_arn is None):
            raise ValueError("give exactly one of sns_topic_arn or slack_webhook_secret_arn per target")
        return self


class WatchSettings(Strict):
    """The watch (statemachines/watch.asl.json): every `interval_minutes` while the pipeline is on,
    hourly for the slot while it sleeps. Integers are strict: `true` is not a number."""

    enabled: StrictBool = True
    interval_minutes: StrictInt = Field(5, ge=1, le=60)
    # each remedy (RESUME RECOVERY, STOP then START, ...) at most this often a day, then alert only
    max_heals: StrictInt = Field(2, ge=0, le=24)
    freshness_slo_seconds: StrictInt = Field(600, ge=60, le=86400)
    # how long one run waits for its heartbeat in Snowflake (an Express run lasts at most 5 minutes)
    heartbeat_wait_seconds: StrictInt = Field(60, ge=0, le=240)
    wal_warn_bytes: StrictInt = Field(2**30, ge=2**20)
    # The event table's runtime namespace is runtime-<runtime key> (openflow/monitor): the key is read
    # from DESC OPENFLOW RUNTIME's key column; this overrides it where that column is empty.
    runtime_key: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")


class DigestSettings(Strict):
    """The weekly digest (power/digest.py) to the notification targets: the seven UTC days before
    the day it is sent, on `day` at `time` in `timezone` (default: the schedule's, else UTC)."""

    enabled: StrictBool = True
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: str = "09:00"
    timezone: str | None = None

    @field_validator("time")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"{v!r} is not a time of day as HH:MM (24-hour)")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None and v not in available_timezones():
            raise ValueError(f"{v!r} is not an IANA time zone name such as Asia/Tokyo or Europe/Berlin")
        return v


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
