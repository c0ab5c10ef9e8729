"""Mask the secret literals in a Snowflake statement before it is stored or shown anywhere.

The product runs statements that carry credentials (`CREATE OR REPLACE SECRET ... SECRET_STRING =
'...'`, `PASSWORD = '...'`, key material); the phases record those redacted themselves, and this is
the second line of defence for every statement log: every string literal assigned to a
credential-bearing property is replaced by MASK.

The statement is scanned token by token (string literals with '' and backslash escapes, $$...$$
literals, quoted identifiers), so a property name inside another literal or identifier never
triggers a mask, and a literal's quotes never confuse the scan. An unterminated literal after a
credential property is masked to the end of the statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MASK = "'***'"

# Properties whose value is a credential (CREATE/ALTER SECRET, USER, STORAGE/API INTEGRATION, STAGE
# CREDENTIALS = (...), connection options). Public keys are masked too: harmless to hide, and the
# product records their fingerprints instead.
CREDENTIAL_PROPERTIES = frozenset(
    {
        "SECRET_STRING",
        "PASSWORD",
        "OLD_PASSWORD",
        "PASSPHRASE",
        "PRIVATE_KEY",
        "PRIVATE_KEY_PASSPHRASE",
        "PRIVATE_KEY_PASSWORD",
        "RSA_PUBLIC_KEY",
        "RSA_PUBLIC_KEY_2",
        "OAUTH_CLIENT_SECRET",
        "OAUTH_REFRESH_TOKEN",
        "OAUTH_ACCESS_TOKEN",
        "TOKEN",
        "API_KEY",
        "AWS_KEY_ID",
        "AWS_SECRET_KEY",
        "AWS_TOKEN",
        "AZURE_SAS_TOKEN",
        "MASTER_KEY",
        "ENCRYPTION_KEY",
        "CLIENT_SECRET",
    }
)

# One token at a time; the alternatives are tried in order at each position.
_TOKEN = re.compile(
    r"""
      (?P<string>'(?P<body>(?:[^'\\]|\\.|'')*)(?:'|\Z))  # 'it''s', 'a\'b'; unterminated: to the end
    | (?P<dollar>\$\$(?P<dbody>.*?)(?:\$\$|\Z))                # $$ ... $$
    | (?P<quoted>"(?:[^"]|"")*(?:"|\Z))         # "Quoted Identifier"
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<assign>=>|=)
    | (?P<space>\s+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"''|\\.", re.DOTALL)


@dataclass(frozen=True)
class MaskedStatement:
    text: str  # the statement with every credential literal replaced by MASK
    # what was masked, each literal as written (quoted, escaped) and as its value: an error message
    # may echo either, so scrub() removes both
    values: tuple[str, ...]


def _content(m: re.Match[str]) -> str:
    if m.lastgroup == "dollar":
        return m.group("dbody")
    return _ESCAPE.sub(lambda e: e.group()[1], m.group("body"))


def _property_name(kind: str | None, token: str) -> str:
    if kind == "word":
        return token.upper()
    if kind == "quoted":  # "PASSWORD" = '...' is masked too: over-masking costs nothing here
        return token.strip('"').upper()
    return ""


def mask_statement(statement: str) -> MaskedStatement:
    """The statement with credential literals masked, and what was masked."""
    out: list[str] = []
    values: list[str] = []
    # state: 0 nothing, 1 saw a credential property name, 2 saw its '=' (spaces allowed between)
    state = 0
    for m in _TOKEN.finditer(statement):
        kind, token = m.lastgroup, m.group()
        if kind == "space":
            out.append(token)
            continue
        if state == 2 and kind in ("string", "dollar"):
            out.append(MASK)
            body = m.group("dbody") if kind == "dollar" else m.group("body")
            values += [token, body, _content(m)]
            state = 0
            continue
        if state == 1 and kind == "assign":
            state = 2
        elif _property_name(kind, token) in CREDENTIAL_PROPERTIES:
            state = 1
        else:
            state = 0
        out.append(token)
    return MaskedStatement("".join(out), tuple(dict.fromkeys(v for v in values if v)))


def mask_secrets(statement: str) -> str:
    """The statement with every literal after SECRET_STRING, PASSWORD and the other credential
    properties replaced by '***'."""
    return mask_statement(statement).text


def scrub(text: str, values: tuple[str, ...]) -> str:
    """`text` (e.g. an error message that may echo the statement) with credential literals masked
    and without any of `values`, nor any line of a multi-line value (a PEM key's body lines)."""
    text = mask_secrets(text)
    pieces = {v for v in values if v}
    pieces |= {line.strip() for v in values for line in v.splitlines() if len(line.strip()) >= 8}
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


# config.json names the secrets it uses (SECRET_REFERENCE, or a qualified secret name); a credential
# pasted as a plain value would be a product bug, and is masked here rather than stored.
_CREDENTIAL_NAME = re.compile(r"password|passphrase|private key|secret|token", re.I)
_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){2}$")
_REFERENCE_TYPES = {"SECRET_REFERENCE", "ASSET_REFERENCE"}


def _mask_property(value: Any) -> Any:
    if isinstance(value, str):
        return value if _SECRET_NAME.match(value) else MASK.strip("'")
    if isinstance(value, dict):
        if str(value.get("valueType") or "").upper() in _REFERENCE_TYPES:
            return mask_config(value)
        return {k: _mask_property(v) if k == "value" else mask_config(v) for k, v in value.items()}
    return mask_config(value)


def mask_config(document: Any) -> Any:
    """A copy of a connector's config.json with any literal credential value masked (secret names and
    references are kept: they are what the document is expected to hold)."""
    if isinstance(document, dict):
        return {
            k: _mask_property(v) if isinstance(k, str) and _CREDENTIAL_NAME.search(k) else mask_config(v)
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [mask_config(v) for v in document]
    return document
