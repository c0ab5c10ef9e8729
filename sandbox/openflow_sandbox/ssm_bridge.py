"""SSM RunCommand against the simulated agents.

moto's SSM accepts any command and answers every invocation with empty output. The sandbox hooks
SendCommand: the journal-collection script gets the simulated agent's journals as its output
(inline, cut like SSM's, and the full copy in the command's S3 output bucket), and the re-run
script makes the agent run its sync and apply services at once; the timers script stops its timers
(deep sleep); a script that runs `destroy.sh`
makes the agent remove its data plane and stop reporting (the deployment turns NOT_REPORTING).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import boto3
from moto.ssm.models import SimpleSystemManagerBackend

from openflow_autopilot.openflow.agent import markers
from openflow_autopilot.openflow.agent.collect import TIMERS_MARK, output_key
from openflow_autopilot_cli.teardown_workflow import DESTROY_SCRIPT_PATH
from openflow_sandbox.agent import Agent, SimulatedAgents

INLINE_LIMIT = 24_000  # SSM returns at most this much stdout inline
_SECTIONS = {
    markers.DOCKER: "docker",
    markers.SYNC_IMAGES: "openflow-sync-images",
    markers.APPLY_INFRASTRUCTURE: "openflow-apply-infrastructure",
    markers.CLOUD_INIT: "cloud-init",
}
log = logging.getLogger(__name__)
_lock = threading.Lock()
_agents: SimulatedAgents | None = None
_original_send = SimpleSystemManagerBackend.send_command


def collected_output(agent: Agent) -> str:
    timers = "\n".join(
        f"● {unit}.timer - Run {unit}.service every 10 minutes\n"
        "     Loaded: loaded\n     Active: active (waiting)"
        for unit in ("openflow-sync-images", "openflow-apply-infrastructure")
    )
    units = "\n".join(
        f"Id={unit}\nLoadState=loaded\nActiveState={'active' if unit.endswith('.timer') else 'inactive'}\n"
        f"SubState={'waiting' if unit.endswith('.timer') else 'dead'}\nResult=success\n"
        for unit in (
            "openflow-sync-images.timer",
            "openflow-apply-infrastructure.timer",
            "openflow-sync-images.service",
            "openflow-apply-infrastructure.service",
        )
    )
    sections = {markers.TIMERS: timers, markers.UNITS: units}
    sections.update({section: agent.text(unit) for section, unit in _SECTIONS.items()})
    return markers.render_collected_output(sections, host=agent.host)


def _send_command(self: SimpleSystemManagerBackend, *args: Any, **kwargs: Any) -> Any:
    command = _original_send(self, *args, **kwargs)
    agents = _agents
    if agents is None:
        return command
    script = "\n".join((kwargs.get("parameters") or {}).get("commands", []))
    for invocation in command.invocations:
        agent = agents.agent_for(invocation["InstanceId"])
        if agent is None:
            continue
        if DESTROY_SCRIPT_PATH in script:
            agents.run_destroy(agent.instance_id)
        elif TIMERS_MARK in script:
            agents.stop_timers(agent.instance_id)
        elif "openflow-autopilot-rerun" in script:
            agents.rerun(agent.instance_id)
        elif markers.HEADER_PREFIX in script or "journalctl" in script:
            text = collected_output(agent)
            invocation["StandardOutputContent"] = text[:INLINE_LIMIT]
            bucket = kwargs.get("output_s3_bucket_name")
            if bucket:
                key = output_key(
                    kwargs.get("output_s3_key_prefix") or "", command.command_id, agent.instance_id
                )
                threading.Thread(target=_upload, args=(bucket, key, text), daemon=True).start()
    return command


def _upload(bucket: str, key: str, text: str) -> None:
    try:
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=text.encode())
    except Exception:
        log.exception("could not store the simulated command output")


def install(agents: SimulatedAgents) -> None:
    global _agents
    with _lock:
        _agents = agents
        SimpleSystemManagerBackend.send_command = _send_command  # type: ignore[method-assign]


def uninstall(agents: SimulatedAgents) -> None:
    global _agents
    with _lock:
        if _agents is agents:
            _agents = None
