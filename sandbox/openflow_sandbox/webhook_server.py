"""The webhook function on a local HTTP port, served the way its Function URL serves it.

`WebhookServer(sandbox).start()` listens on a free loopback port and turns each request into a
Function URL event (payload format 2.0) for the webhook function deployed in the sandbox, invoked
through moto's Lambda (which runs our handler in-process); the function's statusCode, headers and
body become the HTTP response. The server also plays the outside world the functions answer to:

- `/fake/slack/...`: Slack's response_url. POSTs are recorded; `GET /fake/slack` lists them.
- `/fake/github/...`: GitHub's REST API for issue comments; `GET /fake/github` lists them.

On start it does what an operator does after `sam deploy`: stores the webhook secret (the sandbox's
signing secrets and a GitHub token) in Secrets Manager under the name the template reads by
default, uploads a request document for `/openflow setup`, and sets the functions' endpoint
variables (SLACK_RESPONSE_URL_PREFIXES, GITHUB_API_URL) and the approvers' allow-list.
"""

from __future__ import annotations

import base64
import itertools
import json
import shlex
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import boto3
import yaml
from botocore.config import Config

from openflow_autopilot.triggers.verify import hub_signature, slack_signature

if TYPE_CHECKING:
    from openflow_sandbox.environment import Sandbox

# Test values, valid only against this sandbox.
SLACK_SIGNING_SECRET = "sandbox-slack-signing-secret"  # noqa: S105
GITHUB_WEBHOOK_SECRET = "sandbox-github-webhook-secret"  # noqa: S105
JIRA_WEBHOOK_SECRET = "sandbox-jira-webhook-secret"  # noqa: S105
SERVICENOW_WEBHOOK_SECRET = "sandbox-servicenow-webhook-secret"  # noqa: S105
GITHUB_TOKEN = "sandbox-github-token"  # noqa: S105
APPROVER = "U0SANDBOXADMIN"  # on the allow-list
SECRET_NAME = "openflow-autopilot/webhook"  # noqa: S105 - <SecretsPrefix>webhook, the template's default
REQUEST_NAME = "sales-cdc"
DEPLOYMENT = "SALES_CDC_DEPLOYMENT"
GITHUB_LABEL = "openflow-provision"
MAX_REQUEST_BYTES = 6 * 1024 * 1024  # a Function URL's request payload limit
# Function URLs pass these bodies as text and base64-encode everything else (form posts included).
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
# Functions that talk back to Slack or GitHub and so need the stand-ins' addresses.
_REPLYING = ("WebhookFunction", "NotifyFunction", "AwaitApprovalFunction", "AwaitTemplateFunction")
_ids = itertools.count(1)


def webhook_secret() -> str:
    """The webhook secret's value in the sandbox (keys as in openflow_autopilot.triggers.secrets)."""
    return json.dumps(
        {
            "slack_signing_secret": SLACK_SIGNING_SECRET,
            "github_webhook_secret": GITHUB_WEBHOOK_SECRET,
            "jira_webhook_secret": JIRA_WEBHOOK_SECRET,
            "servicenow_webhook_secret": SERVICENOW_WEBHOOK_SECRET,
            "github_token": GITHUB_TOKEN,
        }
    )


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith(_TEXT_TYPES) or kind.endswith(("+json", "+xml"))


