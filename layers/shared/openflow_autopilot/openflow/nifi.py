"""Gen 1: configure the PostgreSQL CDC connector's flow over the runtime's NiFi REST API (nipyapi 1.x).

Used when the request names the runtime's NiFi API (`runtime.nifi_url`) and a Secrets Manager secret
whose JSON field `token` is a Snowflake programmatic access token (`runtime.nifi_token_secret_arn`);
without them the AwaitConnector step asks a human to do the same on the canvas
(`phases/connector.py: gen1_connector_instructions`).

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
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import urllib3
from botocore.exceptions import ClientError
from nipyapi.nifi import (
    ActivateControllerServicesEntity,
    ApiClient,
    FlowApi,
    ParameterContextDTO,
    ParameterContextEntity,
    ParameterContextsApi,
    ParameterDTO,
    ParameterEntity,
    ProcessGroupsApi,
    RevisionDTO,
    ScheduleComponentsEntity,
)
from nipyapi.nifi.rest import ApiException

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.config import ProvisionRequest, RuntimeSettings
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import (
    AutopilotError,
    NotReadyYet,
    PermissionDenied,
    PreconditionFailed,
    SnowflakeRetryableError,
)
from openflow_autopilot.openflow.connector_parameters import AUTH_KEY_PAIR, BY_KEY, P, gen1_name
from openflow_autopilot.openflow.endpoints import DestinationInfo, SourceEndpoint

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

PHASE = "Gen1Connector"
SENSITIVE = "<sensitive>"  # what actions and notes show instead of a sensitive value
MANAGED = "managed by openflow-autopilot"
CLIENT_ID = "openflow-autopilot"  # NiFi's revision client id: who made a change
GROUP_NAME_HINT = "postgresql"  # the connector's group is found by a name containing this
TIMEOUT = (5, 30)  # (connect, read) seconds per NiFi call
_MASK_MIN = 8  # secret fragments shorter than this are not scrubbed on their own (too common)


@dataclass(frozen=True)
class NifiAccess:
    """Where the runtime's NiFi API is and the bearer token for it (held in memory only)."""

    url: str
    token: str = field(repr=False)
    token_secret_arn: str


