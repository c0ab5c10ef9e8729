"""Gen 1 connector, step 2: the parameters the connector's flow should have (`Desired`, from the one table
in `connector_parameters.py`) and `ParameterSteps`, which reads the process group's parameter context and
those it inherits from, sets each changed parameter in the context that defines it through one update
request per context (polled to completion, then deleted), and checks the JDBC driver asset. A sensitive
parameter's description records the version of the secret it holds, since NiFi never returns its value.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from nipyapi.nifi import (
    ParameterContextDTO,
    ParameterContextEntity,
    ParameterDTO,
    ParameterEntity,
    RevisionDTO,
)

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.results import Action
from openflow_autopilot.errors import AutopilotError, NotReadyYet, PreconditionFailed
from openflow_autopilot.openflow.connector_parameters import AUTH_KEY_PAIR, BY_KEY, P, gen1_name
from openflow_autopilot.openflow.endpoints import DestinationInfo, SourceEndpoint
from openflow_autopilot.openflow.nifi_session import NifiSession

SENSITIVE = "<sensitive>"  # what actions and notes show instead of a sensitive value
MANAGED = "managed by openflow-autopilot"
CLIENT_ID = "openflow-autopilot"  # NiFi's revision client id: who made a change


@dataclass(frozen=True)
class Desired:
    """One parameter as the connector should have it."""

    key: P
    value: str = field(repr=False)
    version: str | None = None  # sensitive ones: which version of the secret the value is

    @property
    def name(self) -> str:
        return gen1_name(self.key)

    @property
    def sensitive(self) -> bool:
        return BY_KEY[self.key].kind == "secret"

    @property
    def description(self) -> str:
        return f"{MANAGED}; {self.version}" if self.version else MANAGED

    def shown(self, sensitive: bool) -> str:
        return SENSITIVE if sensitive or self.sensitive else self.value


def desired_parameters(
    request: ProvisionRequest, source: SourceEndpoint, destination: DestinationInfo
) -> list[Desired]:
    """The gen 1 canvas parameters, the same values `gen1_connector_instructions` lists for a human."""
    key_version = f"key {destination.key_fingerprint}" if destination.key_fingerprint else None
    values = [
        Desired(P.CONNECTION_URL, source.jdbc_url()),
        Desired(P.SOURCE_USER, source.user),
        Desired(
            P.SOURCE_PASSWORD,
            source.password,
            f"secret version {source.password_version}" if source.password_version else None,
        ),
        Desired(P.PUBLICATION, source.publication),
        Desired(P.REPLICATION_SLOT, source.slot_name),
        Desired(P.INCLUDED_TABLES, source.table_list()),
        Desired(P.DESTINATION_DATABASE, destination.database),
        Desired(P.AUTH_STRATEGY, AUTH_KEY_PAIR),
        Desired(P.ACCOUNT_IDENTIFIER, request.snowflake.account),
        Desired(P.SNOWFLAKE_USER, destination.user),
        Desired(P.PRIVATE_KEY, destination.private_key_pem, key_version),
        Desired(P.ROLE, destination.role),
        Desired(P.WAREHOUSE, destination.warehouse),
    ]
    if destination.private_key_passphrase:
        values.append(Desired(P.PRIVATE_KEY_PASSWORD, destination.private_key_passphrase, key_version))
    return values


@dataclass
class _Context:
    entity: Any  # ParameterContextEntity

    @property
    def id(self) -> str:
        return str(self.entity.id)

    @property
    def name(self) -> str:
        component = self.entity.component
        return str(component.name) if component is not None and component.name else self.id

    def parameters(self) -> list[Any]:
        component = self.entity.component
        return [p.parameter for p in (component.parameters or []) if p.parameter is not None]


@contextmanager
def _cleanup_quietly_on_failure(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run `cleanup` after the block; when the block failed, its error wins over a cleanup error."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(AutopilotError):  # the block's own error is the one to report
            cleanup()
        raise
    cleanup()


class ParameterSteps:
    """Step 2 of the gen 1 connector (its parameters), with the state every step shares: the NiFi session,
    how to poll, and the actions and notes recorded. `nifi._Gen1Connector` adds steps 1, 3 and 4."""

    def __init__(
        self,
        session: NifiSession,
        *,
        poll_seconds: float,
        max_wait_seconds: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.nifi = session
        self.poll_seconds, self.max_wait_seconds, self.sleep = poll_seconds, max_wait_seconds, sleep
        self.actions: list[Action] = []
        self.notes: list[str] = []

    # -- 2. the parameters -------------------------------------------------------------------------
    def contexts(self, group: Any) -> list[_Context]:
        """The group's parameter context, then those it inherits from, in NiFi's precedence order."""
        ref = group.component.parameter_context if group.component is not None else None
        if ref is None or not ref.id:
            raise PreconditionFailed(
                f"process group {group_name(group)} ({group.id}) has no parameter context",
                fix="re-add the PostgreSQL connector from the Openflow UI (its group comes with one)",
            )
        ordered: list[_Context] = []
        seen: set[str] = set()

        def visit(context_id: str) -> None:
            if context_id in seen:
                return
            seen.add(context_id)
            context = _Context(
                self.nifi.call(
                    f"GET /parameter-contexts/{context_id}",
                    self.nifi.contexts.get_parameter_context,
                    context_id,
                )
            )
            ordered.append(context)
            for inherited in context.entity.component.inherited_parameter_contexts or []:
                visit(str(inherited.id))

        visit(str(ref.id))
        return ordered

    def set_parameters(self, contexts: list[_Context], desired: list[Desired]) -> list[str]:
        owners: dict[str, tuple[_Context, Any]] = {}
        for context in contexts:
            for parameter in context.parameters():
                owners.setdefault(str(parameter.name), (context, parameter))
        changes: dict[str, list[Any]] = {}
        changed_names: list[str] = []
        for want in desired:
            context, existing = owners.get(want.name, (contexts[0], None))
            entity = self._change(context, existing, want)
            if entity is None:
                continue
            changes.setdefault(context.id, []).append(entity)
            changed_names.append(want.name)
        for context in contexts:
            if context.id in changes:
                self._update(context, changes[context.id])
        return changed_names

    def _change(self, context: _Context, existing: Any, want: Desired) -> Any:
        """The ParameterEntity to send, or None when the parameter already holds the value."""
        sensitive = want.sensitive
        if existing is not None:
            if want.sensitive and not existing.sensitive:
                raise PreconditionFailed(
                    f"parameter '{want.name}' in parameter context {context.name} is not sensitive, and it "
                    "is to hold a secret",
                    fix=f"delete '{want.name}' from the context on the canvas (this run adds it back as "
                    "sensitive), then redrive",
                )
            sensitive = bool(existing.sensitive)
            if sensitive:
                if existing.value is not None and str(existing.description or "") == want.description:
                    return None  # set before, from this version of the secret
            elif existing.value == want.value:
                return None
        description = want.description if sensitive else (existing.description if existing else MANAGED)
        self.actions.append(
            Action(
                kind="set_nifi_parameter",
                target=f"{context.name}: {want.name}",
                statement=f"{want.name} = {want.shown(sensitive)}",
            )
        )
        return ParameterEntity(
            parameter=ParameterDTO(
                name=want.name, value=want.value, sensitive=sensitive, description=description
            )
        )

    def _update(self, context: _Context, parameters: list[Any]) -> None:
        """One parameter-context update request, polled to completion, then deleted."""
        component = context.entity.component
        body = ParameterContextEntity(
            id=context.id,
            revision=RevisionDTO(version=context.entity.revision.version, client_id=CLIENT_ID),
            component=ParameterContextDTO(
                id=context.id,
                name=component.name,
                parameters=parameters,
                inherited_parameter_contexts=component.inherited_parameter_contexts,
            ),
        )
        path = f"/parameter-contexts/{context.id}/update-requests"
        submitted = self.nifi.call(
            f"POST {path}", self.nifi.contexts.submit_parameter_context_update, body, context.id
        )
        request_id = str(submitted.request.request_id)

        def delete() -> None:
            self.nifi.call(
                f"DELETE {path}/{request_id}",
                self.nifi.contexts.delete_update_request,
                context.id,
                request_id,
            )

        with _cleanup_quietly_on_failure(delete):
            state = submitted.request
            deadline = time.monotonic() + self.max_wait_seconds
            while not state.complete:
                if time.monotonic() > deadline:
                    raise NotReadyYet(
                        f"the update of parameter context {context.name} did not finish within "
                        f"{self.max_wait_seconds:.0f} s (last step: {state.state})",
                        call=f"NiFi GET {path}/{request_id}",
                    )
                self.sleep(self.poll_seconds)
                state = self.nifi.call(
                    f"GET {path}/{request_id}",
                    self.nifi.contexts.get_parameter_context_update,
                    context.id,
                    request_id,
                ).request
            if state.failure_reason:
                raise PreconditionFailed(
                    self.nifi.scrub(
                        f"NiFi could not update parameter context {context.name}: {state.failure_reason}"
                    ),
                    call=f"NiFi POST {path}",
                    fix="look at the connector's process group on the canvas, then redrive",
                )

    def check_driver(self, contexts: list[_Context]) -> None:
        """The JDBC driver is an uploaded asset, not a value this phase can set."""
        name = gen1_name(P.JDBC_DRIVER)
        found = [(c, p) for c in contexts for p in c.parameters() if p.name == name]
        if not found:
            self.notes.append(
                f"no parameter '{name}' in the connector's contexts: the driver was not checked"
            )
            return
        context, parameter = found[0]
        if parameter.value is None and not (parameter.referenced_assets or []):
            raise PreconditionFailed(
                f"parameter '{name}' in parameter context {context.name} has no JDBC driver asset",
                fix=f"upload the PostgreSQL JDBC driver jar (https://jdbc.postgresql.org) as the asset of "
                f"'{name}' on the canvas, then redrive (the other parameters are already set)",
            )


def group_name(group: Any) -> str:
    component = getattr(group, "component", None)
    return str(component.name) if component is not None and component.name else str(group.id)
