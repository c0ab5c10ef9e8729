"""The statement catalog (snowflake/statements.yaml) is well formed, and its patterns tell the
statements the product sends from ones it must not."""

from __future__ import annotations

import re

import pytest

from openflow_autopilot.snowflake.statement_catalog import (
    CatalogEntry,
    expand,
    load_catalog,
    normalise,
    parse_catalog,
)

CATALOG = load_catalog()
DOC = re.compile(r"^https://docs\.snowflake\.com/en/[a-z0-9_/.-]+$")


def test_the_catalog_has_an_entry_per_statement_shape_with_unique_ids() -> None:
    ids = [e.id for e in CATALOG.entries]
    assert len(ids) >= 40
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", i) for i in ids), ids


@pytest.mark.parametrize("entry", CATALOG.entries, ids=lambda e: e.id)
def test_every_entry_is_anchored_documented_and_matches_its_own_examples(entry: CatalogEntry) -> None:
    assert entry.pattern.startswith("^") and entry.pattern.endswith("$"), entry.pattern
    assert DOC.match(entry.doc), entry.doc
    assert entry.examples, "give at least one statement the pattern must match"
    for example in entry.examples:
        assert entry.matches(example), example
        assert CATALOG.match(example) is entry, f"{example!r} is claimed by an earlier entry"


KNOWN_GOOD = {
    "CREATE OPENFLOW RUNTIME IF NOT EXISTS OPENFLOW.OPENFLOW.RT IN DEPLOYMENT D NODE_TYPE = MEDIUM "
    "MIN_NODES = 1 MAX_NODES = 1 EXECUTE_AS_ROLE = RT_ROLE COMMENT = 'managed by openflow-autopilot'": (
        "create-openflow-runtime"
    ),
    "create or replace secret DB.S.K type = generic_string secret_string = '***'": (
        "create-secret-generic-string"
    ),
    "GRANT READ ON SECRET DB.S.K TO ROLE RT_ROLE": "grant-on-secret",
    "SELECT SYSTEM$WAIT_FOR_STABLE_OPENFLOW_CONNECTORS(600, 'DB.S.C')": "wait-for-stable-openflow-connectors",
    "PUT 'file:///tmp/x/config.json' 'snow://openflow_connector/DB.S.C/versions/live/' OVERWRITE = TRUE": (
        "put-connector-config"
    ),
    "PUT 'file:///tmp/assets/postgresql-42.7.4.jar' 'snow://openflow_connector/DB.S.C/versions/live/' "
    "AUTO_COMPRESS = FALSE OVERWRITE = TRUE": "put-connector-asset",
    "GET 'snow://openflow_connector/DB.S.C/versions/VERSION$3/config.json' 'file:///tmp/d'/": (
        "get-connector-config"
    ),
    "ALTER  USER\n  JDOE   SET DEFAULT_ROLE = 'PUBLIC' ;": "alter-user-set-defaults",
    'CREATE SCHEMA IF NOT EXISTS "My Db"."My ""Schema"""': "create-schema",
}


@pytest.mark.parametrize(("statement", "entry_id"), list(KNOWN_GOOD.items()))
def test_known_good_statements_match_their_entry(statement: str, entry_id: str) -> None:
    found = CATALOG.match(statement)
    assert found is not None and found.id == entry_id, (statement, found)


KNOWN_BAD = [
    "DROP DATABASE OPENFLOW",  # the product never drops Snowflake objects
    # an unqualified runtime name, a node type that does not exist
    "CREATE OPENFLOW RUNTIME IF NOT EXISTS RT IN DEPLOYMENT D NODE_TYPE = MEDIUM MIN_NODES = 1 MAX_NODES = 1",
    "CREATE OPENFLOW RUNTIME OPENFLOW.OPENFLOW.RT IN DEPLOYMENT D NODE_TYPE = HUGE MIN_NODES = 1 "
    "MAX_NODES = 1",
    "GRANT ALL PRIVILEGES ON ACCOUNT TO ROLE PUBLIC",
    "GRANT OWNERSHIP ON SECRET DB.S.K TO ROLE R",
    "CREATE SECRET DB.S.K TYPE = GENERIC_STRING SECRET_STRING = 'x'",  # not OR REPLACE
    "SHOW DATABASES LIKE 'X'; DROP USER Y",
    "SHOW DATABASES LIKE 'X' OR 1=1",
    "PUT 'file:///tmp/config.json' 'snow://openflow_connector/DB.S.C/versions/VERSION$2/'",
    "PUT 'file:///etc/passwd' 'snow://openflow_connector/DB.S.C/versions/live/'",
    "ALTER OPENFLOW CONNECTOR DB.S.C TERMINATE",
    "ALTER USER JDOE SET DEFAULT_ROLE = ACCOUNTADMIN PASSWORD = 'x'",
    "SELECT * FROM DB.S.T",
    "",
]


@pytest.mark.parametrize("statement", KNOWN_BAD)
def test_known_bad_statements_match_no_entry(statement: str) -> None:
    assert CATALOG.match(statement) is None, CATALOG.match(statement)


def test_normalisation_collapses_whitespace_and_drops_a_final_semicolon() -> None:
    assert normalise("  SHOW\n\tROLES   LIKE 'X' ;  ") == "SHOW ROLES LIKE 'X'"


def test_fragments_expand_recursively_and_an_unknown_fragment_is_an_error() -> None:
    assert expand("^{b}$", {"a": "x", "b": "{a}{a}"}) == "^xx$"
    assert expand(r"^\d{2}$", {}) == r"^\d{2}$"  # a quantifier is not a fragment
    with pytest.raises(ValueError, match="unknown fragment"):
        expand("^{nope}$", {})


def test_a_pattern_that_does_not_compile_is_reported_with_its_entry() -> None:
    with pytest.raises(ValueError, match="broken"):
        parse_catalog({"statements": [{"id": "broken", "pattern": "^(unclosed$", "doc": "x"}]})
