"""When the watch speaks: once per change (of the run's severity, or of which checks are at warning
or worse), never again while nothing changes, and one "resolved" when it is all well again.

Targets are the provisioning workflow's: the stack's topic and the request's notifications.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from openflow_autopilot.aws.calls import aws_call
from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.notify import _post_slack
from openflow_autopilot.watch.models import ALERTING, WatchMemory, WatchRun

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient


def alert_kinds(run: WatchRun) -> list[str]:
    return sorted({f.kind for f in run.findings if f.severity in ALERTING})


def decide(run: WatchRun, memory: WatchMemory) -> str | None:
    """'alert', 'resolved' or None (nothing new to say)."""
    if run.severity in ALERTING:
        if run.severity != memory.alerted_severity or alert_kinds(run) != memory.alerted_kinds:
            return "alert"
        return None
    return "resolved" if memory.alerted_severity in ALERTING else None


def message(run: WatchRun, kind: str) -> tuple[str, str]:
    """(subject, text): what was seen, what was done, what the human should do."""
    if kind == "resolved":
        subject = f"[resolved] Openflow {run.deployment}: the watch sees it healthy again"
        seen = [f"- {f.message}" for f in run.findings]
        return subject, "\n".join(["What the watch sees now:", *seen])
    bad = [f for f in run.findings if f.severity in ALERTING]
    subject = f"[{run.severity}] Openflow {run.deployment}: " + ", ".join(sorted({f.kind for f in bad}))
    lines = ["Seen:", *[f"- {f.severity}: {f.message}" for f in bad]]
    if run.heals:
        lines += [
            "Done:",
            *[f"- {h.remedy} on {h.target}: {h.status_before} -> {h.status_after}" for h in run.heals],
        ]
    if run.woke:
        lines.append(f"- woken early: power execution {run.woke}")
    fixes = list(dict.fromkeys(f.fix for f in bad if f.fix))
    if fixes:
        lines += ["To do:", *[f"- {fix}" for fix in fixes]]
    lines.append("openflow-autopilot watch status -c <request> shows the last runs.")
    return subject[:200], "\n".join(lines)


def send(
    request: ProvisionRequest,
    *,
    subject: str,
    text: str,
    default_topic_arn: str | None,
    sns: SNSClient | None = None,
    secrets: SecretsManagerClient | None = None,
) -> list[str]:
    """Publish to every target; returns where it went."""
    topics = [default_topic_arn] if default_topic_arn else []
    topics += [t.sns_topic_arn for t in request.notifications if t.sns_topic_arn]
    body = json.dumps({"workflow": "watch", "request_name": request.name, "subject": subject, "text": text})
    delivered: list[str] = []
    for arn in dict.fromkeys(topics):
        sns = sns or client("sns", request.aws.region)
        with aws_call("sns:Publish"):
            sns.publish(TopicArn=arn, Subject=subject[:99], Message=body)
        delivered.append(arn)
    for target in request.notifications:
        if target.slack_webhook_secret_arn:
            secrets = secrets or client("secretsmanager", request.aws.region)
            with aws_call("secretsmanager:GetSecretValue"):
                url = secrets.get_secret_value(SecretId=target.slack_webhook_secret_arn)[
                    "SecretString"
                ].strip()
            _post_slack(url, f"*{subject}*\n{text}")
            delivered.append(f"slack webhook ({target.slack_webhook_secret_arn})")
    return delivered
