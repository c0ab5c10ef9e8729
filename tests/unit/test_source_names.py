"""Table, role and slot names from user input: parsed like PostgreSQL parses them, or rejected."""

from __future__ import annotations

import pytest

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.postgres.names import (
    TableName,
    check_slot_name,
    parse_identifier,
    parse_role_name,
    parse_table_list,
    parse_table_name,
)


def test_a_bare_table_name_lives_in_the_public_schema() -> None:
    assert parse_table_name("sample_data") == TableName("public", "sample_data")


def test_a_dotted_name_gives_schema_and_table() -> None:
    assert parse_table_name("sales.orders") == TableName("sales", "orders")


def test_unquoted_names_fold_to_lower_case_like_the_server_does() -> None:
    assert parse_table_name("Sales.Orders") == TableName("sales", "orders")


def test_quoted_names_keep_case_spaces_dashes_and_dots() -> None:
    assert parse_table_name('"My Schema"."Order-Items"') == TableName("My Schema", "Order-Items")
    assert parse_table_name('"a.b"') == TableName("public", "a.b")
    assert parse_table_name('public."MixedCase"') == TableName("public", "MixedCase")


def test_a_doubled_quote_inside_a_quoted_name_is_one_quote() -> None:
    assert parse_table_name('"say ""hi"""') == TableName("public", 'say "hi"')


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_table_name("  public.orders ") == TableName("public", "orders")


def test_a_list_splits_on_commas_outside_quotes_and_drops_duplicates() -> None:
    tables = parse_table_list('orders, "a,b".c , public.orders, "X"')
    assert tables == [TableName("public", "orders"), TableName("a,b", "c"), TableName("public", "X")]


def test_displayed_names_parse_back_to_the_same_name() -> None:
    for table in [
        TableName("public", "orders"),
        TableName("My Schema", "Order-Items"),
        TableName("s", "x; DROP TABLE y"),
        TableName("s", 'quote"inside'),
        TableName("S", "Upper"),
    ]:
        assert parse_table_name(str(table)) == table


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("x; DROP TABLE y", "unexpected character ';'"),
        ('"', "not closed"),
        ('"unterminated.table', "not closed"),
        ("a" * 64, "longer than 63 bytes"),
        ('"' + "é" * 32 + '"', "longer than 63 bytes"),  # 64 bytes in UTF-8
        ("a.b.c", "3 dot-separated parts"),
        ("", "empty"),
        ("public.", "ends with a dot"),
        ('""', "empty name"),
        ('"nul\x00byte"', "NUL"),
        ("orders--x", "unexpected character '-'"),
        ("1orders", "unexpected character '1'"),
        ("a b", "unexpected character ' '"),
    ],
)
def test_a_hostile_or_malformed_name_is_rejected_with_the_field_and_the_value(
    value: str, reason: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_table_name(value)
    message = str(caught.value)
    assert message.startswith("tables: ")
    assert reason in message
    assert "double quotes" in (caught.value.fix or "") or "schema.table" in message


def test_a_63_byte_name_is_accepted() -> None:
    assert parse_table_name("a" * 63).name == "a" * 63


def test_a_huge_value_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_table_name("x;" * 5000)
    assert len(str(caught.value)) < 400


def test_an_empty_item_in_a_list_is_rejected() -> None:
    with pytest.raises(InvalidRequest, match="empty table name"):
        parse_table_list("orders,,items")


def test_role_names_with_the_reserved_pg_prefix_or_role_keywords_are_rejected() -> None:
    assert parse_role_name("openflow_user") == "openflow_user"
    assert parse_role_name('"Openflow User"') == "Openflow User"
    for bad in ("pg_monitor", "public", "CURRENT_USER"):
        with pytest.raises(InvalidRequest, match="reserved"):
            parse_role_name(bad)
    with pytest.raises(InvalidRequest, match="user: 'bob; DROP ROLE x'"):
        parse_role_name("bob; DROP ROLE x")


def test_a_publication_name_is_a_single_name() -> None:
    assert parse_identifier("openflow_pub", "publication") == "openflow_pub"
    with pytest.raises(InvalidRequest, match="single name"):
        parse_identifier("a.b", "publication")


def test_slot_names_follow_the_servers_rule() -> None:
    assert check_slot_name("openflow_slot_1") == "openflow_slot_1"
    for bad in ("Upper", "with-dash", "", "x" * 64, "a;b"):
        with pytest.raises(InvalidRequest, match="replication slot name"):
            check_slot_name(bad)
