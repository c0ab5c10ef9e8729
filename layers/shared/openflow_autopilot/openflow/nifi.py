"""Gen 1: configure the PostgreSQL CDC connector's flow over the runtime's NiFi REST API (nipyapi 1.x).

Used when the request names the runtime's NiFi API (`runtime.nifi_url`) and a Secrets Manager secret
whose JSON field `token` is a Snowflake programmatic access token (`runtime.nifi_token_secret_arn`);
without them the AwaitConnector step asks a human to do the same on the canvas
(`phases/connector_gen1.py: gen1_connector_instructions`).

UNCERTAIN (openflow-reference.md, "Gen 1 NiFi access"): that a BYOC runtime's NiFi API is reachable
behind the runtime URL with a programmatic access token as bearer. Nothing here assumes it silently:
the path runs only when the request opts in, and a refused token or a wrong URL fails with the fix.

As "ensure":
1. find the connector's process group: the request's `nifi_process_group_id`, or the one group under
   the root whose name contains "PostgreSQL";
2. read its parameter context and the contexts it inherits from; each parameter (names from the one
   table, `connector_parameters.py`) is set in the context that defines it (one nobody defines goes
   to the group's own context), through one update request per changed context, polled to completion
   and then deleted; an unchanged parameter is not sent;
3. enable the group's controller services unless they all are;
4. start the group (schedule RUNNING) unless it runs.

Sensitive parameters hold values pasted from Secrets Manager (the source password, the service user's
private key and its passphrase). NiFi never returns them, so each one's description records the
version of what it holds (the password secret's VersionId, the key's public fingerprint): a re-run
compares that. Secret values never reach a log, an action, a note, an output or an error message.

Steps 1, 3 and 4 run here; step 2 is in `nifi_parameters.py`, the NiFi access and calls (and the scrubbing
of secret values) in `nifi_session.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nipyapi.nifi import ActivateControllerServicesEntity, ScheduleComponentsEntity

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import NotReadyYet, PreconditionFailed
from openflow_autopilot.openflow.endpoints import DestinationInfo, SourceEndpoint
from openflow_autopilot.openflow.nifi_parameters import ParameterSteps, desired_parameters, group_name
from openflow_autopilot.openflow.nifi_session import NifiAccess, NifiSession, Scrubber

PHASE = "Gen1Connector"
GROUP_NAME_HINT = "postgresql"  # the connector's group is found by a name containing this


class _Gen1Connector(ParameterSteps):
    # -- 1. the process group ----------------------------------------------------------------------
    def find_group(self, group_id: str | None) -> Any:
        url = self.nifi.access.url
        if group_id:
            return self.nifi.call(
                f"GET /process-groups/{group_id}",
                self.nifi.groups.get_process_group,
                group_id,
                not_found=PreconditionFailed(
                    f"the runtime's NiFi at {url} has no process group {group_id}",
                    call=f"NiFi GET /process-groups/{group_id}",
                    fix="set runtime.nifi_process_group_id to the connector's group (the UUID in the "
                    "group's Configuration dialog), or remove it to find the group by name",
                ),
            )
        children = self.nifi.call(
            "GET /process-groups/root/process-groups", self.nifi.groups.get_process_groups, "root"
        )
        groups = [g for g in (children.process_groups or []) if GROUP_NAME_HINT in group_name(g).lower()]
        if not groups:
            raise PreconditionFailed(
                f"the runtime's NiFi at {url} has no process group named like 'PostgreSQL' under its root",
                call="NiFi GET /process-groups/root/process-groups",
                fix="add the PostgreSQL connector to the runtime in the Openflow UI, or set "
                "runtime.nifi_process_group_id to its process group",
            )
        if len(groups) > 1:
            listed = ", ".join(f"{group_name(g)} ({g.id})" for g in groups)
            raise PreconditionFailed(
                f"several process groups on {url} are named like 'PostgreSQL': {listed}",
                fix="set runtime.nifi_process_group_id to the one this request configures",
            )
        return groups[0]

    # -- 3. controller services ----------------------------------------------------------------------
    def _services(self, group_id: str) -> list[Any]:
        found = self.nifi.call(
            f"GET /flow/process-groups/{group_id}/controller-services",
            self.nifi.flow.get_controller_services_from_group,
            group_id,
            include_ancestor_groups=False,
            include_descendant_groups=True,
        )
        return list(found.controller_services or [])

    def enable_services(self, group: Any) -> None:
        group_id = str(group.id)
        disabled = [s for s in self._services(group_id) if _service_state(s) != "ENABLED"]
        if not disabled:
            return
        path = f"/flow/process-groups/{group_id}/controller-services"
        self.nifi.call(
            f"PUT {path}",
            self.nifi.flow.activate_controller_services,
            ActivateControllerServicesEntity(
                id=group_id, state="ENABLED", disconnected_node_acknowledged=False
            ),
            group_id,
        )
        names = ", ".join(sorted(_service_name(s) for s in disabled))
        self.actions.append(
            Action(
                kind="enable_controller_services",
                target=group_name(group),
                statement=f"PUT {path} ENABLED ({names})",
            )
        )
        deadline = time.monotonic() + self.max_wait_seconds
        while True:
            pending = [s for s in self._services(group_id) if _service_state(s) != "ENABLED"]
            if not pending or not any(_service_state(s) == "ENABLING" for s in pending):
                break
            if time.monotonic() > deadline:
                raise NotReadyYet(
                    f"controller services of {group_name(group)} still enabling: "
                    + ", ".join(_service_name(s) for s in pending),
                    call=f"NiFi GET {path}",
                )
            self.sleep(self.poll_seconds)
        if pending:
            listed = "; ".join(
                f"{_service_name(s)} ({_service_state(s)}: {_validation_errors(s)})" for s in pending
            )
            raise PreconditionFailed(
                self.nifi.scrub(f"controller services of {group_name(group)} could not be enabled: {listed}"),
                call=f"NiFi PUT {path}",
                fix="correct what the validation errors name (often a parameter), then redrive",
            )

    # -- 4. start ----------------------------------------------------------------------------------
    def start(self, group: Any) -> str:
        group_id = str(group.id)
        current = self._group(group_id)
        if _running(current):
            return "RUNNING"
        path = f"/flow/process-groups/{group_id}"
        self.nifi.call(
            f"PUT {path}",
            self.nifi.flow.schedule_components,
            ScheduleComponentsEntity(id=group_id, state="RUNNING", disconnected_node_acknowledged=False),
            group_id,
        )
        self.actions.append(
            Action(kind="start_nifi_flow", target=group_name(group), statement=f"PUT {path} RUNNING")
        )
        after = self._group(group_id)
        if not int(after.running_count or 0):
            raise PreconditionFailed(
                f"the flow in process group {group_name(group)} did not start: "
                f"{int(after.invalid_count or 0)} invalid and {int(after.stopped_count or 0)} stopped "
                "components",
                call=f"NiFi PUT {path}",
                fix="open the group on the canvas: an invalid processor names the parameter or service it "
                "lacks; redrive once it is fixed",
            )
        return "RUNNING"

    def _group(self, group_id: str) -> Any:
        return self.nifi.call(f"GET /process-groups/{group_id}", self.nifi.groups.get_process_group, group_id)


def _service_state(service: Any) -> str:
    return str(service.component.state) if service.component is not None else "UNKNOWN"


def _service_name(service: Any) -> str:
    return str(service.component.name) if service.component is not None else str(service.id)


def _validation_errors(service: Any) -> str:
    errors = (service.component.validation_errors if service.component is not None else None) or []
    return ", ".join(str(e) for e in errors) or "no reason given"


def _running(group: Any) -> bool:
    return int(group.running_count or 0) > 0 and not int(group.stopped_count or 0)


def configure_gen1_connector(
    request: ProvisionRequest,
    *,
    access: NifiAccess,
    source: SourceEndpoint,
    destination: DestinationInfo,
    api_client: Any = None,
    poll_seconds: float = 0.5,
    max_wait_seconds: float = 60,
    sleep: Callable[[float], None] = time.sleep,
) -> PhaseResult:
    """Set the gen 1 connector's parameters over NiFi REST, enable its services, start it."""
    started = utcnow()
    desired = desired_parameters(request, source, destination)
    scrub = Scrubber([access.token, *(d.value for d in desired if d.sensitive)])
    session = NifiSession(access, scrub, runtime=request.runtime.name, api_client=api_client)
    work = _Gen1Connector(session, poll_seconds=poll_seconds, max_wait_seconds=max_wait_seconds, sleep=sleep)

    group = work.find_group(request.runtime.nifi_process_group_id)
    contexts = work.contexts(group)
    changed = work.set_parameters(contexts, desired)
    work.check_driver(contexts)
    work.enable_services(group)
    status = work.start(group)
    if changed and not any(a.kind == "start_nifi_flow" for a in work.actions):
        work.notes.append(
            f"the flow in {group_name(group)} was running while its parameters changed; NiFi restarts the "
            "components that reference them"
        )
    return PhaseResult(
        phase=PHASE,
        status="changed" if work.actions else "unchanged",
        actions=work.actions,
        notes=work.notes,
        outputs={
            "nifi_url": access.url,
            "process_group": {"id": str(group.id), "name": group_name(group)},
            "parameter_contexts": [c.name for c in contexts],
            "parameters_set": changed,
            "status": status,
        },
        started_at=started,
        ended_at=utcnow(),
    )
