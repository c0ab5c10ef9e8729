"""moto in server mode, with executing Step Functions and Lambda handlers run in-process.

moto has no supported in-process Lambda runtime: we replace its simple backend's `invoke` with
one that imports our handler (functions/<name>/app.py) and calls it with the function's
environment, returning a raised exception as a function error the way Lambda does, so the
state machine's Retry/Catch see our error class names. Asynchronous invocations
(`InvocationType=Event`) are answered 202 at once and run on a thread, as Lambda queues them; a
configuration update makes the next invocation a cold start, as in Lambda.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import json
import logging
import os
import threading
import traceback
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import moto.backends as moto_backends
import moto.s3.notifications as moto_s3_notifications
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from werkzeug.serving import make_server

from openflow_sandbox.faults import AwsFaults, handler_running

ACCOUNT_ID = "123456789012"
_ids = itertools.count()
# One lock for every in-process invocation: handlers read os.environ, which is process-wide.
_INVOKE_LOCK = threading.RLock()


@dataclass
class InvocationRecord:
    function_name: str
    event: Any
    result: Any
    error_type: str | None
    seconds: float


@dataclass
class FunctionRegistry:
    """Physical function name -> source directory, filled when the stack is deployed."""

    sources: dict[str, Path] = field(default_factory=dict)
    # Every log line the functions write (Powertools JSON), kept off the terminal.
    log_lines: list[str] = field(default_factory=list)
    modules: dict[str, ModuleType] = field(default_factory=dict)
    invocations: list[InvocationRecord] = field(default_factory=list)
    prefix: str = field(default_factory=lambda: f"sandbox_fn_{next(_ids)}")

    # Test doubles for state-machine tests: physical function name -> callable(event, context).
    replacements: dict[str, Any] = field(default_factory=dict)

    def replace(self, logical_id: str, fn: Any) -> None:
        """Run `fn` instead of the function whose physical name contains `logical_id`."""
        [name] = [n for n in self.sources if f"-{logical_id}-" in n]
        self.replacements[name] = fn

    def _capture_logs(self) -> None:
        """Point the Powertools loggers' stream handlers at log_lines instead of stdout."""
        sink = _LineSink(self.log_lines)
        for name in ("openflow-autopilot", "openflow_autopilot", "openflow_autopilot.triggers"):
            for h in logging.getLogger(name).handlers:
                # Exactly Powertools' StreamHandler: test runners attach subclasses of their own.
                if type(h) is logging.StreamHandler:
                    h.setStream(sink)

    def handler(self, function_name: str, handler: str) -> Any:
        if function_name in self.replacements:
            return self.replacements[function_name]
        module_name, _, attr = handler.rpartition(".")
        key = f"{function_name}:{module_name}"
        if key not in self.modules:
            path = self.sources[function_name] / f"{module_name.replace('.', '/')}.py"
            spec = importlib.util.spec_from_file_location(
                f"{self.prefix}_{function_name}_{module_name}", path
            )
            assert spec and spec.loader, path
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)  # the cold start: module-level code reads the environment
            self._capture_logs()
            self.modules[key] = module
        return getattr(self.modules[key], attr)

    def cold_start(self, function_name: str) -> None:
        """Forget the loaded handler modules: the next invocation reads the environment again."""
        for key in [k for k in self.modules if k.startswith(f"{function_name}:")]:
            del self.modules[key]


class _LineSink(io.TextIOBase):
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> int:
        self.lines.extend(line for line in text.splitlines() if line.strip())
        return len(text)


_ACTIVE: FunctionRegistry | None = None


