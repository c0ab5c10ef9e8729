"""Fault injection for the sandbox: make one external call fail the way a real outage or a real
denial would, at the call sites our handlers use, and count what fired.

- AWS: a WSGI middleware in front of moto (`AwsFaults`). It only touches requests made by our
  Lambda handlers: while a handler runs in-process (moto_server._run_handler) botocore adds an
  `X-Openflow-Sandbox-Function` header naming the function, so moto's own Step Functions calls,
  the simulated agent's AWS CLI and the sandbox's bookkeeping pass untouched. A fault answers with
  the service's own error shape (JSON, query XML, EC2 XML, S3 XML), or drops the connection before
  the request is processed (`reset`) or after it was processed (`lost_response`, the harder case:
  the call took effect but the caller never heard). `timeout` lets moto process the request, then
  holds the answer until the client gives up on it (its read timeout) and drops the connection.
- Snowflake: the emulation's `inject_fault` (HTTP 503/429, a dropped connection, a request held past
  the connector's socket timeout, or 003001).
- PostgreSQL: `PgFaultProxy`, a TCP proxy in front of the local server that resets the handler's
  connection (at connect, or after its n-th statement) or accepts it and never answers (`timeout`:
  the client's connect_timeout fires); `deny_ddl` installs an event trigger that refuses a DDL
  command with SQLSTATE 42501, as a missing privilege does (the sandbox's admin login is a
  superuser, which REVOKE cannot restrict); `cancel_ddl` one that cancels it with the server's
  statement-timeout error (SQLSTATE 57014).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import select
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

import botocore.httpsession
import psycopg
from psycopg import sql

HEADER = "X-Openflow-Sandbox-Function"
_ENVIRON_KEY = "HTTP_X_OPENFLOW_SANDBOX_FUNCTION"

# --- which handler is running ---------------------------------------------------------------------
_local = threading.local()
_current: list[str] = []  # the function running in-process right now (one at a time: _INVOKE_LOCK)


@contextlib.contextmanager
def handler_running(function_name: str) -> Iterator[None]:
    """Mark the calls made on this thread (and the PostgreSQL connections opened meanwhile) as
    coming from `function_name`'s handler."""
    previous = getattr(_local, "function", None)
    _local.function = function_name
    _current.append(function_name)
    try:
        yield
    finally:
        _local.function = previous
        _current.pop()


def current_function() -> str | None:
    return _current[-1] if _current else None


_original_send = botocore.httpsession.URLLib3Session.send


def _send_with_marker(self: Any, request: Any) -> Any:
    function = getattr(_local, "function", None)
    if function:
        request.headers[HEADER] = function
    return _original_send(self, request)


botocore.httpsession.URLLib3Session.send = _send_with_marker  # type: ignore[method-assign]


# --- AWS ---------------------------------------------------------------------------------------------
AwsFaultKind = Literal[
    "throttling", "unavailable", "reset", "lost_response", "timeout", "access_denied", "invalid"
]
TRANSIENT_AWS: tuple[AwsFaultKind, ...] = ("throttling", "unavailable", "reset", "lost_response", "timeout")
# `timeout` holds an answer until the client hangs up, at most this long (the SDK's default read
# timeout is 30 s)
MAX_HOLD_SECONDS = 60.0


@dataclass
class AwsCall:
    function: str
    service: str
    action: str
    params: dict[str, Any]
    status: int = 0
    fault: str | None = None
    held: float = 0.0  # timeout: seconds the answer was held before the client hung up

    @property
    def iam_action(self) -> str:
        return f"{self.service}:{self.action}"


@dataclass
class AwsRule:
    function: str  # a substring of the physical function name, e.g. the logical id "StackFunction"
    iam_action: str  # "cloudformation:CreateStack"
    kind: AwsFaultKind
    remaining: int | None  # None: every matching call until cleared
    fired: int = 0


def _service(environ: dict[str, Any]) -> str:
    # AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/ssm/aws4_request, ...
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    scope = auth.partition("Credential=")[2].split(",", 1)[0].split("/")
    name = scope[3] if len(scope) >= 5 else ""
    return _IAM_PREFIX.get(name, name)


# SigV4 signing names that differ from the service's IAM action prefix
_IAM_PREFIX = {"monitoring": "cloudwatch"}


