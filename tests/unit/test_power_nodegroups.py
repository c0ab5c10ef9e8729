"""The runtime's node groups on stop and start, against in-memory EKS and Auto Scaling fakes that
reject what the real APIs reject (EKS: maxSize 0)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from openflow_autopilot.errors import BudgetExhausted, NotReadyYet, PreconditionFailed
from openflow_autopilot.power.compute_check import ComputeCheck, check_compute
from openflow_autopilot.power.nodegroups import (
    REMEMBER_TAG,
    Sizes,
    find_data_plane_groups,
    find_groups,
    nodegroup_names,
    restore,
    scale_to_zero,
    stopped_sizes,
)


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


class _Pages:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def paginate(self, **_kwargs: Any) -> list[dict[str, Any]]:
        return self.pages


@dataclass
class FakeNodegroup:
    cluster: str
    name: str
    min: int
    desired: int
    max: int
    asg: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeAsg:
    name: str
    min: int
    desired: int
    max: int
    tags: dict[str, str] = field(default_factory=dict)
    terminating: int = 0


class FakeAutoscaling:
    def __init__(self) -> None:
        self.groups: dict[str, FakeAsg] = {}
        self.updates: list[dict[str, Any]] = []

    def _shape(self, g: FakeAsg) -> dict[str, Any]:
        live = [{"InstanceId": f"i-{g.name}-{i}", "LifecycleState": "InService"} for i in range(g.desired)]
        dying = [{"InstanceId": f"i-x{i}", "LifecycleState": "Terminating"} for i in range(g.terminating)]
        return {
            "AutoScalingGroupName": g.name,
            "AutoScalingGroupARN": f"arn:asg:{g.name}",
            "MinSize": g.min,
            "DesiredCapacity": g.desired,
            "MaxSize": g.max,
            "Instances": live + dying,
            "Tags": [{"Key": k, "Value": v} for k, v in g.tags.items()],
        }

    def describe_auto_scaling_groups(self, AutoScalingGroupNames: list[str]) -> dict[str, Any]:
        return {
            "AutoScalingGroups": [
                self._shape(self.groups[n]) for n in AutoScalingGroupNames if n in self.groups
            ]
        }

    def get_paginator(self, _name: str) -> _Pages:
        return _Pages([{"AutoScalingGroups": [self._shape(g) for g in self.groups.values()]}])

    def update_auto_scaling_group(self, **kw: Any) -> None:
        self.updates.append(kw)
        g = self.groups[kw["AutoScalingGroupName"]]
        g.min, g.desired, g.max = kw["MinSize"], kw["DesiredCapacity"], kw["MaxSize"]

    def create_or_update_tags(self, Tags: list[dict[str, Any]]) -> None:
        for t in Tags:
            self.groups[t["ResourceId"]].tags[t["Key"]] = t["Value"]

    def delete_tags(self, Tags: list[dict[str, Any]]) -> None:
        for t in Tags:
            self.groups[t["ResourceId"]].tags.pop(t["Key"], None)


class FakeEks:
    """EKS managed node groups; like EKS, it rejects maxSize < 1 and desired outside [min, max],
    and (optionally) follows a scaling change through to the group's ASG at once."""

    def __init__(self, autoscaling: FakeAutoscaling, *, follow: bool = True) -> None:
        self.autoscaling = autoscaling
        self.follow = follow
        self.nodegroups: dict[str, FakeNodegroup] = {}
        self.updates: list[dict[str, Any]] = []
        self.busy = 0

    def add(self, cluster: str, name: str, sizes: tuple[int, int, int]) -> None:
        asg = f"eks-{name}-uuid"
        self.nodegroups[name] = FakeNodegroup(cluster, name, *sizes, asg=asg)
        self.autoscaling.groups[asg] = FakeAsg(asg, *sizes, tags={"eks:nodegroup-name": name})

    def get_paginator(self, name: str) -> Any:
        if name == "list_clusters":
            return _Pages([{"clusters": sorted({n.cluster for n in self.nodegroups.values()})}])

        class _ByCluster:
            def paginate(inner, clusterName: str) -> list[dict[str, Any]]:
                return [
                    {"nodegroups": [n.name for n in self.nodegroups.values() if n.cluster == clusterName]}
                ]

        return _ByCluster()

    def describe_nodegroup(self, clusterName: str, nodegroupName: str) -> dict[str, Any]:
        ng = self.nodegroups[nodegroupName]
        return {
            "nodegroup": {
                "nodegroupArn": f"arn:aws:eks:us-east-1:1:nodegroup/{clusterName}/{nodegroupName}/u",
                "scalingConfig": {"minSize": ng.min, "desiredSize": ng.desired, "maxSize": ng.max},
                "resources": {"autoScalingGroups": [{"name": ng.asg}]},
                "tags": dict(ng.tags),
            }
        }

    def update_nodegroup_config(
        self, clusterName: str, nodegroupName: str, scalingConfig: dict[str, int]
    ) -> None:
        if self.busy:
            self.busy -= 1
            raise client_error("ResourceInUseException", "an update is in progress")
        low, desired, high = scalingConfig["minSize"], scalingConfig["desiredSize"], scalingConfig["maxSize"]
        if high < 1:
            raise client_error("InvalidParameterException", "maxSize must be at least 1")
        if not low <= desired <= high:
            raise client_error("InvalidParameterException", "desiredSize must be between minSize and maxSize")
        self.updates.append(scalingConfig)
        ng = self.nodegroups[nodegroupName]
        ng.min, ng.desired, ng.max = low, desired, high
        if self.follow:
            asg = self.autoscaling.groups[ng.asg]
            asg.min, asg.desired, asg.max = low, desired, high

    def _by_arn(self, arn: str) -> FakeNodegroup:
        return self.nodegroups[arn.split("/")[2]]

    def tag_resource(self, resourceArn: str, tags: dict[str, str]) -> None:
        self._by_arn(resourceArn).tags.update(tags)

    def untag_resource(self, resourceArn: str, tagKeys: list[str]) -> None:
        for k in tagKeys:
            self._by_arn(resourceArn).tags.pop(k, None)


