"""The stop's compute check, one poll at a time: has the runtime's compute (deep sleep: every node
group of the deployment) gone, scaling what Openflow did not scale itself, within a budget. The
node groups themselves (finding, scaling, remembering sizes) are in power/nodegroups.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from openflow_autopilot.core.results import Action
from openflow_autopilot.errors import BudgetExhausted

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_eks import EKSClient
from openflow_autopilot.power.nodegroups import (
    find_data_plane_groups,
    find_groups,
    nodegroup_names,
    scale_to_zero,
)


class ComputeCheck(BaseModel):
    """One poll of the stop's compute check, carried by the state machine between polls."""

    attempt: int = 0
    done: bool = False
    forced: bool = False
    groups: list[str] = []
    actions: list[Action] = []
    notes: list[str] = []


def check_compute(
    eks: EKSClient,
    autoscaling: AutoScalingClient,
    *,
    key: str,
    size: str | None,
    state: ComputeCheck,
    grace_checks: int,
    max_checks: int,
    may_force: bool,
    shared_with: list[str] | None = None,
    data_plane: bool = False,
) -> ComputeCheck:
    """Has the runtime's compute gone (with `data_plane`: every node group of the deployment)?
    After `grace_checks` polls (0: at once, as for gen 1 and the data plane, where nothing scales
    it by itself) the groups still up are scaled down; after `max_checks` polls with compute left,
    BudgetExhausted names the groups."""
    attempt = state.attempt + 1
    if data_plane:
        groups = find_data_plane_groups(eks, autoscaling, key=key)
    else:
        groups = find_groups(eks, autoscaling, key=key, size=size)
    actions, notes = list(state.actions), list(state.notes)
    described = [g.describe() for g in groups]
    if not groups:
        wanted = ", ".join(nodegroup_names(key, size))
        return ComputeCheck(
            attempt=attempt,
            done=True,
            forced=state.forced,
            actions=actions,
            notes=[
                *notes,
                f"no EKS node group or Auto Scaling group named {wanted} was found: nothing to verify",
            ],
        )
    left = [g for g in groups if not g.gone]
    if not left:
        how = "scaled down here" if state.forced else "scaled down by Openflow"
        return ComputeCheck(
            attempt=attempt,
            done=True,
            forced=state.forced,
            groups=described,
            actions=actions,
            notes=[*notes, f"compute is gone ({how}): " + "; ".join(described)],
        )
    if not may_force:
        who = ", ".join(shared_with or []) or "another runtime"
        return ComputeCheck(
            attempt=attempt,
            done=True,
            groups=described,
            actions=actions,
            notes=[
                *notes,
                f"not scaled down: {who} of the same size still runs on it: "
                + "; ".join(g.describe() for g in left),
            ],
        )
    forced = state.forced
    if not forced and attempt > grace_checks:
        for group in left:
            done_actions, done_notes = scale_to_zero(eks, autoscaling, group)
            actions += done_actions
            notes += done_notes
        forced = True
        waited = (
            f"still running after {attempt - 1} check(s)" if attempt > 1 else "nothing scales it by itself"
        )
        notes.append(f"{waited}, so scaled down here: " + "; ".join(g.describe() for g in left))
    elif attempt >= max_checks:
        raise BudgetExhausted(
            f"the runtime's compute did not go away within {attempt} checks: "
            + "; ".join(g.describe() for g in left),
            fix="something scales it back (Karpenter or a cluster autoscaler, or the agent's "
            "openflow-apply-infrastructure timer): look at the group's activity history, then stop again",
        )
    return ComputeCheck(
        attempt=attempt, done=False, forced=forced, groups=described, actions=actions, notes=notes
    )
