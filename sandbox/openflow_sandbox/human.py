"""The human in the loop, rehearsed: reads the workflow's notifications and does what they ask.

Subscribes a queue to the stack's notification topic; when a notification asks for the
deployment template, "downloads" it from the emulated Openflow UI and uploads it where the
notification says, as a platform engineer would.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

import boto3

from openflow_autopilot.approvals import resolve_approval
from openflow_autopilot.openflow.connector_parameters import PARAMETERS
from openflow_sandbox.openflow_ui import download_template

if TYPE_CHECKING:
    from openflow_sandbox.environment import Sandbox

log = logging.getLogger(__name__)
# "the 'password' field of Secrets Manager secret arn:...": where the canvas value is read from
_STORED = re.compile(r"the '(\w+)' field(?: \(PEM\))? of Secrets Manager secret (\S+)")
_UPLOAD = re.compile(
    r"download the CloudFormation template for deployment (\S+) .*? upload it, unchanged, to (s3://\S+?) "
)


class Human:
    def __init__(
        self,
        sandbox: Sandbox,
        *,
        uploads_template: bool = True,
        approves: bool = True,
        poll_seconds: float = 0.2,
    ) -> None:
        self.sandbox = sandbox
        self.uploads_template = uploads_template
        self.approves = approves
        self.approvals: list[str] = []
        self.canvases: list[list[str]] = []  # the parameter names set on each gen 1 canvas
        self.poll_seconds = poll_seconds
        self.messages: list[dict[str, Any]] = []
        self.uploads: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue_url = ""

    def start(self) -> None:
        assert self.sandbox.app is not None
        sqs = boto3.client("sqs")
        sns = boto3.client("sns")
        self._queue_url = sqs.create_queue(QueueName="platform-engineer-inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=self.sandbox.app.outputs["NotificationTopicArn"], Protocol="sqs", Endpoint=arn)
        self._thread = threading.Thread(target=self._run, name="sandbox-human", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        sqs = boto3.client("sqs")
        while not self._stop.is_set():
            try:
                batch = sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get(
                    "Messages", []
                )
                for msg in batch:
                    note = json.loads(json.loads(msg["Body"])["Message"])
                    self.messages.append(note)
                    self._act(note)
                    sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=msg["ReceiptHandle"])
            except Exception:
                log.exception("sandbox human could not read the inbox")
            self._stop.wait(self.poll_seconds)

    def configure_canvas(self, instructions: str) -> dict[str, Any]:
        """The gen 1 canvas step: set each parameter the instructions list, pasting secret values read
        from Secrets Manager, then start the flow (the sandbox's relay runs it)."""
        sm = boto3.client("secretsmanager")
        params: dict[str, Any] = {}
        for p in PARAMETERS:
            if p.gen1 is None:
                continue
            match = re.search(rf"^  {re.escape(p.gen1)}  +(.+)$", instructions, re.MULTILINE)
            if not match:
                continue
            value = match.group(1).strip()
            stored = _STORED.search(value)
            if stored:
                secret = json.loads(sm.get_secret_value(SecretId=stored.group(2))["SecretString"])
                value = str(secret[stored.group(1)])
            params[p.gen1] = value  # the canvas holds gen 1 names
        if self.sandbox.relay is None:
            raise RuntimeError("the sandbox runs without PostgreSQL: no connector to configure")
        self.sandbox.relay.canvas_flows[f"canvas:{self.sandbox.runtime_name}"] = params
        self.canvases.append(sorted(params))
        return params

    def _act(self, note: dict[str, Any]) -> None:
        if note.get("status") != "ACTION_NEEDED":
            return
        if note.get("approval_id"):
            if self.approves and "(gen1_runtime)" in note.get("subject", ""):
                # the UI step the notification asks for: create the runtime, then approve
                self.sandbox.snowflake.add_runtime_integration(self.sandbox.runtime_name)
            if self.approves and "(gen1_connector)" in note.get("subject", ""):
                self.configure_canvas(note.get("text", ""))
            if self.approves:
                # what `openflow-autopilot resume <id>` does
                resolve_approval(
                    boto3.client("s3"),
                    boto3.client("stepfunctions"),
                    bucket=self.sandbox.artifact_bucket,
                    approval_id=note["approval_id"],
                    approved=True,
                    by="sandbox:platform-engineer",
                )
                self.approvals.append(note["approval_id"])
            return
        if not self.uploads_template:
            return
        match = _UPLOAD.search(note.get("text", ""))
        if not match:
            return
        deployment, uri = match.group(1), match.group(2)
        bucket, key = uri[5:].split("/", 1)
        body = download_template(self.sandbox.snowflake, deployment)
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode())
        self.uploads.append(uri)
