"""boto3 clients with the SDK's standard retry mode; AWS_ENDPOINT_URL (the sandbox) is honoured
by boto3 itself, so no code here knows about the sandbox.

OPENFLOW_AUTOPILOT_AWS_READ_TIMEOUT (seconds, default 30) sets how long a client waits for an
answer before the SDK gives up on the attempt and retries it; a value that is not a positive
number falls back to the default.

Clients are made once per execution environment and reused by later invocations (AWS's Lambda
best practice: initialise SDK clients outside the handler). A client is keyed by its service, its
region, the read timeout and every AWS_* variable (credentials, region, endpoint), so a changed
environment gets a new client rather than a stale one. boto3 clients are thread-safe; making them
from the shared default session is not, hence the lock.
"""

from __future__ import annotations

import math
import os
import threading
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config

if TYPE_CHECKING:  # the boto3 stubs (dev dependencies): never imported at run time
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ce import CostExplorerClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient

READ_TIMEOUT_ENV = "OPENFLOW_AUTOPILOT_AWS_READ_TIMEOUT"
DEFAULT_READ_TIMEOUT = 30.0


def read_timeout() -> float:
    """The read timeout for a new client: the environment's, else the default."""
    try:
        value = float(os.environ.get(READ_TIMEOUT_ENV, "").strip())
    except ValueError:
        return DEFAULT_READ_TIMEOUT
    return value if math.isfinite(value) and value > 0 else DEFAULT_READ_TIMEOUT


def config(timeout: float | None = None) -> Config:
    return Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=read_timeout() if timeout is None else timeout,
    )


_MAX_CLIENTS = 64  # a Lambda uses a handful; the sandbox starts a new endpoint for each test
_clients: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


@overload
def client(service: Literal["autoscaling"], region: str | None = None) -> AutoScalingClient: ...
@overload
def client(service: Literal["ce"], region: str | None = None) -> CostExplorerClient: ...
@overload
def client(service: Literal["cloudformation"], region: str | None = None) -> CloudFormationClient: ...
@overload
def client(service: Literal["cloudwatch"], region: str | None = None) -> CloudWatchClient: ...
@overload
def client(service: Literal["dynamodb"], region: str | None = None) -> DynamoDBClient: ...
@overload
def client(service: Literal["ec2"], region: str | None = None) -> EC2Client: ...
@overload
def client(service: Literal["ecr"], region: str | None = None) -> ECRClient: ...
@overload
def client(service: Literal["eks"], region: str | None = None) -> EKSClient: ...
@overload
def client(service: Literal["iam"], region: str | None = None) -> IAMClient: ...
@overload
def client(service: Literal["lambda"], region: str | None = None) -> LambdaClient: ...
@overload
def client(service: Literal["rds"], region: str | None = None) -> RDSClient: ...
@overload
def client(service: Literal["s3"], region: str | None = None) -> S3Client: ...
@overload
def client(service: Literal["scheduler"], region: str | None = None) -> EventBridgeSchedulerClient: ...
@overload
def client(service: Literal["secretsmanager"], region: str | None = None) -> SecretsManagerClient: ...
@overload
def client(service: Literal["sns"], region: str | None = None) -> SNSClient: ...
@overload
def client(service: Literal["sqs"], region: str | None = None) -> SQSClient: ...
@overload
def client(service: Literal["ssm"], region: str | None = None) -> SSMClient: ...
@overload
def client(service: Literal["stepfunctions"], region: str | None = None) -> SFNClient: ...
@overload
def client(service: str, region: str | None = None) -> Any: ...


def client(service: str, region: str | None = None) -> Any:
    """A cached client for the service and region, typed by the stubs for the services we call."""
    timeout = read_timeout()
    aws_env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    key = (service, region, timeout, aws_env)
    with _lock:
        found = _clients.get(key)
        if found is None:
            if len(_clients) >= _MAX_CLIENTS:
                _clients.clear()
            found = boto3.client(service, region_name=region, config=config(timeout))  # type: ignore[call-overload]
            _clients[key] = found
        return found