@pytest.fixture
def aws() -> tuple[FakeEks, FakeAutoscaling]:
    autoscaling = FakeAutoscaling()
    eks = FakeEks(autoscaling)
    eks.add("openflow-k1", "k1-sm-group", (0, 1, 50))
    eks.add("openflow-k1", "k1-md-group", (0, 0, 50))
    eks.add("openflow-k2", "k2-sm-group", (0, 1, 50))  # another deployment: never touched
    return eks, autoscaling


def check(eks: Any, autoscaling: Any, state: ComputeCheck, **kw: Any) -> ComputeCheck:
    args: dict[str, Any] = {
        "key": "k1",
        "size": "SMALL",
        "grace_checks": 2,
        "max_checks": 6,
        "may_force": True,
    }
    args.update(kw)
    return check_compute(eks, autoscaling, state=state, **args)


# --- the EKS max-size rule -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("before", "after"), [((0, 1, 50), (0, 0, 50)), ((2, 3, 3), (0, 0, 3)), ((0, 0, 0), (0, 0, 1))]
)
def test_a_stopped_group_is_min_0_desired_0_and_never_max_0(
    before: tuple[int, int, int], after: tuple[int, int, int]
) -> None:
    assert stopped_sizes(Sizes(*before)) == Sizes(*after)


def test_the_scale_down_sent_to_eks_keeps_max_size_at_least_1(aws: tuple[FakeEks, FakeAutoscaling]) -> None:
    eks, autoscaling = aws
    eks.nodegroups["k1-sm-group"].max = 1
    [group] = find_groups(eks, autoscaling, key="k1", size="SMALL")
    scale_to_zero(eks, autoscaling, group)
    assert eks.updates == [{"minSize": 0, "maxSize": 1, "desiredSize": 0}]


