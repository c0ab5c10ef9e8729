"""Credential-like values masked out of text that is posted somewhere people read it (a ticket
comment, a Slack reply).

The request model's error messages quote the offending value (`'https://user:pw@host/x' is not the
https URL of ...`), and a run's failure text may quote an error that carries a URL; both end up in
a comment on the ticket. `mask_credentials` replaces, in any text:

- a URL's userinfo (`https://user:pw@host` -> `https://***@host`) and its query and fragment
  (`?token=abc` -> `?***`), except for the AWS console links this product builds itself;
- the path of a webhook URL (`https://hooks.slack.com/services/T0/B0/SECRET` ->
  `https://hooks.slack.com/***`; also Discord, Teams and other `hooks.`/`webhook` hosts);
- tokens with a recognisable shape (Slack `xox?-`/`xapp-`, GitHub `ghp_`/`github_pat_`, AWS access
  key ids, JWTs, `Bearer <token>`, PEM private keys) and the value of `password=`, `token: ` and
  similar assignments.

Masking is idempotent, and errs on the side of hiding too much: a URL with an `@` anywhere is
treated as if everything before the last `@` were credentials.
"""

from __future__ import annotations

import re

MASK = "***"

_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,30}://)([^\s'\"<>`\\|{}\[\]]+)")
# Our own links: console_url() in triggers.replies builds them with a query and a fragment.
_CONSOLE_HOST = re.compile(
    r"^(?:[a-z0-9-]+\.console\.aws\.amazon\.com|[a-z0-9-]+\.console\.amazonaws\.cn|"
    r"console\.amazonaws-us-gov\.com|console\.aws\.amazon\.com)$"
)
_WEBHOOK_HOST = re.compile(r"^(?:hooks\.|[^/]*webhook)", re.IGNORECASE)
_WEBHOOK_PATH = re.compile(r"/(?:webhooks?|hooks)/", re.IGNORECASE)
_TOKENS = re.compile(
    r"""
      -----BEGIN[ A-Z]*PRIVATE\ KEY-----.*?(?:-----END[ A-Z]*PRIVATE\ KEY-----|\Z)
    | \bxox[abposr]-[A-Za-z0-9-]{6,}
    | \bxapp-[A-Za-z0-9-]{6,}
    | \bgh[pousr]_[A-Za-z0-9]{16,}
    | \bgithub_pat_[A-Za-z0-9_]{16,}
    | \b(?:AKIA|ASIA)[A-Z0-9]{16}\b
    | \beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+
    """,
    re.VERBOSE | re.DOTALL,
)
_BEARER = re.compile(r"\b(Bearer\s+)(?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_ASSIGNMENT = re.compile(
    r"""
    (\b[\w-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)
     \b["']?\s*[=:]\s*)                    # the name and `=` or `:`
    (?!\*\*\*)(["']?)[^\s"'`,;&)]+\2       # the value, quoted or not
    """,
    re.VERBOSE | re.IGNORECASE,
)


_PARTS = re.compile(r"([^/?#]*)([^?#]*)(.*)", re.DOTALL)


def _mask_url(match: re.Match[str]) -> str:
    scheme, rest = match.group(1), match.group(2)
    trail = ""
    while rest and rest[-1] in ".,;:!?)":  # sentence punctuation after a URL is not part of it
        trail, rest = rest[-1] + trail, rest[:-1]
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, cut)
    if at < 0:
        at = rest.rfind("@")  # a password with `?` or `#` in it
    prefix = scheme
    if at >= 0:
        prefix, rest = f"{scheme}{MASK}@", rest[at + 1 :]
    parts = _PARTS.match(rest)
    assert parts is not None  # every group may be empty
    host, path, tail = parts.groups()
    hostname = host.rpartition(":")[0].lower() if ":" in host else host.lower()
    if _WEBHOOK_HOST.match(hostname) or _WEBHOOK_PATH.search(path):
        return f"{prefix}{host}/{MASK}{trail}"
    if tail and not (at < 0 and _CONSOLE_HOST.match(hostname)):
        tail = tail[0] + MASK
    return f"{prefix}{host}{path}{tail}{trail}"


def mask_credentials(text: str) -> str:
    """`text` with URL credentials, query strings, webhook URLs and token-shaped values masked."""
    text = _TOKENS.sub(MASK, text)
    text = _URL.sub(_mask_url, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return _ASSIGNMENT.sub(lambda m: m.group(1) + MASK, text)
