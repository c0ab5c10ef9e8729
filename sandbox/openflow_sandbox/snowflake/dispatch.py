"""The statement table: which statements the emulation answers, which go to fakesnow, which fail.

Statements matching a rule are answered from the emulated account. Everything else is data SQL
for fakesnow, except account-level statements the emulation does not cover: those fail with a
syntax error rather than reaching fakesnow, whose answer (a no-op or an empty SHOW) would be wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import account_usage, errors
from .context import Ctx, Delegate, Kind, Outcome, Rule
from .handlers import (
    connector_stage,
    connectors,
    databases,
    deployments,
    grants,
    integrations,
    roles,
    runtimes,
    schema_objects,
    users,
    warehouses,
)
from .sqltext import Parser, Token, tokenize

RULES: list[Rule] = [
    *roles.RULES,
    *grants.RULES,
    *users.RULES,
    *databases.RULES,
    *warehouses.RULES,
    *schema_objects.RULES,
    *deployments.RULES,
    *runtimes.RULES,
    *connectors.RULES,
    *connector_stage.RULES,
    *integrations.RULES,
]

# First words (after CREATE [OR REPLACE] / ALTER / DROP / SHOW [TERSE] / DESC) of data statements.
DATA_OBJECTS = frozenset(
    {
        "TABLE",
        "TABLES",
        "VIEW",
        "VIEWS",
        "COLUMNS",
        "OBJECTS",
        "SEQUENCE",
        "SEQUENCES",
        "STAGE",
        "STAGES",
        "FILE",
        "FUNCTION",
        "FUNCTIONS",
        "PROCEDURE",
        "PROCEDURES",
        "TEMP",
        "TEMPORARY",
        "TRANSIENT",
        "LOCAL",
        "GLOBAL",
        "VOLATILE",
        "SECURE",
        "MATERIALIZED",
        "RECURSIVE",
        "HYBRID",
        "ICEBERG",
        "DYNAMIC",
        "STREAM",
        "STREAMS",
        "TASK",
        "TASKS",
        "TAG",
        "SESSION",
        "PRIMARY",
        "IMPORTED",
        "UNIQUE",
        "PARAMETERS",
        "VARIABLES",
        "TRANSACTIONS",
        "RESULT",
    }
)
DEFINITION_VERBS = frozenset({"CREATE", "ALTER", "DROP", "SHOW", "UNDROP"})
# DESC <word>: these name account-level objects; anything else (TABLE, VIEW, a bare table name) is data
ACCOUNT_OBJECTS = frozenset(
    {
        "USER",
        "ROLE",
        "WAREHOUSE",
        "DATABASE",
        "SCHEMA",
        "INTEGRATION",
        "SECRET",
        "IMAGE",
        "EVENT",
        "NETWORK",
        "COMPUTE",
        "SERVICE",
        "OPENFLOW",
        "EXTERNAL",
        "API",
        "NOTIFICATION",
        "STORAGE",
        "SECURITY",
        "APPLICATION",
        "SHARE",
        "ACCOUNT",
        "RESOURCE",
        "PASSWORD",
        "AUTHENTICATION",
    }
)
READ_VERBS = frozenset({"SELECT", "SHOW", "DESC", "DESCRIBE", "USE", "WITH", "EXPLAIN", "LIST", "LS", "GET"})


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    # each step: the alternatives for one position, and whether the step is an optional group
    steps: tuple[tuple[tuple[tuple[str, ...], ...], bool], ...]
    required: int

    def match(self, words: list[str]) -> tuple[int, frozenset[str]] | None:
        """How many words the prefix consumes, and the optional groups that matched."""
        i, flags = 0, set()
        for alternatives, optional in self.steps:
            for alt in alternatives:
                if words[i : i + len(alt)] == list(alt):
                    i += len(alt)
                    if optional:
                        flags.add(" ".join(alt))
                    break
            else:
                if not optional:
                    return None
        return i, frozenset(flags)


def compile_rule(rule: Rule) -> CompiledRule:
    steps: list[tuple[tuple[tuple[str, ...], ...], bool]] = []
    for group in re.findall(r"\[[^\]]+\]|\{[^}]+\}|\S+", rule.pattern):
        if group.startswith("["):
            steps.append(((tuple(group[1:-1].split()),), True))
        elif group.startswith("{"):
            steps.append((tuple(tuple(alt.split()) for alt in group[1:-1].split("|")), False))
        else:
            steps.append((((group,),), False))
    required = sum(len(alts[0]) for alts, optional in steps if not optional)
    return CompiledRule(rule, tuple(steps), required)


# longest prefixes first, so SHOW OPENFLOW CONNECTOR DEFINITIONS wins over shorter rules
COMPILED = sorted((compile_rule(r) for r in RULES), key=lambda c: -c.required)


def _leading_words(tokens: list[Token], limit: int = 8) -> list[str]:
    words: list[str] = []
    for tok in tokens[:limit]:
        if tok.kind != "word":
            break
        words.append(tok.upper)
    return words


def _passthrough_kind(words: list[str], sql: str) -> Kind:
    """Check that an unmatched statement is data SQL, and classify it."""
    if not words:
        return "write"
    verb, rest = words[0], words[1:]
    if verb in ("GRANT", "REVOKE"):
        raise errors.unsupported(sql)
    if verb in ("PUT", "GET", "LIST", "LS", "REMOVE", "RM") and "snow://" in sql.lower():
        # connector stages (snow://openflow_connector/...) are answered by handlers/connector_stage.py
        # when both paths are quoted; anything else on them is not emulated
        raise errors.unsupported(sql)
    if verb in DEFINITION_VERBS:
        if verb == "CREATE" and rest[:2] in (["OR", "REPLACE"], ["OR", "ALTER"]):
            rest = rest[2:]
        if verb == "SHOW" and rest[:1] == ["TERSE"]:
            rest = rest[1:]
        if not rest or rest[0] not in DATA_OBJECTS:
            raise errors.unsupported(sql)
    if verb in ("DESC", "DESCRIBE") and rest and rest[0] in ACCOUNT_OBJECTS:
        raise errors.unsupported(sql)
    return "read" if verb in READ_VERBS else "write"


def dispatch(ctx: Ctx, sql: str, bindings: Mapping[str, Mapping[str, Any]] | None) -> tuple[Outcome, Kind]:
    """Answer one statement, or return Delegate for fakesnow. Raises SqlError on failure."""
    outcome, kind = _answer(ctx, sql, bindings)
    if isinstance(outcome, Delegate):  # data SQL on the shared SNOWFLAKE database: who may read it
        account_usage.guard(ctx, sql, kind)
    return outcome, kind


def _answer(ctx: Ctx, sql: str, bindings: Mapping[str, Mapping[str, Any]] | None) -> tuple[Outcome, Kind]:
    words = _leading_words(tokenize(sql, bindings, lenient=True))
    for compiled in COMPILED:
        matched = compiled.match(words)
        if matched is None:
            continue
        consumed, flags = matched
        try:
            parser = Parser(sql, bindings)
        except errors.SqlError:
            if compiled.rule.fallthrough:
                return Delegate(), _passthrough_kind(words, sql)
            raise
        parser.i = consumed
        ctx.flags = flags
        outcome = compiled.rule.handler(ctx, parser)
        if isinstance(outcome, Delegate):
            return outcome, _passthrough_kind(words, sql)
        return outcome, compiled.rule.kind
    return Delegate(), _passthrough_kind(words, sql)


def statement_kind(sql: str) -> Kind:
    """read/write for the statement log, without running anything (also for statements that fail)."""
    words = _leading_words(tokenize(sql, lenient=True))
    rule = next((c.rule for c in COMPILED if c.match(words) is not None), None)
    if rule is not None:
        return rule.kind
    return "read" if words and words[0] in READ_VERBS else "write"