def _s3_action(method: str, path: str, query: dict[str, list[str]], environ: dict[str, Any]) -> str:
    has_key = len([p for p in path.split("/") if p]) > 1
    if not has_key:
        if method == "GET":
            return "ListObjectsV2" if "list-type" in query else "ListObjects"
        return {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, method)
    if method == "PUT":
        return "CopyObject" if environ.get("HTTP_X_AMZ_COPY_SOURCE") else "PutObject"
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method)


def _rest_action(service: str, method: str, path: str) -> str:
    parts = [unquote(p) for p in path.split("/") if p]
    if service == "scheduler" and parts[:1] == ["schedules"]:
        if len(parts) == 1:
            return "ListSchedules"
        verb = {"POST": "Create", "PUT": "Update", "GET": "Get", "DELETE": "Delete"}.get(method, method)
        return f"{verb}Schedule"
    if service == "scheduler" and parts[:1] == ["schedule-groups"]:
        if len(parts) == 1:
            return "ListScheduleGroups"
        verb = {"POST": "Create", "GET": "Get", "DELETE": "Delete"}.get(method, method)
        return f"{verb}ScheduleGroup"
    if service == "lambda" and parts[-1:] == ["invocations"]:
        return "Invoke"
    return f"{method} /{'/'.join(parts[:2])}"


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


_SMITHY_RPC = re.compile(r"^/service/[^/]+/operation/([A-Za-z0-9]+)$")


def identify(environ: dict[str, Any]) -> tuple[str, str, dict[str, Any], str]:
    """(service, action, params, protocol) of one AWS API request."""
    service = _service(environ)
    method = str(environ.get("REQUEST_METHOD", "GET"))
    path = str(environ.get("PATH_INFO", "/"))
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        body = _read_body(environ)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        return service, target.rpartition(".")[2], params if isinstance(params, dict) else {}, "json"
    operation = _SMITHY_RPC.match(path)
    if operation and str(environ.get("HTTP_SMITHY_PROTOCOL", "")) == "rpc-v2-cbor":
        # Smithy RPC v2 CBOR (CloudWatch in current botocore): POST /service/<S>/operation/<Op>
        _read_body(environ)
        return service, operation.group(1), {}, "rpc-v2-cbor"
    if service == "s3":
        bucket_key = path.lstrip("/")
        return service, _s3_action(method, path, query, environ), {"Key": bucket_key}, "s3"
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if "x-www-form-urlencoded" in content_type or "Action" in query:
        form = parse_qs(_read_body(environ).decode(errors="replace")) if method == "POST" else {}
        merged = {k: v[0] for k, v in {**query, **form}.items()}
        action = merged.pop("Action", "")
        return service, action, merged, "ec2" if service == "ec2" else "query"
    body = _read_body(environ)
    try:
        params = json.loads(body) if body else {}
    except ValueError:
        params = {}
    params = params if isinstance(params, dict) else {}
    params.setdefault("_path", path)
    return service, _rest_action(service, method, path), params, "rest-json"


_ERRORS: dict[str, dict[str, tuple[int, str]]] = {
    # kind -> protocol -> (HTTP status, error code)
    "throttling": {
        "json": (400, "ThrottlingException"),
        "rest-json": (429, "ThrottlingException"),
        "query": (400, "Throttling"),
        "ec2": (503, "RequestLimitExceeded"),
        "s3": (503, "SlowDown"),
    },
    "unavailable": {
        "json": (503, "ServiceUnavailable"),
        "rest-json": (503, "ServiceUnavailable"),
        "query": (503, "ServiceUnavailable"),
        "ec2": (503, "Unavailable"),
        "s3": (503, "ServiceUnavailable"),
    },
    "access_denied": {
        "json": (400, "AccessDeniedException"),
        "rest-json": (403, "AccessDeniedException"),
        "query": (403, "AccessDenied"),
        "ec2": (403, "UnauthorizedOperation"),
        "s3": (403, "AccessDenied"),
    },
    "invalid": {
        "json": (400, "ValidationException"),
        "rest-json": (400, "ValidationException"),
        "query": (400, "ValidationError"),
        "ec2": (400, "InvalidParameterValue"),
        "s3": (400, "InvalidArgument"),
    },
}
_REASONS = {400: "Bad Request", 403: "Forbidden", 429: "Too Many Requests", 503: "Service Unavailable"}


