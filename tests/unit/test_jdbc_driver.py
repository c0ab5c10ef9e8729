"""The JDBC driver fetch: the pinned download checked against its SHA-256, the request's S3 jar, and
a clear permanent error for anything that is not the PostgreSQL driver (served on the loopback)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.errors import NotReadyYet, PreconditionFailed
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.openflow.jdbc_driver import DEFAULT_SHA256, DEFAULT_URL, fetch_driver, file_name_of
from openflow_sandbox.jdbc_jar import JAR_NAME, JarServer, build_jar


@pytest.fixture
def server() -> Iterator[JarServer]:
    jar = JarServer().start()
    yield jar
    jar.stop()


def test_the_pinned_release_is_downloaded_and_checked_against_its_published_checksum(
    server: JarServer,
) -> None:
    driver = fetch_driver(url=server.url, sha256=server.sha256)
    assert (driver.file_name, driver.sha256, driver.content) == (JAR_NAME, server.sha256, server.content)
    assert server.requests == 1


def test_the_defaults_are_maven_centrals_42_7_4_and_an_empty_setting_means_the_default() -> None:
    assert DEFAULT_URL.endswith("/org/postgresql/postgresql/42.7.4/postgresql-42.7.4.jar")
    assert len(DEFAULT_SHA256) == 64
    env = FunctionEnv.model_validate({"jdbc_driver_url": "", "jdbc_driver_sha256": ""})
    assert (env.jdbc_driver_url, env.jdbc_driver_sha256) == (DEFAULT_URL, DEFAULT_SHA256)


def test_a_checksum_mismatch_is_a_permanent_error_naming_both_sums_and_the_setting(server: JarServer) -> None:
    with pytest.raises(PreconditionFailed) as raised:
        fetch_driver(url=server.url, sha256="0" * 64)
    assert server.sha256 in raised.value.message and "0" * 64 in raised.value.message
    assert "JdbcDriverSha256" in (raised.value.fix or "")


def test_a_file_that_is_not_a_jar_or_lacks_the_driver_class_is_refused(server: JarServer) -> None:
    server.content = b"<html>not found</html>"
    with pytest.raises(PreconditionFailed, match="not a readable jar"):
        fetch_driver(url=server.url, sha256=server.sha256)
    server.content = build_jar(with_driver=False)
    with pytest.raises(PreconditionFailed, match=r"org/postgresql/Driver\.class"):
        fetch_driver(url=server.url, sha256=server.sha256)


def test_a_missing_file_is_permanent_and_an_unavailable_site_is_retried(server: JarServer) -> None:
    with pytest.raises(PreconditionFailed, match="HTTP 404"):
        fetch_driver(url=server.url.replace(JAR_NAME, "postgresql-0.jar"), sha256=server.sha256)
    server.fail_next = 1
    with pytest.raises(NotReadyYet, match="HTTP 503"):
        fetch_driver(url=server.url, sha256=server.sha256)
    assert fetch_driver(url=server.url, sha256=server.sha256).file_name == JAR_NAME


def test_plain_http_is_refused_off_the_loopback_and_a_url_must_name_a_jar() -> None:
    with pytest.raises(PreconditionFailed, match="https"):
        fetch_driver(url="http://mirror.example.com/postgresql-42.7.4.jar")
    with pytest.raises(PreconditionFailed, match=r"\.jar"):
        file_name_of("https://mirror.example.com/download")


def test_the_requests_jar_is_read_from_the_artifact_buckets_drivers_prefix_only() -> None:
    content = build_jar()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        s3.put_object(Bucket="artifacts", Key="drivers/postgresql-42.7.3.jar", Body=content)
        driver = fetch_driver(
            s3_uri="s3://artifacts/drivers/postgresql-42.7.3.jar", s3=s3, artifact_bucket="artifacts"
        )
        with pytest.raises(PreconditionFailed, match="outside s3://artifacts/drivers/"):
            fetch_driver(s3_uri="s3://other/postgresql-42.7.3.jar", s3=s3, artifact_bucket="artifacts")
        with pytest.raises(PreconditionFailed, match="cannot read"):
            fetch_driver(s3_uri="s3://artifacts/drivers/missing.jar", s3=s3, artifact_bucket="artifacts")
        # a caller that passes no S3 client: the function makes its own
        own = fetch_driver(s3_uri="s3://artifacts/drivers/postgresql-42.7.3.jar", artifact_bucket="artifacts")
        assert own.sha256 == hashlib.sha256(content).hexdigest()
    assert driver.file_name == "postgresql-42.7.3.jar"
    assert driver.sha256 == hashlib.sha256(content).hexdigest()