def test_node_groups_are_found_by_the_deployment_key_and_the_runtime_size(
    aws: tuple[FakeEks, FakeAutoscaling],
) -> None:
    eks, autoscaling = aws
    assert nodegroup_names("k1") == ["k1-sm-group", "k1-md-group", "k1-lg-group"]
    groups = find_groups(eks, autoscaling, key="k1", size="SMALL")
    assert [(g.kind, g.cluster, g.name, g.desired, g.instances) for g in groups] == [
        ("eks", "openflow-k1", "k1-sm-group", 1, 1)
    ]
    assert [g.name for g in find_groups(eks, autoscaling, key="k1")] == ["k1-md-group", "k1-sm-group"]


# --- stop: verify, then scale, remembering the sizes ---------------------------------------------
def test_compute_scaled_down_by_openflow_is_accepted_without_scaling_it(
    aws: tuple[FakeEks, FakeAutoscaling],
) -> None:
    eks, autoscaling = aws
    ng = eks.nodegroups["k1-sm-group"]
    ng.desired = autoscaling.groups[ng.asg].desired = 0
    result = check(eks, autoscaling, ComputeCheck())
    assert result.done and not result.forced and eks.updates == []
    assert "scaled down by Openflow" in result.notes[-1]


def test_compute_still_up_after_the_grace_checks_is_scaled_down_and_its_sizes_remembered(
    aws: tuple[FakeEks, FakeAutoscaling],
) -> None:
    eks, autoscaling = aws
    state = ComputeCheck()
    for _ in range(2):  # the grace period: waiting for Openflow to scale it
        state = check(eks, autoscaling, state)
        assert not state.done and not state.forced
    state = check(eks, autoscaling, state)
    assert state.forced and not state.done
    assert eks.nodegroups["k1-sm-group"].tags[REMEMBER_TAG] == "min=0/desired=1/max=50"
    assert eks.updates == [{"minSize": 0, "maxSize": 50, "desiredSize": 0}]
    state = check(eks, autoscaling, state)
    assert state.done and "scaled down here" in state.notes[-1]
    assert [a.kind for a in state.actions] == ["remember_size", "scale_to_zero"]
    assert eks.nodegroups["k2-sm-group"].desired == 1  # the other deployment's group is untouched


def test_gen1_scales_at_once(aws: tuple[FakeEks, FakeAutoscaling]) -> None:
    eks, autoscaling = aws
    state = check(eks, autoscaling, ComputeCheck(), grace_checks=0)
    assert state.forced and eks.nodegroups["k1-sm-group"].desired == 0


def test_instances_still_terminating_are_not_counted_as_running(aws: tuple[FakeEks, FakeAutoscaling]) -> None:
    eks, autoscaling = aws
    ng = eks.nodegroups["k1-sm-group"]
    ng.desired = autoscaling.groups[ng.asg].desired = 0
    autoscaling.groups[ng.asg].terminating = 1
    assert check(eks, autoscaling, ComputeCheck()).done


def test_compute_that_comes_back_exhausts_the_budget_naming_the_group() -> None:
    autoscaling = FakeAutoscaling()
    eks = FakeEks(autoscaling, follow=False)  # the ASG keeps its instance (something scales it back)
    eks.add("c", "k1-sm-group", (0, 1, 50))
    state = ComputeCheck()
    with pytest.raises(BudgetExhausted, match="k1-sm-group") as err:
        for _ in range(10):
            state = check(eks, autoscaling, state)
    assert state.attempt == 5 and "Karpenter" in str(err.value)


def test_a_group_shared_with_another_running_runtime_is_not_scaled(
    aws: tuple[FakeEks, FakeAutoscaling],
) -> None:
    eks, autoscaling = aws
    state = check(eks, autoscaling, ComputeCheck(), may_force=False, shared_with=["OPENFLOW.OPENFLOW.OTHER"])
    assert state.done and eks.updates == []
    assert "OPENFLOW.OPENFLOW.OTHER" in state.notes[-1]


