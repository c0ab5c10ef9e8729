"""What the benchmarks need from template.yaml: every function (its code, handler and layers) and
every layer. CloudFormation's short tags (!Ref, !Sub, !GetAtt ...) are read as the intrinsic
dicts they stand for, so no AWS library is needed to list them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads `!Ref X` as {"Ref": "X"} and `!Foo v` as {"Fn::Foo": v}."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref": value} if suffix == "Ref" else {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str  # relative to the template's folder, e.g. "functions/webhook/"
    handler: str  # module.attribute, e.g. "app.lambda_handler"
    layers: tuple[str, ...]  # logical ids of the layers, in order
    # (name, value) of each variable the function is given (Globals', then its own); a value the
    # template computes at deploy time (an ARN, a name) is a stand-in of the same kind
    environment: tuple[tuple[str, str], ...] = ()

    @property
    def module(self) -> str:
        return self.handler.rpartition(".")[0]


@dataclass(frozen=True)
class LayerSpec:
    logical_id: str
    content_uri: str
    build_method: str | None


def load(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return data


def _layer_ids(layers: list[Any]) -> tuple[str, ...]:
    ids = []
    for layer in layers:
        if isinstance(layer, dict) and "Ref" in layer:
            ids.append(str(layer["Ref"]))
        else:  # an ARN of a layer outside the template: name it as written
            ids.append(str(layer))
    return tuple(ids)


def _value(value: Any, parameters: dict[str, Any], name: str) -> str:
    """A variable's value as a deployment with the parameters' defaults would see it."""
    if isinstance(value, (str, int, float)):
        return str(value)
    ref = value.get("Ref") if isinstance(value, dict) else None
    if isinstance(ref, str) and ref in parameters and "Default" in parameters[ref]:
        return str(parameters[ref]["Default"])
    if name.endswith("_ARN"):
        return f"arn:aws:lambda:us-east-1:123456789012:function:bench-{name.lower()}"
    return f"bench-{name.lower().replace('_', '-')}"


def _environment(
    props: dict[str, Any], globals_: dict[str, Any], parameters: dict[str, Any]
) -> tuple[tuple[str, str], ...]:
    variables = {
        **((globals_.get("Environment") or {}).get("Variables") or {}),
        **((props.get("Environment") or {}).get("Variables") or {}),
    }
    return tuple((name, _value(value, parameters, name)) for name, value in variables.items())


def functions(template: dict[str, Any]) -> list[FunctionSpec]:
    """Every AWS::Serverless::Function, with the Globals' handler and layers where it sets none."""
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    out = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        out.append(
            FunctionSpec(
                logical_id=logical_id,
                code_uri=str(props["CodeUri"]),
                handler=str(props.get("Handler") or globals_.get("Handler")),
                layers=_layer_ids(props.get("Layers", globals_.get("Layers")) or []),
                environment=_environment(props, globals_, template.get("Parameters") or {}),
            )
        )
    return out


def layers(template: dict[str, Any]) -> list[LayerSpec]:
    out = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::LayerVersion":
            continue
        out.append(
            LayerSpec(
                logical_id=logical_id,
                content_uri=str(resource["Properties"]["ContentUri"]),
                build_method=(resource.get("Metadata") or {}).get("BuildMethod"),
            )
        )
    return out
