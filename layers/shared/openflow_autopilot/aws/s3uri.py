"""S3 locations: parse s3:// URIs and build the keys the workflow writes under."""

from __future__ import annotations

from dataclasses import dataclass

from openflow_autopilot.errors import InvalidRequest


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith("s3://") or "/" not in uri[5:]:
            raise InvalidRequest(f"{uri!r} is not an s3://bucket/key URI")
        bucket, key = uri[5:].split("/", 1)
        if not bucket or not key:
            raise InvalidRequest(f"{uri!r} is not an s3://bucket/key URI")
        return cls(bucket, key)


def template_upload_key(deployment: str) -> str:
    """Where a human uploads the deployment's template; an ObjectCreated event here resumes the run."""
    return f"templates/{deployment}.yaml"


def pending_token_key(deployment: str) -> str:
    return f"pending-templates/{deployment}.json"


def execution_prefix(execution_id: str) -> str:
    """Artifacts of one execution (templates, findings, journals): never carried in the state."""
    name = execution_id.rsplit(":", 1)[-1]
    return f"executions/{name}"
