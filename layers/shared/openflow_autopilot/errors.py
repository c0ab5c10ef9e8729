"""Error classes. Their class names are the error names the state machines retry or catch.

Retryable errors (RetryableError subclasses) are retried by the ASL with backoff and jitter;
permanent ones go straight to Catch -> notify -> Fail. Messages never contain secret values.
"""

from __future__ import annotations


class AutopilotError(Exception):
    """Base class. `fix` tells the user what to do; `call` names the external call that failed."""

    def __init__(self, message: str, *, fix: str | None = None, call: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.call = call

    def __str__(self) -> str:
        parts = [self.message]
        if self.call:
            parts.append(f"(call: {self.call})")
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return " ".join(parts)


# --- retryable: the ASL retries these with backoff + full jitter -------------------------
class RetryableError(AutopilotError):
    """A transient failure: retry the same state."""


class SnowflakeRetryableError(RetryableError):
    """Snowflake network error, 5xx, throttling or a transient service error."""


class AwsRetryableError(RetryableError):
    """AWS throttling, 5xx or a connection problem."""


class PostgresRetryableError(RetryableError):
    """PostgreSQL connection refused/reset or a serialization failure."""


class NotReadyYet(RetryableError):
    """The thing being waited for is not there yet (instance not registered, stack still creating)."""


class HealInProgress(RetryableError):
    """The watch holds the deployment's lock while it heals (minutes at most, locks.WATCH_TTL_SECONDS):
    the provisioning and power workflows wait for it instead of giving up."""


# --- permanent: Catch -> notify with the diagnosis -> Fail -------------------------------
class PermanentError(AutopilotError):
    """Retrying will not help; a human must change something."""


class InvalidRequest(PermanentError):
    """The provisioning request (or another input) is invalid. Nothing was changed."""


class PermissionDenied(PermanentError):
    """The credentials lack a privilege needed for this call."""


class PreconditionFailed(PermanentError):
    """The target system is not in a state this phase can work from (e.g. blocking doctor findings)."""


class ConfigurationError(PermanentError):
    """The function's environment is missing or invalid (a deployment problem)."""


class StackFailed(PermanentError):
    """The CloudFormation stack failed or rolled back; the message names the first failed resource."""


class BudgetExhausted(PermanentError):
    """A wait loop used its whole budget (attempts or time) without reaching the wanted state."""


class TemplateNotUploaded(PermanentError):
    """Nobody uploaded the deployment's template before the pause timed out."""


class ApprovalRejected(PermanentError):
    """A human rejected a paused step (e.g. the reboot)."""


class AlreadyInProgress(PermanentError):
    """Another execution holds the deployment's lock (a provisioning or power run still running).
    The message names it; nothing was changed."""


# Names the ASL files refer to; a unit test checks they all exist here.
RETRYABLE_ERROR_NAMES = (
    "SnowflakeRetryableError",
    "AwsRetryableError",
    "PostgresRetryableError",
    "NotReadyYet",
    "HealInProgress",
)
PERMANENT_ERROR_NAMES = (
    "InvalidRequest",
    "PermissionDenied",
    "PreconditionFailed",
    "ConfigurationError",
    "StackFailed",
    "BudgetExhausted",
    "TemplateNotUploaded",
    "ApprovalRejected",
    "AlreadyInProgress",
)
