"""Ticket webhooks: a GitHub issue, a Jira ticket or a ServiceNow record carrying a provisioning
request starts the provisioning workflow, and progress is commented back on it.

- GitHub `issues` events: `labeled` with the configured label. GitHub also sends `labeled` for
  labels set when an issue is opened, so `opened` itself is ignored (else one issue = two runs).
- Jira `jira:issue_created` with the label (or the trigger field set), or `jira:issue_updated`
  whose changelog adds the label (or sets the field): plain edits never start a second run.
- ServiceNow: every delivery of the outbound REST message (the business rule decides when).
The request document is the first fenced ```yaml block (Jira: also {code:yaml}) of the body or
description; a body that is itself a YAML request also works. An invalid document produces a
comment naming the bad fields and starts nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.masking import mask_credentials
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.triggers.models import TicketOrigin, TicketSystem
from openflow_autopilot.triggers.verify import lower_headers

MAX_COMMENT = 30000  # under GitHub's 65,536 and Jira's 32,767 characters
_FENCED = re.compile(r"```[ \t]*([A-Za-z]*)[ \t]*\r?\n(.*?)(?:\r?\n)?[ \t]*```", re.DOTALL)
_JIRA_CODE = re.compile(r"\{(code|noformat)(?::([^}]*))?\}\r?\n?(.*?)\{\1\}", re.DOTALL)


class TicketDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: Literal["ignore", "provision", "invalid"]
    reason: str  # safe to log: names the event and the rule, never the body
    origin: TicketOrigin | None = None
    request: dict[str, Any] | None = None
    request_name: str | None = None
    comment: str | None = None  # for "invalid": what to post back on the ticket


def _ignore(reason: str) -> TicketDecision:
    return TicketDecision(action="ignore", reason=reason)


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidRequest("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the request body is not a JSON object")
    return data


def _body_digest(body: bytes) -> str:
    # A retry resends the same bytes: a fallback delivery id when the vendor's header is absent.
    return "sha256:" + hashlib.sha256(body).hexdigest()


# --- the request document ----------------------------------------------------------------------
def find_request_document(text: str) -> str | None:
    """The first ```yaml (or ```yml / ```json / untagged) block; Jira's {code:yaml} too."""
    blocks: list[tuple[str, str]] = [(m.group(1).lower(), m.group(2)) for m in _FENCED.finditer(text)]
    blocks += [
        ((m.group(2) or "").split("|")[0].strip().lower(), m.group(3)) for m in _JIRA_CODE.finditer(text)
    ]
    for wanted in (("yaml", "yml"), ("json",), ("",)):
        for lang, content in blocks:
            if lang in wanted:
                return content
    return None


def _adf_text(node: Any) -> str:
    """Jira's Atlassian Document Format (when a description arrives as a document, not wiki text):
    code blocks become fenced blocks, other text is kept line by line."""
    if isinstance(node, list):
        return "\n".join(_adf_text(n) for n in node)
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    inner = "".join(_adf_text(n) for n in node.get("content") or [])
    if node.get("type") == "codeBlock":
        lang = str((node.get("attrs") or {}).get("language") or "")
        return f"```{lang}\n{inner}\n```"
    return inner


def _load_document(text: str) -> dict[str, Any]:
    block = find_request_document(text)
    source = block if block is not None else text
    try:
        data = yaml.safe_load(source) if source.strip() else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InvalidRequest(f"the request document is not valid YAML{where}") from None
    usable = isinstance(data, dict) and (block is not None or {"name", "snowflake"} & set(data))
    if not usable:
        raise InvalidRequest(
            "no request document found: put the provisioning request in a fenced ```yaml block"
        )
    assert isinstance(data, dict)
    return data


