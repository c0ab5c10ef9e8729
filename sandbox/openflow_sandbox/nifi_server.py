"""A gen 1 runtime's NiFi REST API, emulated: only the endpoints `openflow/nifi.py` calls.

One process group "PostgreSQL CDC" under the root, as the Openflow UI leaves a freshly added gen 1
PostgreSQL connector: its parameter context "PostgreSQL Ingestion Parameters" inherits
"PostgreSQL Source Parameters" and "PostgreSQL Destination Parameters" (names from the one table,
connector_parameters.py), all values empty except the JDBC driver's uploaded asset; one controller
service, disabled; the processors stopped. NiFi's JSON shapes, revision checks (a stale revision is
409) and the asynchronous parameter-context update request (submitted, polled until complete,
deleted). Every call needs `Authorization: Bearer <token>` (401 otherwise). Sensitive values are
returned masked, as NiFi does.

When the group is started with every required parameter set and its services enabled, the flow is
registered in the sandbox's connector relay exactly as the human's canvas step does
(`relay.canvas_flows[name] = {gen 2 names -> values}`), so rows replicate.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from openflow_autopilot.openflow.connector_parameters import BY_KEY, P, gen1_keys, gen1_name

if TYPE_CHECKING:
    from openflow_sandbox.connector_relay import ConnectorRelay

MASK = "********"  # how NiFi shows a sensitive parameter that has a value
GROUP_NAME = "PostgreSQL CDC"
SOURCE_KEYS = (
    P.CONNECTION_URL,
    P.JDBC_DRIVER,
    P.SOURCE_USER,
    P.SOURCE_PASSWORD,
    P.PUBLICATION,
    P.REPLICATION_SLOT,
)
DESTINATION_KEYS = (
    P.DESTINATION_DATABASE,
    P.AUTH_STRATEGY,
    P.ACCOUNT_IDENTIFIER,
    P.SNOWFLAKE_USER,
    P.PRIVATE_KEY,
    P.PRIVATE_KEY_PASSWORD,
    P.ROLE,
    P.WAREHOUSE,
)
INGESTION_KEYS = (P.INCLUDED_TABLES, P.INCLUDED_TABLE_PATTERN)
OPTIONAL = frozenset({P.INCLUDED_TABLES, P.INCLUDED_TABLE_PATTERN, P.PRIVATE_KEY_PASSWORD})
PROCESSORS = 6  # components in the connector's group
JDBC_ASSET = "postgresql-42.7.4.jar"


class HttpError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


@dataclass
class Parameter:
    name: str
    sensitive: bool
    value: str | None = None
    description: str = ""
    assets: list[dict[str, str]] = field(default_factory=list)

    def entity(self) -> dict[str, Any]:
        shown = MASK if self.sensitive and self.value is not None else self.value
        return {
            "canWrite": True,
            "parameter": {
                "name": self.name,
                "description": self.description,
                "sensitive": self.sensitive,
                "value": shown,
                "provided": False,
                "inherited": False,
                "referencedAssets": list(self.assets),
            },
        }


@dataclass
class Context:
    id: str
    name: str
    parameters: dict[str, Parameter]
    inherited: list[str] = field(default_factory=list)
    version: int = 0


@dataclass
class UpdateRequest:
    id: str
    context_id: str
    parameters: list[dict[str, Any]]
    polls: int = 0
    complete: bool = False
    failure: str | None = None


class NifiEmulator:
    def __init__(
        self,
        *,
        token: str,
        relay: ConnectorRelay | None = None,
        flow_name: str = "canvas:nifi",
        jdbc_driver_uploaded: bool = True,
        polls_to_complete: int = 1,
    ) -> None:
        self.token = token
        self.relay, self.flow_name = relay, flow_name
        self.polls_to_complete = polls_to_complete
        self.requests: list[tuple[str, str]] = []  # (method, path) of every authorised call
        self.fail_next: list[int] = []  # statuses to answer the next calls with (e.g. 503)
        self.started_flows: list[dict[str, str]] = []
        self._lock = threading.RLock()
        self.root_id = str(uuid.uuid4())
        self.group_id = str(uuid.uuid4())
        self.group_version = 0
        self.running = False
        self.invalid = 0
        self.contexts: dict[str, Context] = {}
        source = self._context("PostgreSQL Source Parameters", SOURCE_KEYS)
        destination = self._context("PostgreSQL Destination Parameters", DESTINATION_KEYS)
        top = self._context("PostgreSQL Ingestion Parameters", INGESTION_KEYS)
        top.inherited = [source.id, destination.id]
        self.group_context = top.id
        if jdbc_driver_uploaded:
            source.parameters[gen1_name(P.JDBC_DRIVER)].assets = [
                {"id": str(uuid.uuid4()), "name": JDBC_ASSET}
            ]
        self.services = [{"id": str(uuid.uuid4()), "name": "PostgreSQL Connection Pool", "state": "DISABLED"}]
        self.service_version = 0
        self.update_requests: dict[str, UpdateRequest] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _context(self, name: str, keys: tuple[P, ...]) -> Context:
        params = {gen1_name(k): Parameter(gen1_name(k), BY_KEY[k].kind == "secret") for k in keys}
        context = Context(str(uuid.uuid4()), name, params)
        self.contexts[context.id] = context
        return context

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> NifiEmulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                    status, answer = emulator.handle(
                        self.command, self.path, self.headers.get("Authorization") or "", body
                    )
                    payload, kind = json.dumps(answer).encode(), "application/json"
                except HttpError as exc:
                    status, payload, kind = exc.status, exc.text.encode(), "text/plain"
                except ValueError:
                    status, payload, kind = 400, b"Unable to parse the request body.", "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="nifi-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> NifiEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "NiFi emulator not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/nifi-api"

    # -- what tests look at ----------------------------------------------------------------------
    def values(self) -> dict[str, str | None]:
        """Every parameter's real value (sensitive ones unmasked), by gen 1 name."""
        with self._lock:
            return {p.name: p.value for c in self.contexts.values() for p in c.parameters.values()}

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    # -- routing -----------------------------------------------------------------------------------
    def handle(self, method: str, target: str, authorization: str, body: Any) -> tuple[int, Any]:
        if authorization != f"Bearer {self.token}":
            raise HttpError(401, "Unable to validate the access token.")
        path = target.split("?", 1)[0]
        if not path.startswith("/nifi-api/"):
            raise HttpError(404, "Not Found")
        path = path[len("/nifi-api") :]
        with self._lock:
            self.requests.append((method, path))
            if self.fail_next:
                raise HttpError(self.fail_next.pop(0), "An unexpected error has occurred.")
            for pattern, verb, fn in self._routes():
                match = re.fullmatch(pattern, path)
                if match and verb == method:
                    return 200, fn(body, *match.groups())
        raise HttpError(404, f"Unable to find resource {method} {path}.")

    def _routes(self) -> list[tuple[str, str, Any]]:
        uid = r"([0-9a-f-]{36}|root)"
        return [
            (rf"/process-groups/{uid}/process-groups", "GET", self._children),
            (rf"/process-groups/{uid}", "GET", self._get_group),
            (rf"/parameter-contexts/{uid}", "GET", self._get_context),
            (rf"/parameter-contexts/{uid}/update-requests", "POST", self._submit_update),
            (rf"/parameter-contexts/{uid}/update-requests/{uid}", "GET", self._get_update),
            (rf"/parameter-contexts/{uid}/update-requests/{uid}", "DELETE", self._delete_update),
            (rf"/flow/process-groups/{uid}/controller-services", "GET", self._get_services),
            (rf"/flow/process-groups/{uid}/controller-services", "PUT", self._activate_services),
            (rf"/flow/process-groups/{uid}", "PUT", self._schedule),
        ]

    # -- process groups ----------------------------------------------------------------------------
    def _group_entity(self) -> dict[str, Any]:
        top = self.contexts[self.group_context]
        running = PROCESSORS if self.running else 0
        counts = {
            "runningCount": running,
            "stoppedCount": 0 if self.running else PROCESSORS - self.invalid,
            "invalidCount": self.invalid,
            "disabledCount": 0,
        }
        return {
            "id": self.group_id,
            "uri": f"{self.url}/process-groups/{self.group_id}",
            "revision": {"version": self.group_version},
            "permissions": {"canRead": True, "canWrite": True},
            "component": {
                "id": self.group_id,
                "name": GROUP_NAME,
                "parentGroupId": self.root_id,
                "parameterContext": {
                    "id": top.id,
                    "permissions": {"canRead": True, "canWrite": True},
                    "component": {"id": top.id, "name": top.name},
                },
                **counts,
            },
            **counts,
        }

    def _check_group(self, group_id: str) -> None:
        if group_id != self.group_id:
            raise HttpError(404, f"Unable to find process group with id '{group_id}'.")

    def _children(self, _body: Any, parent: str) -> dict[str, Any]:
        if parent in ("root", self.root_id):
            return {"processGroups": [self._group_entity()]}
        self._check_group(parent)
        return {"processGroups": []}

    def _get_group(self, _body: Any, group_id: str) -> dict[str, Any]:
        self._check_group(group_id)
        return self._group_entity()

    # -- parameter contexts ------------------------------------------------------------------------
    def _find_context(self, context_id: str) -> Context:
        context = self.contexts.get(context_id)
        if context is None:
            raise HttpError(404, f"Unable to find Parameter Context with ID {context_id}.")
        return context

    def _context_entity(self, context: Context) -> dict[str, Any]:
        return {
            "id": context.id,
            "revision": {"version": context.version},
            "permissions": {"canRead": True, "canWrite": True},
            "component": {
                "id": context.id,
                "name": context.name,
                "description": "",
                "parameters": [p.entity() for p in context.parameters.values()],
                "inheritedParameterContexts": [
                    {
                        "id": i,
                        "permissions": {"canRead": True, "canWrite": True},
                        "component": {"id": i, "name": self.contexts[i].name},
                    }
                    for i in context.inherited
                ],
                "boundProcessGroups": ([{"id": self.group_id}] if context.id == self.group_context else []),
            },
        }

    def _get_context(self, _body: Any, context_id: str) -> dict[str, Any]:
        return self._context_entity(self._find_context(context_id))

    def _submit_update(self, body: Any, context_id: str) -> dict[str, Any]:
        context = self._find_context(context_id)
        version = ((body or {}).get("revision") or {}).get("version")
        if version != context.version:
            raise HttpError(
                409,
                f"[{version}, {body.get('revision', {}).get('clientId')}, {context_id}] is not the most "
                "up-to-date revision. This component appears to have been modified.",
            )
        if any(r.context_id == context_id and not r.complete for r in self.update_requests.values()):
            raise HttpError(409, f"an update of Parameter Context {context_id} is already in progress")
        params = [p["parameter"] for p in (body.get("component") or {}).get("parameters") or []]
        for p in params:
            existing = context.parameters.get(p["name"])
            if existing is not None and bool(p.get("sensitive")) != existing.sensitive:
                raise HttpError(
                    400, f"Cannot update Parameter '{p['name']}': a Parameter's sensitivity cannot be changed"
                )
        request = UpdateRequest(str(uuid.uuid4()), context_id, params)
        self.update_requests[request.id] = request
        return self._update_entity(context, request)

    def _update_entity(self, context: Context, request: UpdateRequest) -> dict[str, Any]:
        return {
            "parameterContextRevision": {"version": context.version},
            "request": {
                "requestId": request.id,
                "uri": f"{self.url}/parameter-contexts/{context.id}/update-requests/{request.id}",
                "complete": request.complete,
                "failureReason": request.failure,
                "percentCompleted": 100 if request.complete else 25,
                "state": "Complete" if request.complete else "Stopping Affected Processors",
                "updateSteps": [
                    {"description": "Stopping Affected Processors", "complete": request.complete},
                    {"description": "Updating Parameter Context", "complete": request.complete},
                    {"description": "Restarting Affected Processors", "complete": request.complete},
                ],
                "parameterContext": self._context_entity(context)["component"],
            },
        }

    def _find_update(self, context_id: str, request_id: str) -> tuple[Context, UpdateRequest]:
        context = self._find_context(context_id)
        request = self.update_requests.get(request_id)
        if request is None or request.context_id != context_id:
            raise HttpError(404, f"Unable to find update request with id {request_id}.")
        return context, request

    def _get_update(self, _body: Any, context_id: str, request_id: str) -> dict[str, Any]:
        context, request = self._find_update(context_id, request_id)
        request.polls += 1
        if not request.complete and request.polls >= self.polls_to_complete:
            for p in request.parameters:
                current = context.parameters.get(p["name"])
                if current is None:
                    current = context.parameters[p["name"]] = Parameter(p["name"], bool(p.get("sensitive")))
                current.value = p.get("value")
                current.description = str(p.get("description") or "")
            context.version += 1
            request.complete = True
        return self._update_entity(context, request)

    def _delete_update(self, _body: Any, context_id: str, request_id: str) -> dict[str, Any]:
        context, request = self._find_update(context_id, request_id)
        del self.update_requests[request_id]
        return self._update_entity(context, request)

    # -- controller services and scheduling --------------------------------------------------------
    def _service_entity(self, service: dict[str, str]) -> dict[str, Any]:
        return {
            "id": service["id"],
            "parentGroupId": self.group_id,
            "revision": {"version": self.service_version},
            "permissions": {"canRead": True, "canWrite": True},
            "component": {
                "id": service["id"],
                "name": service["name"],
                "type": "org.apache.nifi.dbcp.DBCPConnectionPool",
                "state": service["state"],
                "validationStatus": "VALID",
                "validationErrors": [],
            },
            "status": {"runStatus": service["state"], "validationStatus": "VALID"},
        }

    def _get_services(self, _body: Any, group_id: str) -> dict[str, Any]:
        self._check_group(group_id)
        for service in self.services:  # enabling takes one look, as on a real runtime
            if service["state"] == "ENABLING":
                service["state"] = "ENABLED"
                self.service_version += 1
        return {"controllerServices": [self._service_entity(s) for s in self.services]}

    def _activate_services(self, body: Any, group_id: str) -> dict[str, Any]:
        self._check_group(group_id)
        state = body.get("state")
        if state not in ("ENABLED", "DISABLED"):
            raise HttpError(400, f"Cannot set controller services to {state}")
        for service in self.services:
            service["state"] = "ENABLING" if state == "ENABLED" else "DISABLED"
        self.service_version += 1
        return {"id": group_id, "state": state}

    def _schedule(self, body: Any, group_id: str) -> dict[str, Any]:
        self._check_group(group_id)
        state = body.get("state")
        if state == "STOPPED":
            self.running = False
            if self.relay is not None:
                self.relay.canvas_flows.pop(self.flow_name, None)
        elif state == "RUNNING":
            missing = self._missing()
            services_ok = all(s["state"] == "ENABLED" for s in self.services)
            # NiFi starts only valid components: with a parameter missing the processors stay invalid
            self.invalid = 0 if not missing and services_ok else PROCESSORS
            self.running = self.invalid == 0
            if self.running:
                self._register()
        else:
            raise HttpError(400, f"Cannot schedule components to {state}")
        self.group_version += 1
        return {"id": group_id, "state": state}

    def _missing(self) -> list[str]:
        values = {p.name: p for c in self.contexts.values() for p in c.parameters.values()}
        missing = []
        for key in gen1_keys():
            if key in OPTIONAL:
                continue
            p = values.get(gen1_name(key))
            has = p is not None and (bool(p.assets) if key is P.JDBC_DRIVER else bool(p.value))
            if not has:
                missing.append(gen1_name(key))
        return missing

    def _register(self) -> None:
        """The running flow, handed to the relay as the human's canvas step hands it."""
        values = {p.name: p.value for c in self.contexts.values() for p in c.parameters.values()}
        params = {
            gen1_name(key): str(values[gen1_name(key)])
            for key in gen1_keys()
            if key is not P.JDBC_DRIVER and values.get(gen1_name(key))
        }
        self.started_flows.append(params)
        if self.relay is not None:
            self.relay.canvas_flows[self.flow_name] = params