def _message(kind: str, call: AwsCall) -> str:
    if kind == "access_denied":
        role = f"arn:aws:sts::123456789012:assumed-role/{call.function}-role/{call.function}"
        return (
            f"User: {role} is not authorized to perform: {call.iam_action} because no identity-based "
            f"policy allows the {call.iam_action} action"
        )
    if kind == "invalid":
        return f"1 validation error detected: a parameter of {call.action} failed to satisfy its constraint"
    if kind == "throttling":
        return "Rate exceeded"
    return "Service is currently unavailable. Please try again later."


def _cbor_text_map(values: dict[str, str]) -> bytes:
    """A CBOR map of short text strings (RFC 8949: major types 5 and 3), enough for an error body."""

    def text(value: str) -> bytes:
        raw = value.encode()[:255]
        return (bytes([0x60 + len(raw)]) if len(raw) < 24 else bytes([0x78, len(raw)])) + raw

    return bytes([0xA0 + len(values)]) + b"".join(text(k) + text(v) for k, v in values.items())


def error_response(kind: str, protocol: str, call: AwsCall) -> tuple[int, list[tuple[str, str]], bytes]:
    status, code = _ERRORS[kind]["json" if protocol == "rpc-v2-cbor" else protocol]
    message = _message(kind, call)
    request_id = str(uuid.uuid4())
    if protocol == "rpc-v2-cbor":
        headers = [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("x-amzn-RequestId", request_id),
        ]
        return status, headers, _cbor_text_map({"__type": code, "message": message})
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", request_id),
        ]
        return status, headers, body
    if protocol == "ec2":
        text = (
            f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    elif protocol == "s3":
        text = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    else:
        sender = "Receiver" if status >= 500 else "Sender"
        text = (
            f"<ErrorResponse><Error><Type>{sender}</Type><Code>{code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], text.encode()


def _drop(environ: dict[str, Any]) -> None:
    """Close the client's connection with a TCP RST, without a response."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)


def _hold_until_client_leaves(environ: dict[str, Any], limit: float) -> None:
    """Keep the request open, unanswered, until the client closes its end (its read timeout fired)
    or `limit` seconds pass. The request was read in full, so anything readable is the close."""
    sock = environ.get("werkzeug.socket")
    deadline = time.monotonic() + limit
    while (left := deadline - time.monotonic()) > 0:
        if sock is None:
            time.sleep(min(left, 0.1))
            continue
        try:
            readable, _, _ = select.select([sock], [], [], min(left, 0.5))
            if readable and not sock.recv(1, socket.MSG_PEEK):
                return
        except (OSError, ValueError):
            return


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AwsFaults:
    """WSGI middleware around moto: records our handlers' calls and answers armed faults."""

    def __init__(self, max_hold: float = MAX_HOLD_SECONDS) -> None:
        self._lock = threading.Lock()
        self.rules: list[AwsRule] = []
        self.calls: list[AwsCall] = []
        self.max_hold = max_hold

    def arm(self, function: str, iam_action: str, kind: AwsFaultKind, times: int | None = 1) -> AwsRule:
        """Fail the next `times` calls of `iam_action` made by functions whose name contains
        `function` (None: every such call until `clear`)."""
        rule = AwsRule(function, iam_action, kind, times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules = [r for r in self.rules if r.remaining is not None]
            for rule in self.rules:
                rule.remaining = 0

    def reset(self) -> None:
        with self._lock:
            self.rules.clear()
            self.calls.clear()

    def successful(self, iam_action: str) -> list[AwsCall]:
        """The calls of `iam_action` moto processed and answered 2xx (also when the answer was lost)."""
        return [c for c in self.calls if c.iam_action == iam_action and 200 <= c.status < 300]

    def _take(self, call: AwsCall) -> AwsRule | None:
        with self._lock:
            for rule in self.rules:
                if rule.iam_action != call.iam_action or rule.function not in call.function:
                    continue
                if rule.remaining is not None:
                    if rule.remaining <= 0:
                        continue
                    rule.remaining -= 1
                rule.fired += 1
                return rule
        return None

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            function = environ.get(_ENVIRON_KEY)
            if not function:
                return app(environ, start_response)
            service, action, params, protocol = identify(environ)
            call = AwsCall(str(function), service, action, params)
            with self._lock:
                self.calls.append(call)
            rule = self._take(call)
            if rule is not None:
                call.fault = rule.kind
            if rule is not None and rule.kind == "reset":
                _drop(environ)
                start_response("500 Internal Server Error", [("Content-Length", "0")])
                return []

            def recording_start_response(status: str, headers: Any, *args: Any) -> Any:
                call.status = int(status.split(" ", 1)[0])
                return start_response(status, headers, *args)

            if rule is not None and rule.kind not in ("lost_response", "timeout"):
                status, headers, body = error_response(rule.kind, protocol, call)
                headers.append(("Content-Length", str(len(body))))
                start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
                return [body]
            result = app(environ, recording_start_response)
            if rule is None:
                return result
            # lost_response, timeout: moto did the work; the caller never hears about it
            try:
                for _ in result:
                    pass
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if rule.kind == "timeout":
                started = time.monotonic()
                _hold_until_client_leaves(environ, self.max_hold)
                call.held = time.monotonic() - started
            _drop(environ)
            return []

        return middleware


# --- PostgreSQL --------------------------------------------------------------------------------------
PgFaultKind = Literal["reset_on_connect", "reset_after_statements", "timeout_on_connect"]


@dataclass
class PgRule:
    function: str
    kind: PgFaultKind
    statements: int = 1  # reset_after_statements: drop when the client sends its n-th statement
    remaining: int = 1
    fired: int = 0


_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104


class PgFaultProxy:
    """A TCP proxy in front of PostgreSQL. A connection opened while a handler whose name contains
    a rule's `function` runs can be reset (TCP RST) at connect or mid-session."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.rules: list[PgRule] = []
        self.connections: list[str | None] = []  # the function behind each accepted connection
        self.statements: list[int] = []  # statements (Query/Parse messages) sent on each connection
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._open: set[socket.socket] = set()
        self._stopping = False

    @property
    def port(self) -> int:
        assert self._listener is not None, "proxy not started"
        return int(self._listener.getsockname()[1])

    def arm(self, function: str, kind: PgFaultKind, *, statements: int = 1, times: int = 1) -> PgRule:
        rule = PgRule(function, kind, statements, times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def start(self) -> PgFaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(32)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="pg-fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            for s in list(self._open):
                with contextlib.suppress(OSError):
                    s.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _take(self, function: str | None) -> PgRule | None:
        if function is None:
            return None
        with self._lock:
            for rule in self.rules:
                if rule.remaining > 0 and rule.function in function:
                    rule.remaining -= 1
                    rule.fired += 1
                    return rule
        return None

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            function = current_function()
            self.connections.append(function)
            self.statements.append(0)
            index = len(self.statements) - 1
            rule = self._take(function)
            if rule is not None and rule.kind == "reset_on_connect":
                _reset(client)
                continue
            if rule is not None and rule.kind == "timeout_on_connect":
                # accepted, never answered: the client's connect_timeout fires
                with self._lock:
                    self._open.add(client)
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            threading.Thread(
                target=self._pump_client, args=(client, server, rule, index), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _swallow(self, client: socket.socket) -> None:
        """Read and discard what the client sends (its startup message), answer nothing, until it
        hangs up (or MAX_HOLD_SECONDS pass)."""
        client.settimeout(MAX_HOLD_SECONDS)
        try:
            while client.recv(65536):
                pass
        except OSError:
            pass
        finally:
            self._close(client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close(src, dst)

    def _pump_client(
        self, client: socket.socket, server: socket.socket, rule: PgRule | None, index: int
    ) -> None:
        """Forward the client's messages, counting statements (Query and Parse messages)."""
        buffer = b""
        started = False  # past the untyped startup messages
        try:
            while data := client.recv(65536):
                buffer += data
                while True:
                    if not started:
                        if len(buffer) < 8:
                            break
                        length, code = struct.unpack("!ii", buffer[:8])
                        if len(buffer) < length:
                            break
                        buffer = buffer[length:]
                        started = code not in (_SSL_REQUEST, _GSS_REQUEST)
                        continue
                    if len(buffer) < 5:
                        break
                    kind, length = buffer[:1], struct.unpack("!i", buffer[1:5])[0]
                    if len(buffer) < 1 + length:
                        break
                    buffer = buffer[1 + length :]
                    if kind in (b"Q", b"P"):
                        self.statements[index] += 1
                        if rule is not None and self.statements[index] >= rule.statements:
                            _reset(client)
                            _reset(server)
                            return
                server.sendall(data)
        except OSError:
            pass
        finally:
            self._close(client, server)

    def _close(self, *sockets: socket.socket) -> None:
        with self._lock:
            for s in sockets:
                self._open.discard(s)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


def _reset(sock: socket.socket) -> None:
    """Drop the connection now. shutdown() first: close() alone does not end a connection whose
    socket another thread is blocked reading, and the server would keep a half-open session (and
    its transaction's locks) alive."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


_TRIGGER = "openflow_sandbox_fault"


def deny_ddl(dsn: str, command_tag: str, message: str) -> None:
    """Refuse `command_tag` (e.g. "CREATE PUBLICATION") in the database with SQLSTATE 42501
    (insufficient_privilege) until `allow_ddl`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {fn}() RETURNS event_trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = {msg}; END $$"
            ).format(fn=sql.Identifier(_TRIGGER), msg=sql.Literal(message))
        )
        conn.execute(sql.SQL("DROP EVENT TRIGGER IF EXISTS {}").format(sql.Identifier(_TRIGGER)))
        conn.execute(
            sql.SQL(
                "CREATE EVENT TRIGGER {t} ON ddl_command_start WHEN TAG IN ({tag}) EXECUTE FUNCTION {fn}()"
            ).format(t=sql.Identifier(_TRIGGER), tag=sql.Literal(command_tag), fn=sql.Identifier(_TRIGGER))
        )


def allow_ddl(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP EVENT TRIGGER IF EXISTS {}").format(sql.Identifier(_TRIGGER)))
        conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(sql.Identifier(_TRIGGER)))


_CANCEL = "openflow_sandbox_cancel"


def cancel_ddl(dsn: str, command_tag: str, times: int = 1) -> None:
    """Cancel the next `times` `command_tag` commands (e.g. "CREATE PUBLICATION") in the database
    with the error a statement timeout raises: SQLSTATE 57014 (query_canceled), "canceling statement
    due to statement timeout". A sequence counts the attempts (nextval survives the rollback)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SEQUENCE IF EXISTS public.{}").format(sql.Identifier(_CANCEL)))
        conn.execute(sql.SQL("CREATE SEQUENCE public.{}").format(sql.Identifier(_CANCEL)))
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION public.{fn}() RETURNS event_trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF nextval('public.{seq}') <= {times} THEN RAISE EXCEPTION USING "
                "ERRCODE = 'query_canceled', MESSAGE = 'canceling statement due to statement timeout'; "
                "END IF; END $$"
            ).format(fn=sql.Identifier(_CANCEL), seq=sql.SQL(_CANCEL), times=sql.Literal(int(times)))
        )
        conn.execute(sql.SQL("DROP EVENT TRIGGER IF EXISTS {}").format(sql.Identifier(_CANCEL)))
        conn.execute(
            sql.SQL(
                "CREATE EVENT TRIGGER {t} ON ddl_command_start WHEN TAG IN ({tag}) "
                "EXECUTE FUNCTION public.{fn}()"
            ).format(t=sql.Identifier(_CANCEL), tag=sql.Literal(command_tag), fn=sql.Identifier(_CANCEL))
        )


def ddl_cancelled(dsn: str, times: int = 1) -> int:
    """How many commands `cancel_ddl` cancelled so far."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.{}").format(
                sql.Identifier(_CANCEL)
            )
        ).fetchone()
    return min(int(row[0]) if row else 0, times)


def uncancel_ddl(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP EVENT TRIGGER IF EXISTS {}").format(sql.Identifier(_CANCEL)))
        conn.execute(sql.SQL("DROP FUNCTION IF EXISTS public.{}()").format(sql.Identifier(_CANCEL)))
        conn.execute(sql.SQL("DROP SEQUENCE IF EXISTS public.{}").format(sql.Identifier(_CANCEL)))


@dataclass
class FaultRecord:
    """One row of the README's fault table."""

    phase: str
    call: str
    fault: str
    kind: Literal["transient", "permanent"]
    outcome: str
    handled_by: str = ""
    details: dict[str, Any] = field(default_factory=dict)
