"""The runtime's compute on AWS: the deployment's EKS managed node groups `<key>-sm|md|lg-group`
(or, when the EKS API shows none, the Auto Scaling groups tagged with those node group names).

Suspending a runtime is expected to scale its nodes to zero, but that is not documented for BYOC,
so the stop verifies it: the group's desired size and its live instances reach zero within a
budget; if they do not, the group is scaled down here: min 0, desired 0, max unchanged (at least
1: the EKS API rejects maxSize 0). The sizes before that are remembered in a tag on the group, and
the start restores them (then removes the tag). A group already at zero is never re-tagged, so a
second stop cannot overwrite the remembered sizes with zeros. Clients are parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.core.results import Action

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_eks import EKSClient

SIZE_SUFFIX = {"SMALL": "sm", "MEDIUM": "md", "LARGE": "lg"}
REMEMBER_TAG = "openflow-autopilot:size-before-stop"
NODEGROUP_TAG = "eks:nodegroup-name"  # EKS puts it on a managed node group's Auto Scaling group
_EKS_BUSY = frozenset({"ResourceInUseException"})
_ASG_BUSY = frozenset({"ScalingActivityInProgress", "ResourceContention"})
_SIZES = re.compile(r"^min=(\d+)/desired=(\d+)/max=(\d+)$")


@dataclass(frozen=True)
class Sizes:
    min: int
    desired: int
    max: int

    def tag(self) -> str:
        return f"min={self.min}/desired={self.desired}/max={self.max}"

    @classmethod
    def from_tag(cls, value: str | None) -> Sizes | None:
        match = _SIZES.match(value or "")
        if not match:
            return None
        low, desired, high = (int(g) for g in match.groups())
        return cls(low, desired, high)

    @property
    def zero(self) -> bool:
        return self.min == 0 and self.desired == 0


def stopped_sizes(current: Sizes) -> Sizes:
    """What a stopped group is scaled to: min 0, desired 0, and max kept, never below 1 (the EKS
    API rejects maxSize 0 for a managed node group)."""
    return Sizes(0, 0, max(current.max, 1))


class Group(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["eks", "asg"]
    name: str  # node group name (eks) or Auto Scaling group name (asg)
    cluster: str | None = None
    arn: str
    min: int
    desired: int
    max: int
    instances: int | None  # live instances in its Auto Scaling group; None when not visible
    remembered: str | None = None  # the REMEMBER_TAG value

    @property
    def sizes(self) -> Sizes:
        return Sizes(self.min, self.desired, self.max)

    @property
    def gone(self) -> bool:
        return self.desired == 0 and not self.instances

    def describe(self) -> str:
        live = "?" if self.instances is None else str(self.instances)
        where = f"EKS node group {self.cluster}/{self.name}" if self.kind == "eks" else f"ASG {self.name}"
        return f"{where} (min {self.min}, desired {self.desired}, max {self.max}, {live} instance(s))"


def nodegroup_names(key: str, size: str | None = None) -> list[str]:
    """`<key>-sm-group` etc.; all three sizes unless `size` (SMALL/MEDIUM/LARGE) is given."""
    suffixes = [SIZE_SUFFIX[size.upper()]] if size else list(SIZE_SUFFIX.values())
    return [f"{key}-{s}-group" for s in suffixes]


def _live(instances: Sequence[Mapping[str, object]]) -> int:
    return sum(
        1 for i in instances if not str(i.get("LifecycleState", "")).startswith(("Terminat", "Detach"))
    )


def _asg_instances(autoscaling: AutoScalingClient, names: list[str]) -> int | None:
    if not names:
        return None
    with aws_call("autoscaling:DescribeAutoScalingGroups"):
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=names)["AutoScalingGroups"]
    if not groups:
        return None
    return sum(_live(g.get("Instances", [])) for g in groups)


def _clusters(eks: EKSClient) -> list[str]:
    with aws_call("eks:ListClusters"):
        return [c for page in eks.get_paginator("list_clusters").paginate() for c in page.get("clusters", [])]


def _nodegroups_of(eks: EKSClient, cluster: str) -> list[str]:
    with aws_call("eks:ListNodegroups"):
        return [
            n
            for page in eks.get_paginator("list_nodegroups").paginate(clusterName=cluster)
            for n in page.get("nodegroups", [])
        ]


def _described(eks: EKSClient, autoscaling: AutoScalingClient, cluster: str, names: list[str]) -> list[Group]:
    found: list[Group] = []
    for name in sorted(names):
        with aws_call("eks:DescribeNodegroup"):
            ng = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
        scaling = ng.get("scalingConfig", {})
        asgs = [a["name"] for a in ng.get("resources", {}).get("autoScalingGroups", []) if a.get("name")]
        found.append(
            Group(
                kind="eks",
                name=name,
                cluster=cluster,
                arn=ng["nodegroupArn"],
                min=int(scaling.get("minSize", 0)),
                desired=int(scaling.get("desiredSize", 0)),
                max=int(scaling.get("maxSize", 1)),
                instances=_asg_instances(autoscaling, asgs),
                remembered=(ng.get("tags") or {}).get(REMEMBER_TAG),
            )
        )
    return found


def _eks_groups(eks: EKSClient, autoscaling: AutoScalingClient, wanted: list[str]) -> list[Group]:
    return [
        group
        for cluster in _clusters(eks)
        for group in _described(
            eks, autoscaling, cluster, list(set(_nodegroups_of(eks, cluster)) & set(wanted))
        )
    ]


def _tagged_asgs(autoscaling: AutoScalingClient, wanted: list[str]) -> list[Group]:
    found: list[Group] = []
    with aws_call("autoscaling:DescribeAutoScalingGroups"):
        pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            Filters=[{"Name": f"tag:{NODEGROUP_TAG}", "Values": wanted}]
        )
        groups = [g for page in pages for g in page.get("AutoScalingGroups", [])]
    for g in groups:
        tags = {t["Key"]: t["Value"] for t in g.get("Tags", [])}
        if tags.get(NODEGROUP_TAG) not in wanted:  # the filter is the API's; check it again here
            continue
        found.append(
            Group(
                kind="asg",
                name=g["AutoScalingGroupName"],
                arn=g.get("AutoScalingGroupARN", g["AutoScalingGroupName"]),
                min=int(g["MinSize"]),
                desired=int(g["DesiredCapacity"]),
                max=int(g["MaxSize"]),
                instances=_live(g.get("Instances", [])),
                remembered=tags.get(REMEMBER_TAG),
            )
        )
    return sorted(found, key=lambda grp: grp.name)


def find_groups(
    eks: EKSClient, autoscaling: AutoScalingClient, *, key: str, size: str | None = None
) -> list[Group]:
    """The deployment's node groups (of one runtime size, if given): EKS first, else tagged ASGs."""
    wanted = nodegroup_names(key, size)
    return _eks_groups(eks, autoscaling, wanted) or _tagged_asgs(autoscaling, wanted)


