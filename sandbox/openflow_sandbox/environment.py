"""The sandbox: moto (AWS) + the Snowflake emulation + a real PostgreSQL, with the app deployed.

`Sandbox` starts everything on loopback ports chosen at start, seeds the accounts the demo
needs (the automation's Snowflake login with its key in Secrets Manager, the human admin
user), and tears it all down on stop(), also when the caller fails (context manager).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg
import yaml

from openflow_autopilot.phases.stack import CAPABILITIES
from openflow_autopilot.request_rules import LOOPBACK_ENV
from openflow_sandbox import ssm_bridge, stack_delete
from openflow_sandbox.agent import SimulatedAgents
from openflow_sandbox.connector_relay import ConnectorRelay
from openflow_sandbox.deploy import DeployedApp, deploy
from openflow_sandbox.eks import OpenflowCompute
from openflow_sandbox.human import Human
from openflow_sandbox.jdbc_jar import JarServer
from openflow_sandbox.keys import generate_key_pair
from openflow_sandbox.moto_server import MotoSandbox
from openflow_sandbox.nifi_server import NifiEmulator
from openflow_sandbox.openflow_ui import BUGGY, FIXED, gen1_template
from openflow_sandbox.postgres import LocalPostgres
from openflow_sandbox.snowflake import SnowflakeEmulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_REQUEST = ROOT / "events" / "provision" / "request.yaml"
ACCOUNT = "MYORG-MYACCOUNT"
LOGIN_USER = "OPENFLOW_AUTOMATION"
ADMIN_USER = "JDOE"
SOURCE_INSTANCE = "sales-db"
SOURCE_DATABASE = "sales"
REGION = "us-east-1"


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)


class Sandbox:
    def __init__(
        self,
        *,
        with_postgres: bool = True,
        human_uploads_template: bool = True,
        template_wait_seconds: int = 120,
        human_approves: bool = True,
        nifi: bool = False,
        record_dir: Path | None = None,
    ) -> None:
        self.moto = MotoSandbox()
        self.snowflake = SnowflakeEmulator(account=ACCOUNT)
        # where the emulation writes what it received (statements, connector stage files); None: nowhere
        self.record_dir = record_dir
        self.postgres: LocalPostgres | None = LocalPostgres() if with_postgres else None
        self.app: DeployedApp | None = None
        self.agents: SimulatedAgents | None = None
        self.relay: ConnectorRelay | None = None
        self.compute = OpenflowCompute(REGION)
        self.jdbc_jar = JarServer()  # the JDBC driver's download site (JdbcDriverUrl)
        self.human: Human | None = None
        self.human_uploads_template = human_uploads_template
        self.template_wait_seconds = template_wait_seconds
        self.human_approves = human_approves
        self.with_nifi = nifi  # a gen 1 runtime's NiFi API (start_nifi() also starts it later)
        self.nifi: NifiEmulator | None = None
        self.nifi_token_secret_arn = ""
        self.login_secret_arn = ""
        self.source_secret_arn = ""
        self.timings = Timings()
        self._started = False
        self._saved_loopback: tuple[str | None] | None = None  # (value before start,) while started

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> Sandbox:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto logs every failed execution with its internal state; the report says it better
        logging.getLogger("moto").setLevel(logging.CRITICAL)
        logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its metrics warning is noise here
        t0 = time.perf_counter()
        # The source PostgreSQL listens on 127.0.0.1: requests may name a loopback source.host here
        # (request_rules.check_source_host), in this process and so in the functions it runs.
        if self._saved_loopback is None:
            self._saved_loopback = (os.environ.get(LOOPBACK_ENV),)
        os.environ[LOOPBACK_ENV] = "1"
        try:
            self.moto.start()
            self.timings.seconds["moto"] = time.perf_counter() - t0
            self.snowflake.start()
            if self.record_dir is not None:
                self.snowflake.record_to(self.record_dir)
            self.timings.seconds["snowflake"] = time.perf_counter() - t0
            if self.postgres is not None:
                self.postgres.start()
                self.timings.seconds["postgres"] = time.perf_counter() - t0
            self.jdbc_jar.start()
            self.app = deploy(
                self.moto.registry,
                parameters={
                    "JdbcDriverUrl": self.jdbc_jar.url,
                    "JdbcDriverSha256": self.jdbc_jar.sha256,
                    "SnowflakeHost": self.snowflake.host,
                    "SnowflakePort": str(self.snowflake.port),
                    "SnowflakeProtocol": "http",
                    # Waits compressed for the rehearsal; the logic is unchanged.
                    "PollSeconds": "1",
                    "StackMaxChecks": "30",
                    "TemplateWaitSeconds": str(self.template_wait_seconds),
                    "ApprovalWaitSeconds": str(self.template_wait_seconds),
                    "SourceMaxChecks": "30",
                },
                region=REGION,
            )
            self.timings.seconds["deploy"] = time.perf_counter() - t0
            self.compute.start()
            self._seed()
            self.agents = SimulatedAgents(
                self.snowflake, endpoint_url=self.moto.endpoint, region=REGION, compute=self.compute
            )
            self.agents.start()
            ssm_bridge.install(self.agents)
            stack_delete.install()  # moto's DeleteStack of a stack with its own VPC
            if self.postgres is not None:
                self.relay = ConnectorRelay(self.snowflake, self.postgres.dsn())
                self.relay.start()
            self.human = Human(
                self, uploads_template=self.human_uploads_template, approves=self.human_approves
            )
            self.human.start()
            if self.with_nifi:
                self.start_nifi()
        except BaseException:
            self.stop()
            raise
        self._started = True
        self.timings.seconds["total"] = time.perf_counter() - t0
        return self

    def stop(self) -> None:
        if self.agents is not None:
            ssm_bridge.uninstall(self.agents)
        for part in (
            self.nifi,
            self.human,
            self.relay,
            self.agents,
            self.compute,
            self.postgres,
            self.snowflake,
            self.jdbc_jar,
            self.moto,
        ):
            if part is None:
                continue
            try:
                part.stop()
            except Exception as exc:  # keep stopping the others
                logging.getLogger(__name__).warning(
                    "sandbox: stopping %s failed: %s", type(part).__name__, exc
                )
        if self._saved_loopback is not None:
            (before,), self._saved_loopback = self._saved_loopback, None
            if before is None:
                os.environ.pop(LOOPBACK_ENV, None)
            else:
                os.environ[LOOPBACK_ENV] = before
        self._started = False

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- seeding ---------------------------------------------------------------------------
    def _seed(self) -> None:
        login = generate_key_pair()
        self.snowflake.add_user(
            LOGIN_USER,
            roles=["ACCOUNTADMIN"],
            default_role="ACCOUNTADMIN",
            rsa_public_key_pem=login.public_pem,
            user_type="SERVICE",
        )
        # The human admin signs in to Openflow; ACCOUNTADMIN as default role triggers the
        # seed's "Invalid consent request" failure, which the prerequisites phase fixes.
        self.snowflake.add_user(ADMIN_USER, roles=["ACCOUNTADMIN"], default_role="ACCOUNTADMIN")
        sm = boto3.client("secretsmanager", region_name=REGION)
        self.login_secret_arn = sm.create_secret(
            Name="openflow-autopilot/snowflake-login",
            SecretString=json.dumps({"user": LOGIN_USER, "private_key": login.private_pem}),
        )["ARN"]
        if self.postgres is not None:
            self._seed_source(sm)

    def _seed_source(self, sm: Any) -> None:
        """The seed's source: an RDS instance record in moto whose database is the real local
        PostgreSQL, with the seed's sample_data table and its two rows."""
        assert self.postgres is not None
        dsn = self.postgres.create_database(SOURCE_DATABASE)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE sample_data (id SERIAL PRIMARY KEY, content TEXT NOT NULL, "
                "created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
            )
            conn.execute("INSERT INTO sample_data (content) VALUES ('aaa'), ('bbb')")
        boto3.client("rds", region_name=REGION).create_db_instance(
            DBInstanceIdentifier=SOURCE_INSTANCE,
            Engine="postgres",
            EngineVersion="15.4",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="postgres",
            MasterUserPassword="sandbox-only-password",  # moto's record; the local server trusts loopback
        )
        self.source_secret_arn = sm.create_secret(
            Name="openflow-autopilot/sales-db-master",
            SecretString=json.dumps({"username": "postgres", "password": ""}),
        )["ARN"]

    # --- helpers for the demo and tests ----------------------------------------------------
    @property
    def provision_arn(self) -> str:
        assert self.app is not None, "sandbox not started"
        return self.app.state_machines["ProvisionStateMachine"]

    runtime_name = "POSTGRES_CDC_RUNTIME"  # the example request's runtime.name

    @property
    def power_arn(self) -> str:
        assert self.app is not None, "sandbox not started"
        return self.app.state_machines["PowerStateMachine"]

    @property
    def artifact_bucket(self) -> str:
        assert self.app is not None, "sandbox not started"
        return self.app.outputs["ArtifactBucketName"]

    def request(self, path: Path = EXAMPLE_REQUEST, **overrides: Any) -> dict[str, Any]:
        """The example request, pointed at the sandbox's account, secrets and region."""
        data: dict[str, Any] = yaml.safe_load(path.read_text())
        data["snowflake"]["account"] = ACCOUNT
        data["snowflake"]["admin_user"] = ADMIN_USER
        data["snowflake"]["credentials_secret_arn"] = self.login_secret_arn
        data["aws"]["region"] = REGION
        data["notifications"] = []
        if self.postgres is not None:
            data["source"].update(
                rds_instance_id=SOURCE_INSTANCE,
                host=self.postgres.host,
                port=self.postgres.port,
                database=SOURCE_DATABASE,
                master_secret_arn=self.source_secret_arn,
            )
        for dotted, value in overrides.items():
            node = data
            *parents, leaf = dotted.split("__")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        return data

    def add_gen1_deployment(self, *, repaired: bool = False) -> tuple[str, str]:
        """An existing gen 1 deployment, as the Openflow UI left it: a data plane integration and the
        agent's CloudFormation stack (the seed's template, or the repaired one), whose simulated agent
        boots in the background. Returns (integration name, stack name)."""
        plane_uuid = str(uuid.uuid4())
        key = plane_uuid.replace("-", "")[:10]
        integration = self.snowflake.add_data_plane_integration(plane_uuid)
        body = gen1_template(
            self.snowflake, key=key, plane_uuid=plane_uuid, source=FIXED if repaired else BUGGY
        )
        stack = f"openflow-gen1-{key}"
        s3 = boto3.client("s3", region_name=REGION)
        s3.put_object(Bucket=self.artifact_bucket, Key=f"gen1/{stack}.yaml", Body=body.encode())
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=stack,
            TemplateURL=f"https://{self.artifact_bucket}.s3.{REGION}.amazonaws.com/gen1/{stack}.yaml",
            Parameters=[{"ParameterKey": "DataPlaneUUID", "ParameterValue": plane_uuid}],
            Capabilities=CAPABILITIES,
        )
        return integration, stack

    def start_nifi(self) -> NifiEmulator:
        """The gen 1 runtime's NiFi REST API (once): the emulation on a loopback port, its bearer token
        in Secrets Manager under the secrets prefix; a started flow replicates through the relay."""
        if self.nifi is None:
            token = f"sandbox-pat-{secrets.token_urlsafe(24)}"
            self.nifi_token_secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
                Name="openflow-autopilot/nifi-token", SecretString=json.dumps({"token": token})
            )["ARN"]
            self.nifi = NifiEmulator(
                token=token, relay=self.relay, flow_name=f"canvas:{self.runtime_name}"
            ).start()
        return self.nifi

    def function_env(self) -> dict[str, str]:
        """Environment that points the CLI (plan) at this sandbox, as the functions are."""
        return {
            "SNOWFLAKE_HOST": self.snowflake.host,
            "SNOWFLAKE_PORT": str(self.snowflake.port),
            "SNOWFLAKE_PROTOCOL": "http",
            "AWS_ENDPOINT_URL": self.moto.endpoint,
            LOOPBACK_ENV: "1",  # the source PostgreSQL is on 127.0.0.1
        }
