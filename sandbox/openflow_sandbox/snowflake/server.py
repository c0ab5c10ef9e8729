"""The HTTP side: a Starlette app speaking the connector's wire protocol, run by uvicorn in a thread.

Login and query requests go to the emulator; statements it delegates, and the remaining routes
(heartbeat, stage uploads, query monitoring), are served by fakesnow's own handlers, which find the
session in ``fakesnow_server.sessions`` where the emulator registers each login.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import fakesnow.server as fakesnow_server
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from .context import Kind

Client = tuple[str, int]


@dataclass
class Reply:
    """What to send back for one query request."""

    action: Literal["json", "delegate", "http_error", "reset"]
    payload: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    kind: Kind = "write"


class Backend(Protocol):
    def login(self, body: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]: ...

    def query(self, token: str, body: Mapping[str, Any]) -> Reply: ...

    def delegated(self, token: str, body: Mapping[str, Any], kind: Kind, ok: bool) -> None: ...

    def logout(self, token: str) -> None: ...

    def stage_upload(self, path: str, body: bytes) -> int: ...

    def stage_download(self, path: str) -> bytes | None: ...


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    parsed: dict[str, Any] = json.loads(body or b"{}")
    return parsed


def _token(request: Request) -> str:
    # the connector sends: Authorization: Snowflake Token="<token>"
    auth = request.headers.get("Authorization", "")
    return auth.partition('Token="')[2].rstrip('"')


def build_app(backend: Backend, reset: Callable[[Client], None]) -> Starlette:
    async def login(request: Request) -> JSONResponse:
        return JSONResponse(backend.login(await _json_body(request), request.query_params))

    async def query(request: Request) -> Response:
        token = _token(request)
        body = await _json_body(request)
        reply = backend.query(token, body)
        if reply.action == "json":
            return JSONResponse(reply.payload, status_code=reply.status)
        if reply.action == "http_error":
            return JSONResponse(
                {"data": None, "code": None, "message": "Service Unavailable", "success": False}, reply.status
            )
        if reply.action == "reset":
            client = request.scope.get("client")
            if client:
                reset((client[0], client[1]))
            await asyncio.sleep(0.01)  # let uvicorn see the connection is gone before it writes
            return Response(status_code=500)
        # the Request caches its body, so fakesnow's handler can read it again
        response = await fakesnow_server.query_request(request)
        answer = json.loads(bytes(response.body))
        backend.delegated(token, body, reply.kind, bool(answer.get("success")))
        if response.status_code >= 500:
            # fakesnow reports what it cannot run as HTTP 500, which the connector would retry for
            # minutes; Snowflake reports such failures as a statement error (000603)
            message = f"SQL execution internal error: {answer.get('message')}"
            return JSONResponse(
                {
                    "data": {"errorCode": "000603", "sqlState": "XX000"},
                    "code": "000603",
                    "message": message,
                    "success": False,
                }
            )
        return response

    async def session(request: Request) -> Response:
        if request.query_params.get("delete"):
            backend.logout(_token(request))
        return await fakesnow_server.session(request)

    async def stage_file(request: Request) -> Response:
        # presigned-URL transfers of connector stage files (see handlers/connector_stage.py)
        path = request.path_params["path"]
        if request.method == "PUT":
            return Response(status_code=backend.stage_upload(path, await request.body()))
        content = backend.stage_download(path)
        if content is None:
            return Response(status_code=404)
        return Response(content, media_type="application/octet-stream")

    async def ok(request: Request) -> JSONResponse:
        return JSONResponse({"data": None, "success": True})

    return Starlette(
        routes=[
            Route("/session/v1/login-request", login, methods=["POST"]),
            Route("/queries/v1/query-request", query, methods=["POST"]),
            Route("/session", session, methods=["POST"]),
            Route("/session/heartbeat", fakesnow_server.session, methods=["POST"]),
            Route("/queries/v1/abort-request", ok, methods=["POST"]),
            Route("/telemetry/send", ok, methods=["POST"]),
            Route("/fs_bucket/{path:path}", fakesnow_server.bucket_upload, methods=["PUT"]),
            Route("/openflow_stage/{path:path}", stage_file, methods=["PUT", "GET"]),
            Route("/monitoring/queries/{sfqid}", fakesnow_server.monitoring_query, methods=["GET"]),
        ]
    )


def _tracking_protocol(connections: dict[Client, asyncio.Transport]) -> type[H11Protocol]:
    """uvicorn's h11 protocol, remembering each connection's transport so a fault can reset it."""

    class TrackingH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if self.client:
                connections[(self.client[0], self.client[1])] = transport

        def connection_lost(self, exc: Exception | None) -> None:
            if self.client:
                connections.pop((self.client[0], self.client[1]), None)
            super().connection_lost(exc)

    return TrackingH11Protocol


class ServerThread:
    """uvicorn on a pre-bound socket (so the port is known before it starts) in a daemon thread."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._connections: dict[Client, asyncio.Transport] = {}
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._socket is not None, "server not started"
        port: int = self._socket.getsockname()[1]
        return port

    def start(self, app: Starlette, timeout: float = 5.0) -> None:
        # proto must be TCP: asyncio only turns Nagle off (TCP_NODELAY) for such sockets, and with
        # Nagle on every response waits ~40 ms for the client's delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._socket = sock
        config = uvicorn.Config(
            app,
            http=_tracking_protocol(self._connections),
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"snowflake-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("Snowflake emulator server failed to start")
            time.sleep(0.005)

    def reset(self, client: Client) -> None:
        """Drop the client's connection with a TCP RST, as a network fault would."""
        transport = self._connections.get(client)
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server, self._thread = None, None
