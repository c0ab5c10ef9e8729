"""The webhook function's dependencies: `WebhookDeps` holds everything `handle` and the jobs talk to
(Step Functions, Lambda, S3, the idempotency store, the signing secrets, the HTTP opener and the
request loader), each built from the real AWS SDK on first use unless a test or the sandbox passes
its own, so the cold start creates no client.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from openflow_autopilot.errors import ConfigurationError, InvalidRequest
from openflow_autopilot.triggers.config import WebhookConfig
from openflow_autopilot.triggers.models import JOB_EVENT_KEY, Job
from openflow_autopilot.triggers.secrets import (
    SecretProvider,
    SigningSecrets,
    load_signing_secrets,
    powertools_provider,
)
from openflow_autopilot.triggers.slack import Opener
from openflow_autopilot.triggers.store import (
    DynamoDbIdempotencyStore,
    IdempotencyStore,
    MemoryIdempotencyStore,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger("openflow_autopilot.triggers")

RequestLoader = Callable[[str], Any]  # request name -> the parsed YAML/JSON document


class WebhookDeps:
    """Everything `handle` and the jobs talk to. Anything not passed in is built on first use from
    the real AWS SDK (boto3 honours AWS_ENDPOINT_URL, which is how the sandbox redirects it)."""

    def __init__(
        self,
        config: WebhookConfig,
        *,
        sfn: SFNClient | None = None,
        lambda_client: Any = None,
        s3: S3Client | None = None,
        dynamodb: DynamoDBClient | None = None,
        store: IdempotencyStore | None = None,
        secret_provider: SecretProvider | None = None,
        dispatch: Callable[[Job], None] | None = None,
        opener: Opener | None = None,
        request_loader: RequestLoader | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._clients: dict[str, Any] = {
            k: v
            for k, v in {
                "stepfunctions": sfn,
                "lambda": lambda_client,
                "s3": s3,
                "dynamodb": dynamodb,
            }.items()
            if v is not None
        }
        self._store = store
        self._secret_provider = secret_provider
        self._dispatch = dispatch
        self._opener = opener
        self._request_loader = request_loader
        self.clock = clock

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            from openflow_autopilot.aws.clients import client  # boto3 is imported on first use

            self._clients[service] = client(service)
        return self._clients[service]

    @property
    def sfn(self) -> Any:
        return self._client("stepfunctions")

    @property
    def s3(self) -> Any:
        return self._client("s3")

    @property
    def store(self) -> IdempotencyStore:
        if self._store is None:
            if self.config.idempotency_table:
                self._store = DynamoDbIdempotencyStore(
                    self._client("dynamodb"), self.config.idempotency_table
                )
            else:
                # Without a table, duplicates are still caught by the deterministic execution name.
                logger.warning("IDEMPOTENCY_TABLE is not set: delivery ids are remembered per container only")
                self._store = MemoryIdempotencyStore()
        return self._store

    def secrets(self) -> SigningSecrets:
        provider = self._secret_provider or powertools_provider(self.config.secret_max_age_seconds)
        self._secret_provider = provider
        return load_signing_secrets(self.config.webhook_secret_arn, provider)

    @property
    def opener(self) -> Opener:
        if self._opener is None:
            import urllib.request

            self._opener = urllib.request.urlopen
        return self._opener

    def load_request(self, name: str) -> Any:
        """requests/<name>.yaml from the artifact bucket, parsed (YAML is a superset of JSON)."""
        if self._request_loader is not None:
            return self._request_loader(name)
        import yaml

        if not self.config.artifact_bucket:
            raise ConfigurationError("ARTIFACT_BUCKET is not set", fix="set it in template.yaml")
        key = f"requests/{name}.yaml"
        try:
            body = self.s3.get_object(Bucket=self.config.artifact_bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise InvalidRequest(
                f"there is no `{key}` in the artifact bucket",
                fix=f"upload it: aws s3 cp {name}.yaml s3://{self.config.artifact_bucket}/{key}",
            ) from None
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError:
            raise InvalidRequest(f"`{key}` is not valid YAML") from None

    def dispatch(self, job: Job) -> None:
        """Run `job` asynchronously: an Event invocation of this function (or the injected runner)."""
        if self._dispatch is not None:
            self._dispatch(job)
            return
        if not self.config.function_name:
            raise ConfigurationError("the function's own name is unknown (AWS_LAMBDA_FUNCTION_NAME)")
        self._client("lambda").invoke(
            FunctionName=self.config.function_name,
            InvocationType="Event",
            Payload=json.dumps({JOB_EVENT_KEY: job.model_dump(mode="json")}).encode(),
        )