def find_data_plane_groups(eks: EKSClient, autoscaling: AutoScalingClient, *, key: str) -> list[Group]:
    """Every node group of the deployment's data plane, the management one included. Only the
    runtime node groups' names are documented (`<key>-sm|md|lg-group`), so the data plane is found
    at run time: the EKS cluster that holds them, and every node group in it. Without EKS
    visibility, only the runtime groups' Auto Scaling groups are found (their tags name them)."""
    wanted = nodegroup_names(key)
    groups: list[Group] = []
    for cluster in _clusters(eks):
        names = _nodegroups_of(eks, cluster)
        if set(names) & set(wanted):  # only the deployment's own cluster: no other is ever touched
            groups += _described(eks, autoscaling, cluster, names)
    return sorted(groups, key=lambda g: g.name) or _tagged_asgs(autoscaling, wanted)


def _scale(eks: EKSClient, autoscaling: AutoScalingClient, group: Group, sizes: Sizes) -> None:
    if group.kind == "eks":
        with aws_call("eks:UpdateNodegroupConfig", busy=_EKS_BUSY):
            eks.update_nodegroup_config(
                clusterName=str(group.cluster),  # an EKS group always names its cluster
                nodegroupName=group.name,
                scalingConfig={"minSize": sizes.min, "maxSize": sizes.max, "desiredSize": sizes.desired},
            )
    else:
        with aws_call("autoscaling:UpdateAutoScalingGroup", busy=_ASG_BUSY):
            autoscaling.update_auto_scaling_group(
                AutoScalingGroupName=group.name,
                MinSize=sizes.min,
                MaxSize=sizes.max,
                DesiredCapacity=sizes.desired,
            )


