"""A deployment's compute in moto: an EKS cluster with the runtime node groups `<key>-sm|md|lg-group`
and a management node group, each backed by an Auto Scaling group with instances, so the power
workflow's stop sees nodes go to zero and its start sees them come back. Only the runtime node
groups' names are documented; the management group's name here (`<key>-management-group`) is the
sandbox's own, and the product finds it at run time as "every node group in the same cluster".

moto's CloudFormation drops `AWS::EKS::*`, so nothing here comes from the deployment's stack; the
sandbox creates it through the APIs once the deployment's key is known. Two gaps in moto are
filled the way EKS behaves:
- EKS tags only clusters in moto; here node groups can be tagged too (the workflow remembers the
  sizes before a stop in a node group tag);
- moto's EKS does not drive the node group's Auto Scaling group; a small controller thread copies
  each node group's scaling config to its group, as EKS does, so instances come and go.
The sandbox does not make SUSPEND scale the nodes (whether Openflow does is not documented): the
workflow's own scale-down is what the rehearsal exercises.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import boto3
from moto.eks.exceptions import ResourceNotFoundException
from moto.eks.models import EKSBackend

log = logging.getLogger(__name__)

SUFFIXES = ("sm", "md", "lg")
MANAGEMENT = "management"
# what the agent's apply-infrastructure sets the management group to, every cycle while it runs
MANAGEMENT_SIZES = {"minSize": 1, "maxSize": 3, "desiredSize": 1}
_AMI = "ami-12c6146b"  # one of moto's built-in images
ACCOUNT_ID = "123456789012"


# --- moto: tags on node groups, as EKS has them ------------------------------------------------------
def _find_nodegroup(backend: EKSBackend, arn: str) -> Any | None:
    for cluster in backend.clusters.values():
        for nodegroup in cluster.nodegroups.values():
            if nodegroup.arn == arn:
                return nodegroup
    return None


_tag_cluster = EKSBackend.tag_resource
_untag_cluster = EKSBackend.untag_resource
_list_cluster_tags = EKSBackend.list_tags_for_resource


def _tag_resource(self: EKSBackend, resource_arn: str, tags: dict[str, str]) -> None:
    nodegroup = _find_nodegroup(self, resource_arn)
    if nodegroup is None:
        _tag_cluster(self, resource_arn, tags)
        return
    nodegroup.tags.update(tags)


def _untag_resource(self: EKSBackend, resource_arn: str, tag_keys: list[str]) -> None:
    nodegroup = _find_nodegroup(self, resource_arn)
    if nodegroup is None:
        _untag_cluster(self, resource_arn, tag_keys)
        return
    for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
        nodegroup.tags.pop(key, None)


def _list_tags(self: EKSBackend, resource_arn: str) -> dict[str, str]:
    nodegroup = _find_nodegroup(self, resource_arn)
    if nodegroup is None:
        tags: dict[str, str] = _list_cluster_tags(self, resource_arn)
        return tags
    return dict(nodegroup.tags)


EKSBackend.tag_resource = _tag_resource  # type: ignore[method-assign]
EKSBackend.untag_resource = _untag_resource  # type: ignore[method-assign]
EKSBackend.list_tags_for_resource = _list_tags  # type: ignore[method-assign]
__all__ = ["NodeGroupSizes", "OpenflowCompute", "ResourceNotFoundException"]


# --- the fake compute ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeGroupSizes:
    name: str
    min: int
    desired: int
    max: int
    instances: int  # live instances in its Auto Scaling group


class OpenflowCompute:
    """`create(key)` makes the cluster and node groups for a deployment key; `sizes(key)` reads
    them back; a controller thread keeps each Auto Scaling group at its node group's size."""

    def __init__(self, region: str = "us-east-1", *, sync_seconds: float = 0.2) -> None:
        self.region = region
        self.sync_seconds = sync_seconds
        self._asg_of: dict[tuple[str, str], str] = {}  # (cluster, node group) -> ASG name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._made: tuple[Any, Any, Any] | None = None

    def _clients(self) -> tuple[Any, Any, Any]:
        """Made once, at first use (after moto is up: they bind to its endpoint); boto3 clients are
        thread-safe, and making three every controller round cost more than the round itself."""
        with self._lock:
            if self._made is None:
                session = boto3.session.Session(region_name=self.region)
                self._made = (session.client("eks"), session.client("autoscaling"), session.client("ec2"))
            return self._made

    @staticmethod
    def cluster_name(key: str) -> str:
        return f"openflow-{key}"

    def create(self, key: str, *, running: str = "sm", nodes: int = 1) -> list[str]:
        """The cluster and its three node groups (min 0, max 50, as Openflow makes them); the
        `running` size has `nodes` nodes (a runtime of that size is up), the others none."""
        eks, autoscaling, ec2 = self._clients()
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
        role = f"arn:aws:iam::{ACCOUNT_ID}:role/openflow-{key}-eks"
        cluster = self.cluster_name(key)
        eks.create_cluster(name=cluster, roleArn=role, resourcesVpcConfig={"subnetIds": [subnet]})
        template = ec2.create_launch_template(
            LaunchTemplateName=f"openflow-{key}-nodes",
            LaunchTemplateData={"ImageId": _AMI, "InstanceType": "m7i.xlarge"},
        )["LaunchTemplate"]["LaunchTemplateId"]
        names = []
        for suffix in (*SUFFIXES, MANAGEMENT):
            name = f"{key}-{suffix}-group"
            desired = nodes if suffix == running else 0
            scaling = (
                MANAGEMENT_SIZES
                if suffix == MANAGEMENT
                else {"minSize": 0, "maxSize": 50, "desiredSize": desired}
            )
            desired = scaling["desiredSize"]
            kind = {"sm": "m7i.xlarge", "md": "m7i.4xlarge", "lg": "m7i.8xlarge", MANAGEMENT: "m7i.2xlarge"}
            nodegroup = eks.create_nodegroup(
                clusterName=cluster,
                nodegroupName=name,
                nodeRole=role,
                subnets=[subnet],
                scalingConfig=scaling,
                instanceTypes=[kind[suffix]],
            )["nodegroup"]
            asg = nodegroup["resources"]["autoScalingGroups"][0]["name"]
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=asg,
                LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
                MinSize=scaling["minSize"],
                MaxSize=scaling["maxSize"],
                DesiredCapacity=desired,
                VPCZoneIdentifier=subnet,
                Tags=[
                    {"Key": "eks:nodegroup-name", "Value": name, "PropagateAtLaunch": True},
                    {"Key": "eks:cluster-name", "Value": cluster, "PropagateAtLaunch": True},
                ],
            )
            with self._lock:
                self._asg_of[(cluster, name)] = asg
            names.append(name)
        return names

    def sizes(self, key: str) -> dict[str, NodeGroupSizes]:
        return {suffix: self.group_sizes(key, suffix) for suffix in (*SUFFIXES, MANAGEMENT)}

    def group_sizes(self, key: str, suffix: str) -> NodeGroupSizes:
        eks, autoscaling, _ = self._clients()
        cluster, name = self.cluster_name(key), f"{key}-{suffix}-group"
        scaling = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"][
            "scalingConfig"
        ]
        asg = self._asg_of[(cluster, name)]
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])["AutoScalingGroups"][0]
        live = [i for i in group["Instances"] if not i["LifecycleState"].startswith("Terminat")]
        return NodeGroupSizes(
            name=name,
            min=scaling["minSize"],
            desired=scaling["desiredSize"],
            max=scaling["maxSize"],
            instances=len(live),
        )

    def tags(self, key: str, suffix: str = "sm") -> dict[str, str]:
        eks, _, _ = self._clients()
        nodegroup = eks.describe_nodegroup(
            clusterName=self.cluster_name(key), nodegroupName=f"{key}-{suffix}-group"
        )
        tags: dict[str, str] = nodegroup["nodegroup"].get("tags") or {}
        return tags

    def has(self, key: str) -> bool:
        with self._lock:
            return any(cluster == self.cluster_name(key) for cluster, _ in self._asg_of)

    def apply_management(self, key: str) -> bool:
        """What the agent's apply-infrastructure does each cycle: the management node group back at
        its applied sizes. True when it had to change them."""
        eks, _, _ = self._clients()
        cluster, name = self.cluster_name(key), f"{key}-{MANAGEMENT}-group"
        scaling = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"][
            "scalingConfig"
        ]
        if all(scaling.get(k) == v for k, v in MANAGEMENT_SIZES.items()):
            return False
        eks.update_nodegroup_config(clusterName=cluster, nodegroupName=name, scalingConfig=MANAGEMENT_SIZES)
        return True

    def management_up(self, key: str) -> bool:
        """At least one management node is in service (what the deployment's health reflects)."""
        return self.group_sizes(key, MANAGEMENT).instances > 0

    # --- the controller: EKS scaling config -> the node group's Auto Scaling group -------------------
    def sync(self) -> None:
        with self._lock:
            pairs = list(self._asg_of.items())
        if not pairs:
            return
        eks, autoscaling, _ = self._clients()
        for (cluster, name), asg in pairs:
            scaling = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"][
                "scalingConfig"
            ]
            group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])[
                "AutoScalingGroups"
            ][0]
            wanted = (scaling["minSize"], scaling["maxSize"], scaling["desiredSize"])
            if (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) != wanted:
                autoscaling.update_auto_scaling_group(
                    AutoScalingGroupName=asg, MinSize=wanted[0], MaxSize=wanted[1], DesiredCapacity=wanted[2]
                )

    def _run(self) -> None:
        while not self._stop.wait(self.sync_seconds):
            try:
                self.sync()
            except Exception as exc:  # keep the controller alive; the next round tries again
                log.debug("node group sync failed: %s", exc)

    def start(self) -> OpenflowCompute:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="eks-nodegroups", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._made = None
