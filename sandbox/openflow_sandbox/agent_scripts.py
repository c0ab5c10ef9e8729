"""Run the scripts an Openflow deployment template's UserData writes, on this machine, against moto.

The simulated agent uses this to run `ensure-ecr-repo.sh` exactly as the stack's UserData wrote it:
rendered through Fn::Sub with the stack's real parameter values, with `/home/ec2-user/` moved into a
temporary directory, and with small `aws` / `ec2-metadata` stand-ins first on PATH that talk to the
moto server named by `endpoint_url` (`aws` through this process's in-process CLI, aws_cli.py).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from openflow_autopilot.openflow.template import EmbeddedScript, embedded_scripts
from openflow_sandbox import aws_cli

SHIM_DIR: Final = Path(__file__).resolve().parent / "bin"
AGENT_HOME: Final = "/home/ec2-user/"
AGENT_RESOURCE: Final = "OpenflowAgentInstance"
SANDBOX_ACCOUNT_ID: Final = "123456789012"


@dataclass(frozen=True)
class ScriptRun:
    exit_code: int
    stdout: str
    stderr: str


def pseudo_parameters(
    region: str, account_id: str = SANDBOX_ACCOUNT_ID, stack_name: str = "openflow"
) -> dict[str, str]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack_name,
        "AWS::NoValue": "",
    }


def stack_refs(
    cloudformation: Any, stack_name: str, *, region: str, account_id: str = SANDBOX_ACCOUNT_ID
) -> dict[str, str]:
    """Ref values of a created stack: its parameters, resources' physical ids and pseudo parameters."""
    refs = pseudo_parameters(region, account_id, stack_name)
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    for parameter in stack.get("Parameters", []):
        refs[parameter["ParameterKey"]] = parameter.get("ResolvedValue") or parameter.get(
            "ParameterValue", ""
        )
    for resource in cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]:
        refs[resource["LogicalResourceId"]] = resource.get("PhysicalResourceId", "")
    return refs


def agent_script(
    template_text: str, name: str, *, refs: Mapping[str, str], resource: str = AGENT_RESOURCE
) -> EmbeddedScript:
    """The script `name` (e.g. `ensure-ecr-repo.sh`, `.env`) the resource's UserData writes."""
    for script in embedded_scripts(template_text, refs=refs):
        if script.resource == resource and script.name == name:
            return script
    raise LookupError(f"{resource}'s UserData writes no {name}")


def run_agent_script(
    template_text: str,
    name: str,
    args: Sequence[str] = (),
    *,
    refs: Mapping[str, str],
    endpoint_url: str,
    region: str = "us-east-1",
    resource: str = AGENT_RESOURCE,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> ScriptRun:
    """Write the agent's files (the script, plus `.env`/`.upgrade` when the UserData has them) into a
    temporary home and run the script with bash. Returns its exit code and output."""
    scripts = {
        script.name: script
        for script in embedded_scripts(template_text, refs=refs)
        if script.resource == resource
    }
    if name not in scripts:
        raise LookupError(f"{resource}'s UserData writes no {name}")
    with tempfile.TemporaryDirectory(prefix="openflow-agent-") as home:
        agent_home = f"{home}/"
        for support in (".env", ".upgrade"):
            if support in scripts and support != name:
                Path(home, support).write_text(_relocate(scripts[support].text, agent_home), encoding="utf-8")
        path = Path(home, name)
        path.write_text(_relocate(scripts[name].text, agent_home), encoding="utf-8")
        path.chmod(0o755)
        environment = {
            # The stand-ins first on PATH; `aws` forwards to this process's CLI endpoint.
            **stand_in_env(),
            "HOME": home,
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "LANG": "C.UTF-8",
            **(env or {}),
        }
        result = subprocess.run(
            ["bash", str(path), *args],
            capture_output=True,
            text=True,
            cwd=home,
            env=environment,
            timeout=timeout,
            check=False,
        )
    return ScriptRun(result.returncode, result.stdout, result.stderr)


def stand_in_env() -> dict[str, str]:
    """PATH with the stand-ins first, and where the `aws` stand-in finds the in-process CLI."""
    return {
        "PATH": os.pathsep.join([str(SHIM_DIR), "/usr/local/bin", "/usr/bin", "/bin"]),
        "OPENFLOW_SANDBOX_AWS_CLI": aws_cli.server_url(),
    }


def _relocate(text: str, agent_home: str) -> str:
    return text.replace(AGENT_HOME, agent_home)
