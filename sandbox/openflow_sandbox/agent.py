"""The simulated Openflow agent: what the `openflow-agent-<key>` instance does after boot.

When the deployment's stack creates the agent instance, the agent runs the `ensure-ecr-repo.sh`
from the stack's own UserData with bash against moto's ECR for the ten repositories, then its
`openflow-sync-images` timer pushes images (failing with the seed's "name unknown ... does not
exist in the registry" line for every missing repository) and `openflow-apply-infrastructure`
finishes with "All resources applied successfully" once every image is there, which turns the
deployment ACTIVE in the Snowflake emulation. Every line lands in a journal per unit, which the
sandbox serves as the output of SSM RunCommand.

What deep sleep depends on is modelled too. While the instance runs and its timers are active, each
apply cycle puts the management node group back at its applied sizes (so scaling it down before
the agent is stopped does not last) and reports the deployment: ACTIVE with a management node in
service, NOT_HEALTHY without one. A stopped instance stops reporting (NOT_REPORTING); started
again, it boots, its enabled timers start, and the next apply brings the management group back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from openflow_autopilot.openflow.agent.repositories import OPENFLOW_REPOSITORY_NAMES
from openflow_sandbox.agent_scripts import run_agent_script, stack_refs
from openflow_sandbox.snowflake import SnowflakeEmulator

# The ten repositories the agent mirrors images into (one list, shared with the diagnosis).
REPOSITORIES = OPENFLOW_REPOSITORY_NAMES
UNITS = ("docker", "openflow-sync-images", "openflow-apply-infrastructure", "cloud-init")
_PROCESS = {
    "docker": "dockerd[2702]",
    "openflow-sync-images": "sync-images.sh[3310]",
    "openflow-apply-infrastructure": "apply-infrastructure.sh[3411]",
}
log = logging.getLogger(__name__)


@dataclass
class Agent:
    instance_id: str
    key: str
    stack_name: str
    account_id: str
    host: str = "ip-10-0-2-17.ec2.internal"
    journal: dict[str, list[str]] = field(default_factory=lambda: {u: [] for u in UNITS})
    booted: bool = False
    healthy: bool = False
    sync_runs: int = 0
    destroyed: bool = False
    running: bool = True
    timers: bool = True  # openflow-sync-images.timer and openflow-apply-infrastructure.timer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, unit: str, message: str, *, now: datetime | None = None) -> None:
        at = now or datetime.now(UTC)
        with self.lock:
            if unit == "cloud-init":
                self.journal[unit].append(message)
            else:
                stamp = at.strftime("%Y-%m-%dT%H:%M:%S+0000")
                self.journal[unit].append(f"{stamp} {self.host} {_PROCESS[unit]}: {message}")

    def text(self, unit: str) -> str:
        with self.lock:
            return "\n".join(self.journal[unit])


class SimulatedAgents:
    """Watches moto's EC2 for agent instances and runs one simulated agent per instance."""

    def __init__(
        self,
        emulator: SnowflakeEmulator,
        *,
        endpoint_url: str,
        region: str,
        tick_seconds: float = 0.2,
        sync_every_seconds: float = 1.0,
        compute: Any = None,
    ) -> None:
        self.compute = compute  # OpenflowCompute: the node groups the apply cycle keeps
        self.emulator = emulator
        self.endpoint_url = endpoint_url
        self.region = region
        self.tick_seconds = tick_seconds
        self.sync_every_seconds = sync_every_seconds
        self.agents: dict[str, Agent] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self.on_active: list[Callable[[Agent], None]] = []

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="simulated-openflow-agents", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def rerun(self, instance_id: str) -> None:
        """What `systemctl start openflow-sync-images openflow-apply-infrastructure` does: run now."""
        agent = self.agents.get(instance_id)
        if agent is not None:
            agent.write("openflow-sync-images", "Started openflow-sync-images.service (manual start).")
        self._wake.set()

    def stop_timers(self, instance_id: str) -> None:
        """What `systemctl stop openflow-apply-infrastructure.timer openflow-sync-images.timer` does."""
        agent = self.agents.get(instance_id)
        if agent is None:
            return
        agent.timers = False
        agent.write("openflow-apply-infrastructure", "Stopped openflow-apply-infrastructure.timer.")
        agent.write("openflow-sync-images", "Stopped openflow-sync-images.timer.")

    def run_destroy(self, instance_id: str) -> None:
        """What the agent's `destroy.sh` does: stop the timers, remove the data plane, stop
        reporting. The deployment turns NOT_REPORTING in the Snowflake emulation."""
        agent = self.agents.get(instance_id)
        if agent is None:
            return
        agent.write("openflow-apply-infrastructure", "Stopped openflow-apply-infrastructure.timer.")
        agent.write("openflow-apply-infrastructure", "Destroying the data plane (terraform destroy)...")
        agent.write("openflow-apply-infrastructure", "Destroy complete! Resources: 87 destroyed.")
        agent.destroyed = True
        for dep in self.emulator.state.deployments.values():
            if dep.key == agent.key:
                self.emulator.set_deployment_status(dep.name, "NOT_REPORTING")

    def agent_for(self, instance_id: str) -> Agent | None:
        return self.agents.get(instance_id)

    # --- the loop -----------------------------------------------------------------------
    def _run(self) -> None:
        ec2 = boto3.client("ec2", region_name=self.region, endpoint_url=self.endpoint_url)
        last_sync = 0.0
        while not self._stop.is_set():
            try:
                self._discover(ec2)
                now = time.monotonic()
                if now - last_sync >= self.sync_every_seconds or self._wake.is_set():
                    self._wake.clear()
                    last_sync = now
                    for agent in list(self.agents.values()):
                        if agent.booted and agent.running and agent.timers:
                            self._sync(agent)
            except Exception:  # a broken tick must not kill the agents; the next tick retries
                log.exception("simulated agent tick failed")
            self._wake.wait(self.tick_seconds)

    def _discover(self, ec2: Any) -> None:
        reservations = ec2.describe_instances(
            Filters=[
                {"Name": "tag:Name", "Values": ["openflow-agent-*"]},
                {"Name": "instance-state-name", "Values": ["running", "pending", "stopping", "stopped"]},
            ]
        )["Reservations"]
        for instance in (i for r in reservations for i in r["Instances"]):
            iid = instance["InstanceId"]
            up = instance["State"]["Name"] in ("running", "pending")
            if iid in self.agents:
                self._power(self.agents[iid], up)
                continue
            if not up:
                continue
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            key = tags["Name"].removeprefix("openflow-agent-")
            stack = tags.get("aws:cloudformation:stack-name") or self._stack_of(iid)
            if stack is None:
                continue
            agent = Agent(
                instance_id=iid, key=key, stack_name=stack, account_id=instance.get("OwnerId", "123456789012")
            )
            self.agents[iid] = agent
            self._boot(agent)

    def _power(self, agent: Agent, up: bool) -> None:
        """The instance was stopped (the agent stops reporting) or started again (it boots, its
        enabled timers start, and the next cycle syncs and applies)."""
        if up == agent.running or agent.destroyed:
            return
        agent.running = up
        if not up:
            agent.timers = False
            self._report(agent, "NOT_REPORTING")
            return
        agent.write("cloud-init", "Cloud-init v. 22.2.2 running 'modules:final' (instance started again).")
        agent.write("openflow-sync-images", "Started openflow-sync-images.timer.")
        agent.write("openflow-apply-infrastructure", "Started openflow-apply-infrastructure.timer.")
        agent.timers, agent.healthy = True, False
        self._wake.set()

    def _report(self, agent: Agent, status: str) -> None:
        """The deployment's status as the agent's reports make it; never over a deleted one."""
        for dep in self.emulator.state.deployments.values():
            reporting = dep.status in ("ACTIVE", "NOT_HEALTHY", "NOT_REPORTING", "INACTIVE")
            if dep.key == agent.key and reporting and dep.status != status:
                self.emulator.set_deployment_status(dep.name, status)

    def _apply_cycle(self, agent: Agent) -> str:
        """apply-infrastructure on a healthy agent: the management node group at its applied sizes;
        the status to report follows whether a management node is in service."""
        compute = self.compute
        if compute is None or not compute.has(agent.key):
            return "ACTIVE"
        if compute.apply_management(agent.key):
            agent.write(
                "openflow-apply-infrastructure", "Apply complete! Resources: 0 added, 1 changed, 0 destroyed."
            )
        return "ACTIVE" if compute.management_up(agent.key) else "NOT_HEALTHY"

    def _stack_of(self, instance_id: str) -> str | None:
        cfn = boto3.client("cloudformation", region_name=self.region, endpoint_url=self.endpoint_url)
        for summary in cfn.list_stacks()["StackSummaries"]:
            if summary["StackStatus"] == "DELETE_COMPLETE":
                continue
            resources = cfn.describe_stack_resources(StackName=summary["StackName"])["StackResources"]
            if any(r.get("PhysicalResourceId") == instance_id for r in resources):
                return str(summary["StackName"])
        return None

    def _boot(self, agent: Agent) -> None:
        """cloud-init: the UserData's loop over the ten repositories with the stack's own script."""
        cfn = boto3.client("cloudformation", region_name=self.region, endpoint_url=self.endpoint_url)
        body = cfn.get_template(StackName=agent.stack_name)["TemplateBody"]
        template = body if isinstance(body, str) else __import__("json").dumps(body)
        refs = stack_refs(cfn, agent.stack_name, region=self.region, account_id=agent.account_id)
        started = f"{datetime.now(UTC):%a, %d %b %Y %H:%M:%S} +0000"
        agent.write("cloud-init", f"Cloud-init v. 22.2.2 running 'modules:final' at {started}.")
        for repo in REPOSITORIES:
            run = run_agent_script(
                template,
                "ensure-ecr-repo.sh",
                [f"snowflake-openflow/{repo}"],
                refs=refs,
                endpoint_url=self.endpoint_url,
                region=self.region,
            )
            for line in (run.stdout + run.stderr).splitlines():
                if line.strip():
                    agent.write("cloud-init", line)
        agent.write(
            "cloud-init",
            "Created symlink /etc/systemd/system/timers.target.wants/openflow-sync-images.timer.",
        )
        agent.write(
            "cloud-init",
            "Created symlink /etc/systemd/system/timers.target.wants/openflow-apply-infrastructure.timer.",
        )
        agent.write(
            "cloud-init", "Cloud-init v. 22.2.2 finished. Datasource DataSourceEc2Local. Up 312.40 seconds"
        )
        agent.booted = True

    def _existing(self) -> set[str]:
        ecr = boto3.client("ecr", region_name=self.region, endpoint_url=self.endpoint_url)
        names: set[str] = set()
        for page in ecr.get_paginator("describe_repositories").paginate():
            names.update(r["repositoryName"] for r in page["repositories"])
        return names

    def _sync(self, agent: Agent) -> None:
        """One run of the sync-images and apply-infrastructure timers."""
        if agent.destroyed:
            return
        if agent.healthy:
            self._report(agent, self._apply_cycle(agent))
            return
        agent.sync_runs += 1
        existing = self._existing()
        missing = [r for r in REPOSITORIES if f"snowflake-openflow/{r}" not in existing]
        agent.write("openflow-sync-images", "Logging in to local private ECR...")
        agent.write("openflow-sync-images", "Login Succeeded")
        for repo in REPOSITORIES:
            if repo in missing:
                now = datetime.now(UTC)
                agent.write(
                    "docker",
                    f'time="{now:%Y-%m-%dT%H:%M:%S.%f}000Z" level=error msg="Upload failed: name unknown: '
                    f"The repository with name 'snowflake-openflow/{repo}' does not exist in the registry "
                    f"with id '{agent.account_id}'\"",
                    now=now,
                )
                agent.write(
                    "openflow-sync-images",
                    f"name unknown: The repository with name 'snowflake-openflow/{repo}' "
                    f"does not exist in the registry with id '{agent.account_id}'",
                )
            else:
                agent.write("openflow-sync-images", f"Found {repo} in local ECR, so no need to re-sync")
        if missing:
            agent.write(
                "openflow-apply-infrastructure",
                "Waiting for images: the agent image is not in the local registry yet",
            )
            return
        agent.write("openflow-sync-images", "Done syncing repositories!")
        agent.write("openflow-apply-infrastructure", "Applying baseline infrastructure (terraform, helm)...")
        agent.write(
            "openflow-apply-infrastructure", "Apply complete! Resources: 87 added, 0 changed, 0 destroyed."
        )
        agent.write("openflow-apply-infrastructure", "All resources applied successfully")
        agent.healthy = True
        status = self._apply_cycle(agent)
        for dep in self.emulator.state.deployments.values():
            if dep.key == agent.key:
                self.emulator.set_deployment_status(dep.name, status)
        for callback in self.on_active:
            callback(agent)