def read_nifi_access(secrets: SecretsManagerClient, runtime: RuntimeSettings) -> NifiAccess:
    """The URL from the request and the token from the secret's JSON field `token`."""
    arn, url = runtime.nifi_token_secret_arn, runtime.nifi_url
    if not arn or not url:
        raise PreconditionFailed(
            "the request gives no runtime.nifi_url and runtime.nifi_token_secret_arn",
            fix="add both to configure the gen 1 connector over NiFi REST, or neither for the canvas step",
        )
    fix = (
        f'store {{"token": "<a Snowflake programmatic access token>"}} in secret {arn} '
        "(a token of a user whose role may operate the runtime), then redrive"
    )
    try:
        with aws_call("secretsmanager:GetSecretValue"):
            text = secrets.get_secret_value(SecretId=arn).get("SecretString") or ""
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise PreconditionFailed(f"the NiFi token secret {arn} does not exist", fix=fix) from None
        raise
    try:
        token = json.loads(text).get("token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token.strip():
        raise PreconditionFailed(f"secret {arn} has no JSON field 'token' with a token in it", fix=fix)
    return NifiAccess(url=url.rstrip("/"), token=token.strip(), token_secret_arn=arn)


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


class Scrubber:
    """Removes secret values (and the lines of a PEM) from any text that may leave this module."""

    def __init__(self, secrets: Sequence[str]) -> None:
        parts: set[str] = set()
        for value in secrets:
            if not value:
                continue
            parts.add(value)
            parts.update(line.strip() for line in value.splitlines() if len(line.strip()) >= _MASK_MIN)
        self._parts = sorted(parts, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for part in self._parts:
            text = text.replace(part, "***")
        return text


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


class NifiSession:
    """The NiFi calls this phase makes, with NiFi's failures mapped to the state machine's errors."""

    def __init__(self, access: NifiAccess, scrub: Scrubber, *, runtime: str, api_client: Any = None) -> None:
        self.access, self.scrub, self.runtime = access, scrub, runtime
        # The token goes in a default header of this client only: nipyapi's global configuration is
        # left alone, so nothing else in the process sends (or keeps) it.
        client = api_client or ApiClient(
            host=access.url, header_name="Authorization", header_value=f"Bearer {access.token}"
        )
        self.groups = ProcessGroupsApi(client)
        self.contexts = ParameterContextsApi(client)
        self.flow = FlowApi(client)

    def call(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        not_found: AutopilotError | None = None,
        **kwargs: Any,
    ) -> Any:
        try:
            return fn(*args, _request_timeout=TIMEOUT, **kwargs)
        except ApiException as exc:
            raise self._error(what, exc, not_found) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise SnowflakeRetryableError(
                self.scrub(
                    f"the runtime's NiFi at {self.access.url} did not answer {what}: {type(exc).__name__}"
                ),
                call=f"NiFi {what}",
                fix="check that the runtime is running and reachable from the function; the call is retried",
            ) from None

    def _error(self, what: str, exc: ApiException, not_found: AutopilotError | None) -> AutopilotError:
        status = int(exc.status or 0)
        body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body or "")
        detail = self.scrub(" ".join((body or str(exc.reason or "")).split())[:300])
        call = f"NiFi {what}"
        arn = self.access.token_secret_arn
        if status in (401, 403):
            return PermissionDenied(
                f"the runtime's NiFi at {self.access.url} refused the token from secret {arn} "
                f"(HTTP {status}{': ' + detail if detail else ''})",
                call=call,
                fix=f"put a current Snowflake programmatic access token (JSON field 'token') of a user whose "
                f"role may operate runtime {self.runtime} into secret {arn}, then redrive",
            )
        if status == 404:
            return not_found or PreconditionFailed(
                f"the runtime's NiFi at {self.access.url} has no such resource ({what}: HTTP 404)",
                call=call,
                fix="check runtime.nifi_url: the runtime's NiFi API, ending in /nifi-api",
            )
        if status == 429 or status >= 500:
            return SnowflakeRetryableError(
                f"the runtime's NiFi at {self.access.url} failed {what} (HTTP {status}: {detail})", call=call
            )
        if status == 0:
            return PreconditionFailed(
                f"the request to the runtime's NiFi at {self.access.url} failed before an answer ({detail})",
                call=call,
                fix="check runtime.nifi_url and that the runtime's certificate is valid",
            )
        return PreconditionFailed(
            f"the runtime's NiFi at {self.access.url} rejected {what} (HTTP {status}: {detail})",
            call=call,
            fix="look at the connector's process group on the canvas; redrive once it is fixed",
        )


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


class _Gen1Connector:
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
        groups = [g for g in (children.process_groups or []) if GROUP_NAME_HINT in _group_name(g).lower()]
        if not groups:
            raise PreconditionFailed(
                f"the runtime's NiFi at {url} has no process group named like 'PostgreSQL' under its root",
                call="NiFi GET /process-groups/root/process-groups",
                fix="add the PostgreSQL connector to the runtime in the Openflow UI, or set "
                "runtime.nifi_process_group_id to its process group",
            )
        if len(groups) > 1:
            listed = ", ".join(f"{_group_name(g)} ({g.id})" for g in groups)
            raise PreconditionFailed(
                f"several process groups on {url} are named like 'PostgreSQL': {listed}",
                fix="set runtime.nifi_process_group_id to the one this request configures",
            )
        return groups[0]

    # -- 2. the parameters -------------------------------------------------------------------------
    def contexts(self, group: Any) -> list[_Context]:
        """The group's parameter context, then those it inherits from, in NiFi's precedence order."""
        ref = group.component.parameter_context if group.component is not None else None
        if ref is None or not ref.id:
            raise PreconditionFailed(
                f"process group {_group_name(group)} ({group.id}) has no parameter context",
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
                target=_group_name(group),
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
                    f"controller services of {_group_name(group)} still enabling: "
                    + ", ".join(_service_name(s) for s in pending),
                    call=f"NiFi GET {path}",
                )
            self.sleep(self.poll_seconds)
        if pending:
            listed = "; ".join(
                f"{_service_name(s)} ({_service_state(s)}: {_validation_errors(s)})" for s in pending
            )
            raise PreconditionFailed(
                self.nifi.scrub(
                    f"controller services of {_group_name(group)} could not be enabled: {listed}"
                ),
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
            Action(kind="start_nifi_flow", target=_group_name(group), statement=f"PUT {path} RUNNING")
        )
        after = self._group(group_id)
        if not int(after.running_count or 0):
            raise PreconditionFailed(
                f"the flow in process group {_group_name(group)} did not start: "
                f"{int(after.invalid_count or 0)} invalid and {int(after.stopped_count or 0)} stopped "
                "components",
                call=f"NiFi PUT {path}",
                fix="open the group on the canvas: an invalid processor names the parameter or service it "
                "lacks; redrive once it is fixed",
            )
        return "RUNNING"

    def _group(self, group_id: str) -> Any:
        return self.nifi.call(f"GET /process-groups/{group_id}", self.nifi.groups.get_process_group, group_id)


def _group_name(group: Any) -> str:
    component = getattr(group, "component", None)
    return str(component.name) if component is not None and component.name else str(group.id)


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
            f"the flow in {_group_name(group)} was running while its parameters changed; NiFi restarts the "
            "components that reference them"
        )
    return PhaseResult(
        phase=PHASE,
        status="changed" if work.actions else "unchanged",
        actions=work.actions,
        notes=work.notes,
        outputs={
            "nifi_url": access.url,
            "process_group": {"id": str(group.id), "name": _group_name(group)},
            "parameter_contexts": [c.name for c in contexts],
            "parameters_set": changed,
            "status": status,
        },
        started_at=started,
        ended_at=utcnow(),
    )
