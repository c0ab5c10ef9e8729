"""The webhook function's environment and its secret: validated at cold start, never echoed."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.errors import ConfigurationError
from openflow_autopilot.triggers.config import WebhookConfig
from openflow_autopilot.triggers.secrets import load_signing_secrets, powertools_provider


def test_environment_variables_fill_the_model() -> None:
    config = WebhookConfig.from_environ(
        {
            "PROVISION_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:provision",
            "SLACK_ALLOWED_USERS": "U01, U02 U03",
            "SERVICENOW_AUTH_MODE": "bearer",
            "SERVICENOW_INSTANCE_URL": "https://acme.service-now.com/",
            "AWS_LAMBDA_FUNCTION_NAME": "openflow-webhook",
            "JIRA_TRIGGER_FIELD": "",
            "MAX_BODY_BYTES": "131072",
        }
    )
    assert config.slack_allowed_users == frozenset({"U01", "U02", "U03"})
    assert config.servicenow.mode == "bearer" and config.servicenow.header == "X-ServiceNow-Signature"
    assert config.servicenow_instance_url == "https://acme.service-now.com"
    assert config.function_name == "openflow-webhook"
    assert config.jira_trigger_field is None and config.max_body_bytes == 131072
    assert config.github_label == "openflow-provision"


def test_an_empty_allow_list_allows_nobody() -> None:
    assert WebhookConfig.from_environ({}).slack_allowed_users == frozenset()


def test_an_invalid_environment_names_the_variable_not_its_value() -> None:
    with pytest.raises(ConfigurationError) as info:
        WebhookConfig.from_environ(
            {"MAX_BODY_BYTES": "lots-of-secret-bytes", "SERVICENOW_AUTH_MODE": "magic"}
        )
    assert "max_body_bytes" in str(info.value) and "servicenow.mode" in str(info.value)
    assert "lots-of-secret-bytes" not in str(info.value)


def test_the_secret_is_read_through_powertools_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # Lambda sets AWS_REGION; tests choose one
    name = f"webhook-{uuid.uuid4().hex}"
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name=name, SecretString=json.dumps({"github_webhook_secret": "s1"}))["ARN"]
        provider = powertools_provider(max_age=300)
        assert load_signing_secrets(arn, provider).signing_secret("github") == "s1"
        client.put_secret_value(SecretId=arn, SecretString=json.dumps({"github_webhook_secret": "s2"}))
        assert load_signing_secrets(arn, provider).signing_secret("github") == "s1"  # within max_age
        assert load_signing_secrets(arn, powertools_provider(max_age=0)).signing_secret("github") == "s2"


def test_a_secret_that_is_not_json_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = f"webhook-{uuid.uuid4().hex}"
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name=name, SecretString="just-a-string")["ARN"]
        with pytest.raises(ConfigurationError) as info:
            load_signing_secrets(arn, powertools_provider())
        assert "just-a-string" not in str(info.value)


def test_no_secret_configured_disables_every_source() -> None:
    secrets = load_signing_secrets(None, lambda _id: pytest.fail("no lookup expected"))
    assert all(secrets.signing_secret(s) is None for s in ("slack", "github", "jira", "servicenow"))