def test_an_update_in_progress_is_retried_and_an_invalid_one_is_not(
    aws: tuple[FakeEks, FakeAutoscaling],
) -> None:
    eks, autoscaling = aws
    [group] = find_groups(eks, autoscaling, key="k1", size="SMALL")
    eks.busy = 1
    with pytest.raises(NotReadyYet):
        scale_to_zero(eks, autoscaling, group)
    eks.nodegroups["k1-sm-group"].min = 0
    bad = group.model_copy(update={"max": 0, "desired": 0, "min": 0, "remembered": "x"})

    def reject(**_kw: Any) -> None:
        raise client_error("InvalidParameterException", "maxSize must be at least 1")

    eks.update_nodegroup_config = reject  # type: ignore[method-assign]
    with pytest.raises(PreconditionFailed):
        scale_to_zero(eks, autoscaling, bad.model_copy(update={"desired": 1}))


# --- idempotency and start -------------------------------------------------------------------------
def test_a_second_stop_keeps_the_remembered_sizes(aws: tuple[FakeEks, FakeAutoscaling]) -> None:
    eks, autoscaling = aws
    check(eks, autoscaling, ComputeCheck(), grace_checks=0)
    second = check(eks, autoscaling, ComputeCheck(), grace_checks=0)
    assert second.done and not second.actions
    assert eks.nodegroups["k1-sm-group"].tags[REMEMBER_TAG] == "min=0/desired=1/max=50"
    assert len(eks.updates) == 1


def test_the_start_restores_the_remembered_sizes_and_forgets_them(
    aws: tuple[FakeEks, FakeAutoscaling],
) -> None:
    eks, autoscaling = aws
    eks.nodegroups["k1-sm-group"].min = 1
    autoscaling.groups[eks.nodegroups["k1-sm-group"].asg].min = 1
    check(eks, autoscaling, ComputeCheck(), grace_checks=0)
    assert (eks.nodegroups["k1-sm-group"].min, eks.nodegroups["k1-sm-group"].desired) == (0, 0)
    [group] = find_groups(eks, autoscaling, key="k1", size="SMALL")
    actions, notes = restore(eks, autoscaling, group)
    ng = eks.nodegroups["k1-sm-group"]
    assert (ng.min, ng.desired, ng.max) == (1, 1, 50) and REMEMBER_TAG not in ng.tags
    assert [a.kind for a in actions] == ["restore_size", "forget_size"] and notes == []
    [again] = find_groups(eks, autoscaling, key="k1", size="SMALL")
    actions, notes = restore(eks, autoscaling, again)
    assert actions == [] and "no sizes remembered" in notes[0]


# --- the Auto Scaling fallback ----------------------------------------------------------------------
def test_without_eks_node_groups_the_tagged_auto_scaling_groups_are_used() -> None:
    autoscaling = FakeAutoscaling()
    eks = FakeEks(autoscaling)  # no clusters visible
    autoscaling.groups["nodes-a"] = FakeAsg("nodes-a", 1, 2, 4, tags={"eks:nodegroup-name": "k1-sm-group"})
    autoscaling.groups["other"] = FakeAsg("other", 1, 1, 1, tags={"eks:nodegroup-name": "k9-sm-group"})
    state = check(eks, autoscaling, ComputeCheck(), grace_checks=0)
    assert state.forced
    assert autoscaling.updates == [
        {"AutoScalingGroupName": "nodes-a", "MinSize": 0, "MaxSize": 4, "DesiredCapacity": 0}
    ]
    assert autoscaling.groups["nodes-a"].tags[REMEMBER_TAG] == "min=1/desired=2/max=4"
    assert check(eks, autoscaling, state, grace_checks=0).done
    [group] = find_groups(eks, autoscaling, key="k1", size="SMALL")
    restore(eks, autoscaling, group)
    a = autoscaling.groups["nodes-a"]
    assert (a.min, a.desired, a.max) == (1, 2, 4) and REMEMBER_TAG not in a.tags
    assert autoscaling.groups["other"].desired == 1