def validation_lines(exc: ValidationError) -> list[str]:
    """One line per invalid field, for a ticket comment or a Slack reply. The request model's
    messages quote the bad value, so credential-like parts (a URL's userinfo and query, a webhook
    URL, a token) are masked."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "request"
        lines.append(mask_credentials(f"- `{where}`: {err['msg'].removeprefix('Value error, ')}"))
    return lines


def invalid_comment(problem: list[str], *, retrigger: str) -> str:
    return "\n".join(
        [
            "**Openflow Autopilot did not start provisioning**: the request document is invalid.",
            "",
            *problem,
            "",
            f"Nothing was changed. Fix the fields above, then {retrigger}.",
        ]
    )


def _decide(text: str, origin: TicketOrigin, *, retrigger: str, reason: str) -> TicketDecision:
    try:
        data = _load_document(text)
        request = ProvisionRequest.model_validate(data)
    except InvalidRequest as exc:
        return TicketDecision(
            action="invalid",
            reason=f"{reason}: no valid request document",
            origin=origin,
            comment=invalid_comment([mask_credentials(f"- {exc.message}")], retrigger=retrigger),
        )
    except ValidationError as exc:
        return TicketDecision(
            action="invalid",
            reason=f"{reason}: request document has {exc.error_count()} invalid field(s)",
            origin=origin,
            comment=invalid_comment(validation_lines(exc), retrigger=retrigger),
        )
    return TicketDecision(
        action="provision",
        reason=reason,
        origin=origin,
        request=request.model_dump(mode="json"),
        request_name=request.name,
    )


# --- GitHub ------------------------------------------------------------------------------------
def parse_github(headers: Mapping[str, str], body: bytes, *, label: str) -> TicketDecision:
    h = lower_headers(headers)
    event = h.get("x-github-event", "")
    if event == "ping":
        return _ignore("github ping")
    if event != "issues":
        return _ignore(f"github event {event or '(none)'} is not handled")
    payload = _json(body)
    action = str(payload.get("action", ""))
    issue = payload.get("issue") or {}
    if action == "opened":
        # GitHub sends a separate `labeled` event for every label set at creation: acting on
        # `opened` as well would start two runs for one new issue.
        return _ignore("github issue opened: its labeled event (if any) starts provisioning")
    if action != "labeled":
        return _ignore(f"github issues action {action} is not handled")
    if str((payload.get("label") or {}).get("name")) != label:
        return _ignore("github issue labeled with another label")
    repo = str((payload.get("repository") or {}).get("full_name") or "?")
    origin = TicketOrigin(
        system="github",
        delivery_id=h.get("x-github-delivery") or _body_digest(body),
        ref=f"{repo}#{issue.get('number')}",
        url=issue.get("html_url"),
        comment_url=issue.get("comments_url"),
    )
    return _decide(
        str(issue.get("body") or ""),
        origin,
        retrigger=f"remove and re-add the label `{label}`",
        reason=f"github issue labeled {label}",
    )


# --- Jira --------------------------------------------------------------------------------------
def _field_set(value: Any) -> bool:
    if isinstance(value, dict):
        value = value.get("value", value.get("name"))
    return value not in (None, "", [], False, "No", "no", "false")


def parse_jira(
    headers: Mapping[str, str],
    body: bytes,
    *,
    label: str | None,
    trigger_field: str | None,
    base_url: str | None = None,
) -> TicketDecision:
    """A comment goes back only to an issue under the configured `base_url` (JIRA_BASE_URL): the
    issue's own `self` link decides nothing about where the Jira token is sent."""
    h = lower_headers(headers)
    payload = _json(body)
    event = str(payload.get("webhookEvent", ""))
    issue = payload.get("issue") or {}
    fields = issue.get("fields") or {}
    labels = {str(x) for x in fields.get("labels") or []}
    by_label = label is not None and label in labels
    by_field = trigger_field is not None and _field_set(fields.get(trigger_field))
    if event == "jira:issue_created":
        if not (by_label or by_field):
            return _ignore("jira issue created without the label or trigger field")
    elif event == "jira:issue_updated":
        added = False
        for item in (payload.get("changelog") or {}).get("items") or []:
            if not isinstance(item, dict):
                continue
            if label and item.get("field") == "labels":
                before = str(item.get("fromString") or "").split()
                after = str(item.get("toString") or "").split()
                added = added or (label in after and label not in before)
            if trigger_field and trigger_field in (item.get("fieldId"), item.get("field")):
                added = added or (by_field and bool(item.get("toString")))
        if not added:
            return _ignore("jira issue updated without adding the label or setting the trigger field")
    else:
        return _ignore(f"jira event {event or '(none)'} is not handled")
    key = str(issue.get("key") or "?")
    self_url = str(issue.get("self") or "")
    base = self_url.split("/rest/api/", 1)[0] if "/rest/api/" in self_url else None
    origin = TicketOrigin(
        system="jira",
        delivery_id=h.get("x-atlassian-webhook-identifier") or _body_digest(body),
        ref=key,
        url=f"{base}/browse/{key}" if base else None,
        comment_url=f"{self_url}/comment" if _under(self_url, base_url) else None,
    )
    description = fields.get("description") or ""
    text = description if isinstance(description, str) else _adf_text(description)
    what = f"the label `{label}`" if label else f"the field {trigger_field}"
    return _decide(
        text,
        origin,
        retrigger=f"remove and re-add {what}",
        reason=f"jira {event.removeprefix('jira:')} {key}",
    )


def _under(url: str, base: str | None) -> bool:
    return bool(base) and url.startswith(f"{str(base).rstrip('/')}/") and url.startswith("https://")


