"""The sections of the provisioning request about watching the pipeline and reporting on it:
where notifications go (NotificationTarget: an SNS topic or a Slack webhook secret), the watch's
interval, self-healing budget and thresholds (WatchSettings), and the weekly digest's day, time
and zone (DigestSettings). They sit apart from config.py, which keeps the request model and the
sections that say what gets provisioned.
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import available_timezones

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from openflow_autopilot import request_rules as rules
from openflow_autopilot.config_types import HHMM, SecretArn, Strict

_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


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
        if not HHMM.match(v):
            raise ValueError(f"{v!r} is not a time of day as HH:MM (24-hour)")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None and v not in available_timezones():
            raise ValueError(f"{v!r} is not an IANA time zone name such as Asia/Tokyo or Europe/Berlin")
        return v