class _Context:
    """The few LambdaContext attributes Powertools reads."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = f"sandbox-{next(_ids)}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "sandbox"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def _invoke_in_process(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes:
    registry = _ACTIVE
    fn = self.get_function(function_name, qualifier)
    name = fn.function_name
    if registry is None or name not in registry.sources:
        raise RuntimeError(f"sandbox: no source registered for function {name}")
    if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
        # Lambda queues it and answers 202 at once. The caller is often a handler holding
        # _INVOKE_LOCK (the webhook dispatching a job to itself): running it inline would deadlock.
        threading.Thread(
            target=_run_handler,
            args=(registry, fn, body, {}),
            name=f"lambda-event-{name}",
            daemon=True,
        ).start()
        return b""
    return _run_handler(registry, fn, body, response_headers)


def _run_handler(registry: FunctionRegistry, fn: Any, body: Any, response_headers: Any) -> bytes:
    import time

    name = fn.function_name
    event = json.loads(body) if body else {}
    # The variables Lambda's runtime sets itself (the webhook dispatches jobs to its own name).
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        **dict(fn.environment_vars or {}),
    }
    with _INVOKE_LOCK:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update({k: str(v) for k, v in env.items()})
        started = time.perf_counter()
        error_type = None
        try:
            with handler_running(name):
                result = registry.handler(name, fn.handler or "app.lambda_handler")(event, _Context(name))
            payload = json.dumps(result)
        except Exception as exc:  # a function error, as Lambda reports it
            error_type = type(exc).__name__
            result = {
                "errorMessage": str(exc),
                "errorType": error_type,
                "stackTrace": traceback.format_tb(exc.__traceback__)[-3:],
            }
            payload = json.dumps(result)
            response_headers["x-amz-function-error"] = "Unhandled"
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        registry.invocations.append(
            InvocationRecord(name, event, result, error_type, time.perf_counter() - started)
        )
    return payload.encode()


LambdaSimpleBackend.invoke = _invoke_in_process  # type: ignore[method-assign]
_update_function_configuration = LambdaSimpleBackend.update_function_configuration


def _update_and_cold_start(
    self: LambdaSimpleBackend, function_name: str, qualifier: str, body: dict[str, Any]
) -> dict[str, Any] | None:
    config = _update_function_configuration(self, function_name, qualifier, body)
    if _ACTIVE is not None and config:
        _ACTIVE.cold_start(str(config["FunctionName"]))
    return config


LambdaSimpleBackend.update_function_configuration = _update_and_cold_start  # type: ignore[method-assign,assignment]


def _s3_event_to_lambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    """S3 -> Lambda notifications: asynchronous in AWS, so on a thread of their own here."""
    from moto.awslambda_simple.models import lambda_simple_backends

    backend = lambda_simple_backends[account_id][region_name]

    def deliver() -> None:
        try:
            backend.invoke(fn_arn, None, json.dumps(event_body), {}, {})
        except Exception:  # AWS retries async invocations; the sandbox logs and moves on
            logging.getLogger(__name__).exception("S3 event delivery to %s failed", fn_arn)

    threading.Thread(target=deliver, name="s3-event", daemon=True).start()


moto_s3_notifications._invoke_awslambda = _s3_event_to_lambda


# moto's server looks up which service a request is for by listing its own package directory, on
# every request; the list never changes while the process runs, so list it once.
_MOTO_MODULES = tuple(moto_backends.list_of_moto_modules())
moto_backends.list_of_moto_modules = lambda: _MOTO_MODULES


# moto validates a state machine's definition by parsing it (ANTLR, most of a sandbox deploy's time);
# a definition that parsed once parses again: remember the ones that did. Invalid ones still raise.
_VALID_DEFINITIONS: set[str] = set()
_validate_definition = StepFunctionsParserBackend._validate_definition


def _validate_once(definition: str) -> None:
    if definition not in _VALID_DEFINITIONS:
        _validate_definition(definition=definition)
        _VALID_DEFINITIONS.add(definition)


StepFunctionsParserBackend._validate_definition = staticmethod(_validate_once)  # type: ignore[method-assign]


def _forget_cached_clients() -> None:
    """Powertools caches its parameter providers, and their boto3 clients bound to whatever
    endpoint was current, process-wide: a new or stopped server must not inherit them."""
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    DEFAULT_PROVIDERS.clear()


class _FaultableMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer with its WSGI app behind the sandbox's fault injector (faults.py)."""

    def __init__(self, faults: AwsFaults, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._faults = faults

    def _server_entry(self) -> None:
        app = self._faults.wrap(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.05)  # stop() waits up to one poll for it


class MotoSandbox:
    """A moto server on a free loopback port, configured for executing state machines."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self.registry = FunctionRegistry()
        # Passes every request through until a test arms a fault.
        self.faults = AwsFaults()
        self.endpoint = ""
        self._saved_env: dict[str, str | None] = {}

    def start(self) -> str:
        global _ACTIVE
        self._server = _FaultableMotoServer(self.faults, ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # moto's placeholder, not a secret
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            # the executing state machine calls back into moto on this port
            "MOTO_PORT": str(port),
        }
        self._saved_env = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        _forget_cached_clients()
        self._post("/moto-api/reset", {})
        self._post(
            "/moto-api/config",
            {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}},
        )
        _ACTIVE = self.registry
        return self.endpoint

    def _post(self, path: str, body: dict[str, Any]) -> None:
        req = urllib.request.Request(  # noqa: S310 - loopback moto endpoint
            self.endpoint + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            resp.read()

    def stop(self) -> None:
        global _ACTIVE
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._post("/moto-api/reset", {})
            self._server.stop()
            self._server = None
        if _ACTIVE is self.registry:
            _ACTIVE = None
        _forget_cached_clients()
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = {}