# --- ServiceNow --------------------------------------------------------------------------------
def parse_servicenow(
    headers: Mapping[str, str], body: bytes, *, instance_url: str | None, table: str
) -> TicketDecision:
    payload = _json(body)
    sys_id = str(payload.get("sys_id") or "")
    if not re.fullmatch(r"[0-9a-f]{32}", sys_id):
        raise InvalidRequest("the ServiceNow message has no sys_id (32 hex characters)")
    table = str(payload.get("table") or table)
    if not re.fullmatch(r"[a-z0-9_]{1,80}", table):
        raise InvalidRequest("the ServiceNow table name is not valid")
    number = str(payload.get("number") or sys_id)
    record_url = f"{instance_url}/api/now/table/{table}/{sys_id}" if instance_url else None
    origin = TicketOrigin(
        system="servicenow",
        # One record update is one delivery; without the update time, a retry resends the same bytes.
        delivery_id=f"{sys_id}@{updated}"
        if (updated := payload.get("sys_updated_on"))
        else _body_digest(body),
        ref=number,
        url=f"{instance_url}/nav_to.do?uri={table}.do?sys_id={sys_id}" if instance_url else None,
        comment_url=record_url,
    )
    return _decide(
        str(payload.get("description") or ""),
        origin,
        retrigger="update the record so the outbound message is sent again",
        reason=f"servicenow {number}",
    )


def parse_ticket(
    system: TicketSystem,
    headers: Mapping[str, str],
    body: bytes,
    *,
    github_label: str,
    jira_label: str | None,
    jira_trigger_field: str | None,
    servicenow_instance_url: str | None,
    servicenow_table: str,
    jira_base_url: str | None = None,
) -> TicketDecision:
    if system == "github":
        return parse_github(headers, body, label=github_label)
    if system == "jira":
        return parse_jira(
            headers, body, label=jira_label, trigger_field=jira_trigger_field, base_url=jira_base_url
        )
    return parse_servicenow(headers, body, instance_url=servicenow_instance_url, table=servicenow_table)


def provision_input(request: dict[str, Any], origin: TicketOrigin | dict[str, Any]) -> dict[str, Any]:
    """The provisioning state machine's input for a ticket-started run."""
    ref = origin.model_dump(mode="json") if isinstance(origin, TicketOrigin) else origin
    return {"request": request, "origin": ref}


# --- comments back on the ticket ---------------------------------------------------------------
class CommentRequest(NamedTuple):
    url: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"  # ServiceNow updates the record's work notes with PATCH


def _auth(token: str, user: str | None) -> str:
    if user:
        return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
    return f"Bearer {token}"


def comment_payload(
    origin: TicketOrigin,
    text: str,
    *,
    token: str,
    user: str | None = None,
    github_api_url: str | None = None,
    jira_base_url: str | None = None,
) -> CommentRequest:
    """The HTTP call that adds `text` to the ticket. GitHub: a token (Bearer). Jira: an API token
    with the account's e-mail as `user` (Basic; Cloud) or a personal access token (Bearer; Data
    Center). ServiceNow: a password with `user` (Basic) or an OAuth token (Bearer).

    With `github_api_url`, a GitHub comment URL must lie under that API (the token is never sent
    anywhere else); an explicitly configured http:// API (a local stand-in) is then accepted."""
    url = origin.comment_url or ""
    if origin.system == "github" and github_api_url is not None:
        if not url.startswith(github_api_url.rstrip("/") + "/"):
            raise InvalidRequest(
                f"cannot comment on github {origin.ref}: its comment URL is not under {github_api_url}",
                fix="set GITHUB_API_URL to the GitHub API that sends the webhooks",
            )
    elif origin.system == "jira" and not _under(url, jira_base_url):
        raise InvalidRequest(
            f"cannot comment on jira {origin.ref}: its comment URL is not under the configured Jira",
            fix="set the JiraBaseUrl parameter (JIRA_BASE_URL) to your Jira's https base URL",
        )
    elif not url.startswith("https://"):
        raise InvalidRequest(f"cannot comment on {origin.system} {origin.ref}: no https comment URL is known")
    # The last stop before a ticket: whatever the text quotes (a validation error, a run's failure),
    # credential-like values are masked. Our own console links are kept intact.
    text = mask_credentials(text)
    text = text if len(text) <= MAX_COMMENT else text[: MAX_COMMENT - 20] + "\n…(truncated)"
    headers = {"Content-Type": "application/json", "Accept": "application/json", "Authorization": ""}
    if origin.system == "github":
        headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "openflow-autopilot",
                "Authorization": f"Bearer {token}",
            }
        )
        return CommentRequest(url, headers, json.dumps({"body": text}).encode())
    headers["Authorization"] = _auth(token, user)
    if origin.system == "jira":
        return CommentRequest(url, headers, json.dumps({"body": text}).encode())
    return CommentRequest(url, headers, json.dumps({"work_notes": text}).encode(), "PATCH")


def send_comment(req: CommentRequest, *, opener: Callable[..., Any] = urllib.request.urlopen) -> int:
    http = urllib.request.Request(  # noqa: S310 - comment_payload only builds https URLs
        req.url, data=req.body, headers=req.headers, method=req.method
    )
    with opener(http, timeout=10) as resp:
        resp.read()
        return int(getattr(resp, "status", 200))