def test_no_group_found_is_a_note_not_a_failure() -> None:
    autoscaling = FakeAutoscaling()
    state = check(FakeEks(autoscaling), autoscaling, ComputeCheck())
    assert state.done and "nothing to verify" in state.notes[0]


# --- deep sleep: every node group of the deployment's cluster ------------------------------------------
@pytest.fixture
def data_plane(aws: tuple[FakeEks, FakeAutoscaling]) -> tuple[FakeEks, FakeAutoscaling]:
    eks, autoscaling = aws
    eks.add("openflow-k1", "k1-management", (1, 1, 3))  # its name is not documented: found by cluster
    eks.add("openflow-k2", "k2-management", (1, 1, 3))  # another deployment's: never touched
    return eks, autoscaling


def test_the_data_plane_is_every_node_group_of_the_cluster_holding_the_runtime_groups(
    data_plane: tuple[FakeEks, FakeAutoscaling],
) -> None:
    names = [g.name for g in find_data_plane_groups(*data_plane, key="k1")]
    assert names == ["k1-management", "k1-md-group", "k1-sm-group"]


def test_deep_sleep_scales_every_group_at_once_remembers_them_and_then_sees_zero(
    data_plane: tuple[FakeEks, FakeAutoscaling],
) -> None:
    eks, autoscaling = data_plane
    first = check(eks, autoscaling, ComputeCheck(), size=None, grace_checks=0, data_plane=True)
    assert not first.done and first.forced
    assert {a.target for a in first.actions if a.kind == "scale_to_zero"} == {"k1-management", "k1-sm-group"}
    assert eks.nodegroups["k1-management"].tags[REMEMBER_TAG] == "min=1/desired=1/max=3"
    second = check(eks, autoscaling, first, size=None, grace_checks=0, data_plane=True)
    assert second.done and "compute is gone" in second.notes[-1]
    assert (eks.nodegroups["k2-management"].desired, eks.nodegroups["k2-sm-group"].desired) == (1, 1)


def test_a_management_group_scaled_back_by_a_running_agent_exhausts_the_budget() -> None:
    autoscaling = FakeAutoscaling()
    eks = FakeEks(autoscaling)
    eks.add("openflow-k1", "k1-sm-group", (0, 0, 50))
    eks.add("openflow-k1", "k1-management", (1, 1, 3))
    state = ComputeCheck()
    with pytest.raises(BudgetExhausted, match="k1-management"):
        for _ in range(6):
            state = check(eks, autoscaling, state, size=None, grace_checks=0, data_plane=True)
            ng = eks.nodegroups["k1-management"]  # the agent's apply puts it back each cycle
            ng.min = ng.desired = autoscaling.groups[ng.asg].desired = autoscaling.groups[ng.asg].min = 1


def test_the_wake_restores_every_remembered_group_of_the_data_plane(
    data_plane: tuple[FakeEks, FakeAutoscaling],
) -> None:
    eks, autoscaling = data_plane
    state = check(eks, autoscaling, ComputeCheck(), size=None, grace_checks=0, data_plane=True)
    check(eks, autoscaling, state, size=None, grace_checks=0, data_plane=True)
    for group in find_data_plane_groups(eks, autoscaling, key="k1"):
        restore(eks, autoscaling, group)
    sizes = {n: (g.min, g.desired, g.max) for n, g in eks.nodegroups.items()}
    assert sizes["k1-management"] == (1, 1, 3) and sizes["k1-sm-group"] == (0, 1, 50)
    assert REMEMBER_TAG not in eks.nodegroups["k1-management"].tags