def _remember(eks: EKSClient, autoscaling: AutoScalingClient, group: Group, sizes: Sizes) -> None:
    if group.kind == "eks":
        with aws_call("eks:TagResource"):
            eks.tag_resource(resourceArn=group.arn, tags={REMEMBER_TAG: sizes.tag()})
    else:
        with aws_call("autoscaling:CreateOrUpdateTags"):
            autoscaling.create_or_update_tags(
                Tags=[
                    {
                        "ResourceId": group.name,
                        "ResourceType": "auto-scaling-group",
                        "Key": REMEMBER_TAG,
                        "Value": sizes.tag(),
                        "PropagateAtLaunch": False,
                    }
                ]
            )


def _forget(eks: EKSClient, autoscaling: AutoScalingClient, group: Group) -> None:
    try:
        if group.kind == "eks":
            with aws_call("eks:UntagResource"):
                eks.untag_resource(resourceArn=group.arn, tagKeys=[REMEMBER_TAG])
        else:
            with aws_call("autoscaling:DeleteTags"):
                autoscaling.delete_tags(
                    Tags=[
                        {"ResourceId": group.name, "ResourceType": "auto-scaling-group", "Key": REMEMBER_TAG}
                    ]
                )
    except ClientError as exc:
        if error_code(exc) not in ("ResourceNotFoundException", "ValidationError"):
            raise


def scale_to_zero(
    eks: EKSClient, autoscaling: AutoScalingClient, group: Group
) -> tuple[list[Action], list[str]]:
    """Remember the sizes (unless a remembered value exists or the group is already at zero), then
    scale to min 0 / desired 0 / max >= 1."""
    actions: list[Action] = []
    notes: list[str] = []
    current = group.sizes
    if group.remembered is None and not current.zero:
        _remember(eks, autoscaling, group, current)
        actions.append(
            Action(kind="remember_size", target=group.name, statement=f"tag {REMEMBER_TAG}={current.tag()}")
        )
    elif group.remembered is not None:
        notes.append(f"{group.name}: sizes remembered earlier are kept ({group.remembered})")
    target = stopped_sizes(current)
    if target != current:
        _scale(eks, autoscaling, group, target)
        actions.append(
            Action(kind="scale_to_zero", target=group.name, statement=f"{current.tag()} -> {target.tag()}")
        )
    return actions, notes


def restore(eks: EKSClient, autoscaling: AutoScalingClient, group: Group) -> tuple[list[Action], list[str]]:
    """Put back the remembered sizes and drop the tag; nothing remembered is a no-op with a note."""
    remembered = Sizes.from_tag(group.remembered)
    if group.remembered is not None and remembered is None:
        return [], [
            f"{group.name}: the remembered sizes {group.remembered!r} are unreadable; left as they are"
        ]
    if remembered is None:
        return [], [
            f"{group.describe()}: no sizes remembered (a stop did not scale it); Openflow sizes it on resume"
        ]
    actions: list[Action] = []
    target = Sizes(remembered.min, remembered.desired, max(remembered.max, 1))
    if target != group.sizes:
        _scale(eks, autoscaling, group, target)
        actions.append(
            Action(kind="restore_size", target=group.name, statement=f"{group.sizes.tag()} -> {target.tag()}")
        )
    _forget(eks, autoscaling, group)
    actions.append(Action(kind="forget_size", target=group.name, statement=f"untag {REMEMBER_TAG}"))
    return actions, []
