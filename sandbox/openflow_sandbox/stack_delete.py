"""DeleteStack for the deployment's stack in moto.

moto's CloudFormation deletes a stack's resources in passes, but it has no delete for route
tables (nor does it detach internet gateways or release NAT gateways), so a stack with its own VPC,
as the Openflow BYOC template has, fails with "The vpc ... has dependencies" - and moto has already
forgotten the stack by then. Real CloudFormation deletes those resources. This patch does what it
would: when a delete pass is blocked by a VPC the stack created, the stack's other route tables in
that VPC are removed, its internet gateways detached and NAT gateways released, and the pass runs
again. Nothing changes for stacks whose delete moto completes on its own.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.cloudformation.parsing import ResourceMap
from moto.ec2.exceptions import DependencyViolationError
from moto.ec2.models import ec2_backends
from moto.ec2.models.vpcs import VPC

_lock = threading.Lock()
_original_delete = ResourceMap.delete


def _release_vpcs(resources: ResourceMap) -> None:
    backend: Any = ec2_backends[resources._account_id][resources._region_name]
    vpc_ids = {r.id for r in resources._parsed_resources.values() if isinstance(r, VPC)}
    for vpc_id in vpc_ids:
        for table in list(backend.route_tables.values()):
            if table.vpc_id == vpc_id and table.main_association_id is None:
                table._associations.clear()
                backend.route_tables.pop(table.id, None)
        for gateway in list(backend.internet_gateways.values()):
            if gateway.vpc is not None and gateway.vpc.id == vpc_id:
                backend.detach_internet_gateway(gateway.id, vpc_id)
        for nat in list(backend.nat_gateways.values()):
            if nat.vpc_id == vpc_id:
                backend.delete_nat_gateway(nat.id)


def _delete(self: ResourceMap) -> None:
    try:
        _original_delete(self)
    except DependencyViolationError:
        _release_vpcs(self)
        _original_delete(self)  # resources deleted in the first run are skipped


def install() -> None:
    with _lock:
        ResourceMap.delete = _delete  # type: ignore[method-assign]