def function_url_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, *, domain: str, source_ip: str
) -> dict[str, Any]:
    """What a Lambda Function URL hands the function for one HTTP request (payload format 2.0)."""
    split = urllib.parse.urlsplit(target)
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    decoded: str | None = None
    if _is_text(merged.get("content-type", "")):
        try:
            decoded = body.decode("utf-8")
        except UnicodeDecodeError:
            decoded = None  # not text after all: base64, like any binary body
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": split.path or "/",
        "rawQueryString": split.query,
        "headers": merged,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "sandbox",
            "domainName": domain,
            "domainPrefix": "sandbox",
            "http": {
                "method": method,
                "path": split.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": f"sandbox-{next(_ids)}",
            "routeKey": "$default",
            "stage": "$default",
            "time": datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
    if split.query:
        event["queryStringParameters"] = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
    if body:
        if decoded is not None:
            event["body"] = decoded
        else:
            event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    return event


class WebhookServer:
    def __init__(self, sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        self.host = host
        self.port = port
        self.url = ""
        self.function_name = ""
        self.slack_messages: list[dict[str, Any]] = []  # what the functions posted to response_urls
        self.github_comments: list[dict[str, Any]] = []  # comments posted through the GitHub API
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lambda: Any = None
        self._lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> WebhookServer:
        app = self.sandbox.app
        assert app is not None, "start the sandbox first"
        self.function_name = app.resources["WebhookFunction"]
        # One attempt: a webhook retried by the SDK could act twice before its idempotency claim.
        self._lambda = boto3.client(
            "lambda", config=Config(retries={"max_attempts": 1}, read_timeout=150, connect_timeout=5)
        )
        self._httpd = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        self._httpd.daemon_threads = True
        self.url = f"http://{self.host}:{self._httpd.server_port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="sandbox-webhook", daemon=True
        )
        self._thread.start()
        try:
            self.configure()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def configure(self) -> None:
        """The operator's part after `sam deploy`: the webhook secret, a request document, the
        functions' variables (a configuration update is a cold start, as in Lambda)."""
        secret = webhook_secret()
        sm = boto3.client("secretsmanager")
        try:
            sm.create_secret(Name=SECRET_NAME, SecretString=secret)
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=SECRET_NAME, SecretString=secret)
        self.put_request(REQUEST_NAME, self.sandbox.request())
        endpoints = {
            "SLACK_RESPONSE_URL_PREFIXES": f"{self.url}/fake/slack/",
            "GITHUB_API_URL": f"{self.url}/fake/github",
        }
        resources = self.sandbox.app.resources if self.sandbox.app else {}
        for logical_id in _REPLYING:
            if logical_id not in resources:
                continue
            extra = dict(endpoints)
            if logical_id == "WebhookFunction":
                extra.update(SLACK_ALLOWED_USERS=APPROVER, DEFAULT_DEPLOYMENT=DEPLOYMENT)
            self._set_environment(resources[logical_id], extra)

    def _set_environment(self, function_name: str, extra: Mapping[str, str]) -> None:
        current = self._lambda.get_function_configuration(FunctionName=function_name)
        variables = {**current.get("Environment", {}).get("Variables", {}), **extra}
        self._lambda.update_function_configuration(
            FunctionName=function_name, Environment={"Variables": variables}
        )

    def put_request(self, name: str, document: Mapping[str, Any]) -> str:
        """requests/<name>.yaml in the artifact bucket, where `/openflow setup <name>` reads it."""
        key = f"requests/{name}.yaml"
        boto3.client("s3").put_object(
            Bucket=self.sandbox.artifact_bucket, Key=key, Body=yaml.safe_dump(dict(document)).encode()
        )
        return key

    # --- serving ---------------------------------------------------------------------------
    def invoke(self, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        """The deployed function, as the Function URL calls it; a function error is a 502."""
        response = self._lambda.invoke(FunctionName=self.function_name, Payload=json.dumps(event).encode())
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            return 502, {"content-type": "application/json"}, b'{"Message":"Internal Server Error"}'
        try:
            result = json.loads(payload) if payload else None
        except json.JSONDecodeError:
            return 502, {"content-type": "application/json"}, b'{"Message":"Internal Server Error"}'
        if not isinstance(result, dict) or "statusCode" not in result:
            # A Function URL treats any other JSON value as the body of a 200.
            return 200, {"content-type": "application/json"}, json.dumps(result).encode()
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        return int(result["statusCode"]), headers, raw

    def record(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        """The stand-ins for Slack and GitHub."""
        try:
            data: Any = json.loads(body) if body else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = body.decode("utf-8", "replace")
        if path == "/fake/slack" and method == "GET":
            return 200, list(self.slack_messages)
        if path == "/fake/github" and method == "GET":
            return 200, list(self.github_comments)
        if path.startswith("/fake/slack/") and method == "POST":
            with self._lock:
                self.slack_messages.append({"path": path, "payload": data})
            return 200, "ok"
        if path.startswith("/fake/github/repos/") and path.endswith("/comments") and method == "POST":
            authorized = headers.get("authorization") == f"Bearer {GITHUB_TOKEN}"
            if not authorized:
                return 401, {"message": "Bad credentials"}
            with self._lock:
                comment = {
                    "id": len(self.github_comments) + 1,
                    "path": path.removeprefix("/fake/github"),
                    "body": (data or {}).get("body", "") if isinstance(data, dict) else "",
                }
                self.github_comments.append(comment)
            return 201, comment
        return 404, {"message": "Not Found"}

    # --- clients ---------------------------------------------------------------------------
    def slack_command(
        self, text: str, *, user: str = APPROVER, secret: str = SLACK_SIGNING_SECRET, at: float | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A signed `/openflow <text>` as Slack sends it; replies go to a fresh /fake/slack URL."""
        n = next(_ids)
        body = urllib.parse.urlencode(
            {
                "token": "sandbox",
                "team_id": "T0SANDBOX",
                "team_domain": "sandbox",
                "channel_id": "C0SANDBOX",
                "channel_name": "openflow",
                "user_id": user,
                "user_name": "sandbox-user",
                "command": "/openflow",
                "text": text,
                "response_url": f"{self.url}/fake/slack/commands/{n}",
                "trigger_id": f"{n}.{int(time.time() * 1000)}.sandbox",
            }
        ).encode()
        return body, _slack_headers(body, secret, at)

    def slack_button(
        self, approval_id: str, *, approve: bool = True, user: str = APPROVER
    ) -> tuple[bytes, dict[str, str]]:
        """A signed press of the Approve (or Reject) button on an approval message."""
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": "sandbox-user", "team_id": "T0SANDBOX"},
            "team": {"id": "T0SANDBOX"},
            "response_url": f"{self.url}/fake/slack/actions/{next(_ids)}",
            "actions": [
                {
                    "action_id": "openflow_approve" if approve else "openflow_reject",
                    "block_id": f"approval-{approval_id}",
                    "value": approval_id,
                    "type": "button",
                }
            ],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return body, _slack_headers(body, SLACK_SIGNING_SECRET, None)

    def github_issue_labeled(
        self, request: Mapping[str, Any], *, delivery_id: str, number: int = 7, repo: str = "acme/data"
    ) -> tuple[bytes, dict[str, str]]:
        """A signed `issues` `labeled` delivery for an issue whose body carries `request`."""
        issue_body = f"Please provision this.\n\n```yaml\n{yaml.safe_dump(dict(request))}```\n"
        payload = {
            "action": "labeled",
            "label": {"name": GITHUB_LABEL},
            "issue": {
                "number": number,
                "title": "Provision Openflow",
                "body": issue_body,
                "html_url": f"https://github.com/{repo}/issues/{number}",
                "comments_url": f"{self.url}/fake/github/repos/{repo}/issues/{number}/comments",
                "labels": [{"name": GITHUB_LABEL}],
            },
            "repository": {"full_name": repo},
            "sender": {"login": "octocat"},
        }
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": delivery_id,
            "X-Hub-Signature-256": hub_signature(GITHUB_WEBHOOK_SECRET, body),
        }
        return body, headers

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        """POST to this server (a real HTTP request); returns the status and the JSON (or text) body."""
        req = urllib.request.Request(  # noqa: S310 - our own loopback server
            self.url + path, data=body, headers=dict(headers), method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
                status, raw = int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw.decode("utf-8", "replace")

    def curl(self, text: str = "status") -> str:
        """A ready `curl` posting a signed `/openflow <text>` (Slack's replay window: 5 minutes)."""
        return self._curl("/slack/commands", *self.slack_command(text))

    def curl_button(self, approval_id: str, *, approve: bool = True) -> str:
        """A ready `curl` pressing Approve (or Reject) as the approver (valid for 5 minutes)."""
        return self._curl("/slack/interactions", *self.slack_button(approval_id, approve=approve))

    def _curl(self, path: str, body: bytes, headers: Mapping[str, str]) -> str:
        parts = ["curl", "-sS", "-X", "POST", f"{self.url}{path}"]
        for name, value in headers.items():
            parts += ["-H", f"{name}: {value}"]
        parts += ["--data-binary", body.decode()]
        return " ".join(shlex.quote(p) for p in parts)

    def curl_fresh(self, text: str = "status") -> str:
        """The same with the timestamp and signature computed by the shell (bash and openssl)."""
        body = self.slack_command(text)[0].decode()
        return (
            f"body={shlex.quote(body)}; ts=$(date +%s); "
            f'sig="v0=$(printf \'v0:%s:%s\' "$ts" "$body" | openssl dgst -sha256 -hmac '
            f"{shlex.quote(SLACK_SIGNING_SECRET)} -r | cut -d' ' -f1)\"; "
            f'curl -sS -X POST {self.url}/slack/commands -H "X-Slack-Request-Timestamp: $ts" '
            f'-H "X-Slack-Signature: $sig" -H "Content-Type: application/x-www-form-urlencoded" '
            f'--data-binary "$body"'
        )


def _slack_headers(body: bytes, secret: str, at: float | None) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": slack_signature(secret, stamp, body),
    }


def _handler_for(server: WebhookServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "openflow-sandbox-webhook"

        def log_message(self, format: str, *args: Any) -> None:
            return None  # requests carry signatures; the sandbox keeps its terminal quiet

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._reply(413, {"content-type": "application/json"}, b'{"Message":"Request too large"}')
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            path = urllib.parse.urlsplit(self.path).path
            if path == "/fake" or path.startswith("/fake/"):
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, data = server.record(self.command, path, headers, body)
                raw = data.encode() if isinstance(data, str) else json.dumps(data).encode()
                kind = "text/plain" if isinstance(data, str) else "application/json"
                self._reply(status, {"content-type": kind}, raw)
                return
            event = function_url_event(
                self.command,
                self.path,
                list(self.headers.items()),
                body,
                domain=self.headers.get("Host", server.url.removeprefix("http://")),
                source_ip=self.client_address[0],
            )
            try:
                status, headers, raw = server.invoke(event)
            except Exception:  # moto unreachable or the invocation itself failed: what a URL says
                status, headers, raw = 502, {"content-type": "application/json"}, b'{"Message":"Bad Gateway"}'
            self._reply(status, headers, raw)

        def _reply(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler
