"""The one masker every statement log goes through: no secret literal survives it."""

from __future__ import annotations

import pytest

from openflow_autopilot.snowflake.identifiers import literal
from openflow_autopilot.snowflake.masking import MASK, mask_config, mask_secrets, mask_statement, scrub

PEM = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n"
    "-----END PRIVATE KEY-----"
)
HOSTILE = [
    "hunter2",
    "it's a 'quoted' pass\\word",
    "ends with a backslash \\",
    "PASSWORD = 'nested'",
    "multi\nline\nvalue",
    PEM,
    "$$dollar$$",
    "comma, and ) paren; semicolon",
]


@pytest.mark.parametrize("secret", HOSTILE)
@pytest.mark.parametrize(
    "template",
    [
        "CREATE OR REPLACE SECRET DB.S.K TYPE = GENERIC_STRING SECRET_STRING = {v} COMMENT = 'managed'",
        "CREATE OR REPLACE SECRET DB.S.P TYPE = PASSWORD USERNAME = 'openflow_user' PASSWORD = {v}",
        "ALTER USER SVC SET PASSWORD={v}",
        "ALTER USER SVC SET RSA_PUBLIC_KEY_2 = {v}",
        "CREATE SECRET DB.S.O TYPE = OAUTH2 OAUTH_REFRESH_TOKEN = {v} "
        "OAUTH_REFRESH_TOKEN_EXPIRY_TIME = '2030-01-01'",
        "create stage s url='s3://b/' credentials = (aws_key_id = {v} aws_secret_key = {v})",
    ],
)
def test_a_credential_literal_never_survives_masking(template: str, secret: str) -> None:
    statement = template.format(v=literal(secret))
    masked = mask_secrets(statement)
    assert secret not in masked
    for line in secret.splitlines():
        if len(line) >= 4:
            assert line not in masked
    assert MASK in masked


def test_the_masked_statement_keeps_everything_that_is_not_a_credential() -> None:
    statement = (
        "CREATE OR REPLACE SECRET OPENFLOW.OPENFLOW.PG TYPE = PASSWORD USERNAME = 'openflow_user' "
        "PASSWORD = 'hunter2' COMMENT = 'managed by openflow-autopilot; version 7'"
    )
    assert mask_secrets(statement) == (
        "CREATE OR REPLACE SECRET OPENFLOW.OPENFLOW.PG TYPE = PASSWORD USERNAME = 'openflow_user' "
        "PASSWORD = '***' COMMENT = 'managed by openflow-autopilot; version 7'"
    )


def test_dollar_quoted_and_unterminated_literals_are_masked_to_their_end() -> None:
    assert mask_secrets("CREATE SECRET X TYPE=GENERIC_STRING SECRET_STRING=$$a\nb$$") == (
        "CREATE SECRET X TYPE=GENERIC_STRING SECRET_STRING='***'"
    )
    assert mask_secrets("ALTER USER U SET PASSWORD = 'never closed") == "ALTER USER U SET PASSWORD = '***'"


def test_a_property_name_inside_a_literal_or_a_type_name_does_not_mask_what_follows() -> None:
    for statement in (
        "SELECT 'PASSWORD = ' || 'visible'",
        "CREATE OR REPLACE SECRET S TYPE = PASSWORD USERNAME = 'visible'",
        "ALTER USER U SET MUST_CHANGE_PASSWORD = TRUE COMMENT = 'visible'",
        "SHOW SECRETS LIKE 'PASSWORD' IN SCHEMA DB.S",
    ):
        assert mask_secrets(statement) == statement


def test_statements_without_credentials_are_unchanged() -> None:
    for statement in (
        "SHOW OPENFLOW DEPLOYMENTS LIKE 'D'",
        "GRANT USAGE ON SECRET DB.S.K TO ROLE R",
        'SELECT "id" AS canary_id FROM DB."public"."t" WHERE "id" = \'abc\'',
    ):
        assert mask_secrets(statement) == statement


def test_the_masked_values_scrub_an_error_message_that_echoes_the_statement() -> None:
    statement = f"CREATE OR REPLACE SECRET K TYPE = GENERIC_STRING SECRET_STRING = {literal(PEM)}"
    masked = mask_statement(statement)
    assert PEM in masked.values and literal(PEM) in masked.values
    message = "syntax error near 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC' in " + statement
    cleaned = scrub(message, masked.values)
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in cleaned and "BKcwggSjAgEAAoIBAQC7" not in cleaned


def test_a_literal_credential_in_config_json_is_masked_but_secret_references_are_kept() -> None:
    config = {
        "configuration": [
            {
                "name": "Source",
                "properties": {
                    "Source Database Password": {
                        "valueType": "SECRET_REFERENCE",
                        "fullyQualifiedSecretName": "DB.S.PG_PASSWORD",
                    },
                    "Snowflake Private Key Password": {"valueType": "STRING_LITERAL", "value": "hunter2"},
                    "Source Database User": {"valueType": "STRING_LITERAL", "value": "openflow_user"},
                },
            }
        ],
        "parameters": {"Source Database Password": "DB.S.PG_PASSWORD", "Snowflake Private Key": "raw-pem"},
    }
    masked = mask_config(config)
    props = masked["configuration"][0]["properties"]
    assert props["Source Database Password"]["fullyQualifiedSecretName"] == "DB.S.PG_PASSWORD"
    assert props["Snowflake Private Key Password"]["value"] == "***"
    assert props["Source Database User"]["value"] == "openflow_user"
    assert masked["parameters"] == {
        "Source Database Password": "DB.S.PG_PASSWORD",
        "Snowflake Private Key": "***",
    }
    assert "hunter2" not in str(masked) and "raw-pem" not in str(masked)
