"""Deploy template.yaml into moto the way `sam deploy` would, filling what moto drops.

moto's CloudFormation ignores the SAM transform, DefinitionSubstitutions and
AWS::Scheduler::Schedule, and puts state machines in its non-executing backend. So: point
CodeUri/ContentUri at zips uploaded to moto's S3, translate with aws-sam-translator, take the
state machines out, create the stack, then create the state machines through the Step
Functions API with their substitutions resolved from the stack's resources.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import decode_str  # keeps !Ref/!Sub/!GetAtt as intrinsic dicts
from moto.cloudformation.parsing import resource_class_from_type
from samtranslator.translator.transform import transform

from openflow_sandbox.moto_server import ACCOUNT_ID, FunctionRegistry

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = "sandbox-artifacts"
_DROPPED_TYPES = {"AWS::StepFunctions::StateMachine", "AWS::Scheduler::Schedule"}


@dataclass
class DeployedApp:
    stack_name: str
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id -> physical id
    state_machines: dict[str, str] = field(default_factory=dict)  # logical id -> ARN


class _NoManagedPolicies:
    """SAM asks IAM for AWS managed policy ARNs; the few it needs are well known."""

    def load(self) -> dict[str, str]:
        base = "arn:aws:iam::aws:policy/"
        return {
            "AWSLambdaBasicExecutionRole": base + "service-role/AWSLambdaBasicExecutionRole",
            "AWSXrayWriteOnlyAccess": base + "AWSXrayWriteOnlyAccess",
            "AWSXRayDaemonWriteAccess": base + "AWSXRayDaemonWriteAccess",
        }


def _zip_dir(path: Path) -> bytes:
    """The directory as a zip; made once per content (a test session deploys the app many times)."""
    files = sorted(f for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    return _zip_files(path, stamp)


@functools.lru_cache(maxsize=256)  # one per function and layer
def _zip_files(path: Path, stamp: tuple[tuple[str, int, int], ...]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(path.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                zf.write(f, f.relative_to(path))
    return buf.getvalue()


def load_template(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    """The template as plain dicts (a fresh copy each call: deploy edits it)."""
    return json.loads(_template_json(path, path.read_text()))  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=4)
def _template_json(path: Path, text: str) -> str:
    template, matches = decode_str(text)  # parsing with cfn-lint is most of a deploy's own time
    if matches or template is None:
        raise RuntimeError(f"cannot parse {path}: {matches}")
    return json.dumps(template)  # plain dicts, no cfn-lint node types


def deploy(
    registry: FunctionRegistry,
    *,
    parameters: dict[str, str],
    stack_name: str = "openflow-autopilot",
    region: str = "us-east-1",
) -> DeployedApp:
    s3 = boto3.client("s3", region_name=region)
    cfn = boto3.client("cloudformation", region_name=region)
    sfn = boto3.client("stepfunctions", region_name=region)
    s3.create_bucket(Bucket=ARTIFACTS)

    sam = load_template()
    sources: dict[str, Path] = {}
    machines: dict[str, dict[str, Any]] = {}
    for logical_id, res in list(sam["Resources"].items()):
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            src = ROOT / props["CodeUri"]
            key = f"functions/{logical_id}.zip"
            s3.put_object(Bucket=ARTIFACTS, Key=key, Body=_zip_dir(src))
            props["CodeUri"] = f"s3://{ARTIFACTS}/{key}"
            sources[logical_id] = src
        elif res["Type"] == "AWS::Serverless::LayerVersion":
            key = f"layers/{logical_id}.zip"
            s3.put_object(Bucket=ARTIFACTS, Key=key, Body=_zip_dir(ROOT / props["ContentUri"]))
            props["ContentUri"] = f"s3://{ARTIFACTS}/{key}"
        elif res["Type"] == "AWS::Serverless::StateMachine":
            machines[logical_id] = copy.deepcopy(props)
            del sam["Resources"][logical_id]
        elif res["Type"] in _DROPPED_TYPES:
            del sam["Resources"][logical_id]
    dropped = set(machines)
    # Functions that start executions name the state machines, which are created after the stack:
    # name them up front and put their ARN and name where CloudFormation would resolve them.
    known = {
        logical_id: {
            "Ref": f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:{stack_name}-{logical_id}",
            "Name": f"{stack_name}-{logical_id}",
        }
        for logical_id in machines
    }
    known = {k: {**v, "Arn": v["Ref"]} for k, v in known.items()}
    sam["Resources"] = _inline_refs(sam["Resources"], known)
    sam["Outputs"] = {k: v for k, v in sam.get("Outputs", {}).items() if not (set(_refs(v)) & dropped)}

    cfn_template = transform(sam, parameters, _NoManagedPolicies())
    # moto does not model these; the function behaves the same without them (the sandbox serves the
    # URL). Set per deployment: test runners reset warning filters around each test.
    warnings.filterwarnings(
        "ignore", message=r"Tried to parse AWS::Lambda::(Url|EventInvokeConfig) ", category=UserWarning
    )
    # moto skips resource types it does not model (a function URL): outputs naming them cannot resolve.
    unmodelled = {
        k for k, r in cfn_template["Resources"].items() if resource_class_from_type(r["Type"]) is None
    }
    cfn_template["Outputs"] = {
        k: v for k, v in cfn_template.get("Outputs", {}).items() if not set(_refs(v)) & unmodelled
    }
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(cfn_template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"sandbox stack ended {stack['StackStatus']}")
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    }
    for logical_id, src in sources.items():
        registry.sources[resources[logical_id]] = src

    _apply_bucket_notifications(cfn_template, resources, region)
    app = DeployedApp(
        stack_name=stack_name,
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        resources=resources,
    )
    lam = boto3.client("lambda", region_name=region)
    for logical_id, props in machines.items():
        defaults = {k: str(v.get("Default", "")) for k, v in sam.get("Parameters", {}).items()}
        params = {**defaults, **parameters}
        subs = {
            k: _resolve(v, resources, lam, params)
            for k, v in props.get("DefinitionSubstitutions", {}).items()
        }
        definition = (ROOT / props["DefinitionUri"]).read_text()
        for k, v in subs.items():
            definition = definition.replace("${" + k + "}", str(v))
        arn = sfn.create_state_machine(
            name=f"{stack_name}-{logical_id}",
            definition=definition,
            roleArn=f"arn:aws:iam::123456789012:role/{stack_name}-{logical_id}Role",
            type=props.get("Type", "STANDARD"),
        )["stateMachineArn"]
        app.state_machines[logical_id] = arn
    return app


def _apply_bucket_notifications(template: dict[str, Any], resources: dict[str, str], region: str) -> None:
    """moto's CloudFormation ignores a bucket's NotificationConfiguration: set it through the API."""
    s3 = boto3.client("s3", region_name=region)
    lam = boto3.client("lambda", region_name=region)
    for logical_id, res in template["Resources"].items():
        config = res.get("Properties", {}).get("NotificationConfiguration")
        if res["Type"] != "AWS::S3::Bucket" or not config:
            continue
        lambdas: list[Any] = []
        for item in config.get("LambdaConfigurations", []):
            function_logical_id = item["Function"]["Fn::GetAtt"][0]
            arn = lam.get_function(FunctionName=resources[function_logical_id])["Configuration"][
                "FunctionArn"
            ]
            rules = item.get("Filter", {}).get("S3Key", {}).get("Rules", [])
            entry: dict[str, Any] = {"LambdaFunctionArn": arn, "Events": [item["Event"]]}
            if rules:
                entry["Filter"] = {
                    "Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}
                }
            lambdas.append(entry)
        s3.put_bucket_notification_configuration(
            Bucket=resources[logical_id], NotificationConfiguration={"LambdaFunctionConfigurations": lambdas}
        )


def _inline_refs(node: Any, known: dict[str, dict[str, str]]) -> Any:
    """Replace Ref, GetAtt and ${X} / ${X.Attr} in Sub strings to the `known` resources by value."""
    if isinstance(node, list):
        return [_inline_refs(item, known) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in known:
        return known[node["Ref"]]["Ref"]
    if set(node) == {"Fn::GetAtt"}:
        target = node["Fn::GetAtt"]
        logical_id, attr = (target if isinstance(target, list) else str(target).split("."))[:2]
        if logical_id in known:
            return known[logical_id][attr]
    if set(node) == {"Fn::Sub"}:
        sub = node["Fn::Sub"]
        text, variables = (sub, None) if isinstance(sub, str) else (sub[0], sub[1])
        for logical_id, values in known.items():
            text = text.replace("${" + logical_id + "}", values["Ref"])
            for attr, value in values.items():
                text = text.replace("${" + f"{logical_id}.{attr}" + "}", value)
        return {"Fn::Sub": text if variables is None else [text, _inline_refs(variables, known)]}
    return {k: _inline_refs(v, known) for k, v in node.items()}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = []
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                out.append(v)
            elif k == "Fn::GetAtt":
                out.append(v[0] if isinstance(v, list) else str(v).split(".")[0])
            else:
                out.extend(_refs(v))
        return out
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def _resolve(value: Any, resources: dict[str, str], lam: Any, parameters: dict[str, str]) -> str:
    """The substitutions our template uses: !GetAtt Function.Arn, !Ref X, plain strings."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        logical_id, attr = (target if isinstance(target, list) else target.split("."))[:2]
        if attr == "Arn":
            return str(lam.get_function(FunctionName=resources[logical_id])["Configuration"]["FunctionArn"])
    if "Ref" in value:
        ref = value["Ref"]
        return parameters[ref] if ref in parameters else resources[ref]
    raise ValueError(f"sandbox cannot resolve substitution {value}")
