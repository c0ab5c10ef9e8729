"""A tiny stand-in for the AWS CLI v2, enough for the Openflow agent's ensure-ecr-repo.sh.

The agent's scripts run with bash and find `bin/aws` first on PATH. That stand-in is a shell script
which forwards its arguments over loopback HTTP to the `CliServer` here, inside the sandbox's own
process: the parsing and the call happen in an interpreter that already has boto3 loaded, so a call
costs milliseconds instead of a Python start-up and a boto3 import.

It talks to whatever AWS_ENDPOINT_URL points at (the sandbox's moto server) and fails the way the real
CLI does: service errors print `An error occurred (Code) when calling the Operation operation:
message` to stderr and exit 254; command-line errors print the usage banner and exit 252.
Supported: `aws --version`, `aws ecr describe-repositories`, `aws ecr create-repository`.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from botocore.exceptions import ClientError

USAGE = (
    "usage: aws [options] <command> <subcommand> [<subcommand> ...] [parameters]\n"
    "To see help text, you can run:\n\n"
    "  aws help\n"
    "  aws <command> help\n"
    "  aws <command> <subcommand> help\n"
)
EXIT_SERVICE_ERROR = 254
EXIT_USAGE = 252
GLOBAL_WITH_VALUE = {
    "--region",
    "--output",
    "--profile",
    "--endpoint-url",
    "--query",
    "--color",
    "--cli-read-timeout",
}
GLOBAL_FLAGS = {"--no-cli-pager", "--no-paginate", "--no-verify-ssl", "--debug", "--no-sign-request"}
OPERATIONS = {
    ("ecr", "describe-repositories"): (
        "DescribeRepositories",
        {"--repository-names", "--registry-id", "--max-items"},
    ),
    ("ecr", "create-repository"): (
        "CreateRepository",
        {
            "--repository-name",
            "--tags",
            "--registry-id",
            "--image-tag-mutability",
            "--image-scanning-configuration",
            "--encryption-configuration",
        },
    ),
}
# The variables the stand-in forwards with its arguments (what the real CLI would read).
FORWARDED_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


class UsageError(Exception):
    pass


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run(argv: list[str], env: dict[str, str]) -> CliResult:
    """What `aws <argv>` prints and exits with, in an environment holding FORWARDED_ENV."""
    if argv[:1] == ["--version"]:
        return CliResult(0, "aws-cli/2.0.0 Python/3 Linux sandbox-shim\n", "")
    try:
        options, positionals = parse(argv)
        if len(positionals) < 2:
            raise UsageError("the following arguments are required: command, operation")
        key = (positionals[0], positionals[1])
        if key not in OPERATIONS:
            raise UsageError(f"the sandbox shim does not implement 'aws {' '.join(key)}'")
        operation, allowed = OPERATIONS[key]
        unknown = sorted(name for name in options if name not in allowed | GLOBAL_WITH_VALUE | GLOBAL_FLAGS)
        if unknown or len(positionals) > 2:
            extra = [*unknown, *positionals[2:]]
            raise UsageError(f"Unknown options: {', '.join(extra)}")
        params = build_params(operation, options)
    except UsageError as exc:
        return CliResult(EXIT_USAGE, "", f"{USAGE}\naws: error: {exc}\n")
    endpoint = (options.get("--endpoint-url") or [env.get("AWS_ENDPOINT_URL", "")])[0]
    return call(operation, params, region=region_of(options, env), endpoint_url=endpoint, env=env)


def parse(argv: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Options to their values (every word up to the next option), and the positional words."""
    options: dict[str, list[str]] = {}
    positionals: list[str] = []
    at = 0
    while at < len(argv):
        word = argv[at]
        if word.startswith("--"):
            name, has_inline, inline = word.partition("=")
            values: list[str] = [inline] if has_inline else []
            at += 1
            if not has_inline and name not in GLOBAL_FLAGS:
                while at < len(argv) and not argv[at].startswith("--"):
                    values.append(argv[at])
                    at += 1
                    if name in GLOBAL_WITH_VALUE or name in {"--repository-name", "--registry-id"}:
                        break
            if name not in GLOBAL_FLAGS and not values:
                raise UsageError(
                    f"argument {name}: expected one argument"
                    if name != "--tags"
                    else "argument --tags: expected at least one argument"
                )
            options[name] = values
        else:
            positionals.append(word)
            at += 1
    return options, positionals


def build_params(operation: str, options: dict[str, list[str]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if operation == "DescribeRepositories":
        if "--repository-names" in options:
            params["repositoryNames"] = options["--repository-names"]
    else:
        if "--repository-name" not in options:
            raise UsageError("the following arguments are required: --repository-name")
        params["repositoryName"] = options["--repository-name"][0]
        if "--tags" in options:
            params["tags"] = parse_tags(options["--tags"])
        if "--image-tag-mutability" in options:
            params["imageTagMutability"] = options["--image-tag-mutability"][0]
    if "--registry-id" in options:
        params["registryId"] = options["--registry-id"][0]
    return params


def parse_tags(values: list[str]) -> list[dict[str, str]]:
    """`Key=a,Value=b Key=c,Value=d` shorthand, or a JSON list."""
    if len(values) == 1 and values[0].lstrip().startswith("["):
        tags: list[dict[str, str]] = json.loads(values[0])
        return tags
    parsed = []
    for value in values:
        fields = dict(part.split("=", 1) for part in value.split(",") if "=" in part)
        if "Key" not in fields:
            raise UsageError(f"Error parsing parameter '--tags': Expected: '=', received: '{value}'")
        parsed.append({"Key": fields["Key"], "Value": fields.get("Value", "")})
    return parsed


def region_of(options: dict[str, list[str]], env: dict[str, str]) -> str:
    if "--region" in options:
        return options["--region"][0]
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


_clients: dict[tuple[str, str, str | None, str | None], Any] = {}
_clients_lock = threading.Lock()


def _ecr(region: str, endpoint_url: str, env: dict[str, str]) -> Any:
    """One client per (region, endpoint, key): boto3 clients are thread-safe, creating one is not cheap."""
    key_id, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    with _clients_lock:
        key = (region, endpoint_url, key_id, secret)
        if key not in _clients:
            _clients[key] = boto3.session.Session().client(
                "ecr",
                region_name=region,
                endpoint_url=endpoint_url or None,
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
            )
        return _clients[key]


def call(
    operation: str, params: dict[str, Any], *, region: str, endpoint_url: str, env: dict[str, str]
) -> CliResult:
    client = _ecr(region, endpoint_url, env)
    method = {
        "DescribeRepositories": client.describe_repositories,
        "CreateRepository": client.create_repository,
    }
    try:
        response = method[operation](**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return CliResult(
            EXIT_SERVICE_ERROR,
            "",
            f"\nAn error occurred ({error.get('Code', 'Unknown')}) when calling the {operation} operation: "
            f"{error.get('Message', '')}\n",
        )
    response.pop("ResponseMetadata", None)
    return CliResult(0, json.dumps(response, indent=4, default=_iso) + "\n", "")


def _iso(value: Any) -> str:
    """Timestamps the way the CLI prints them (ISO 8601)."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# --- the loopback endpoint bin/aws talks to -------------------------------------------------------
# Request: a form of `arg` fields (the arguments, in order) and the FORWARDED_ENV variables.
# Response: stdout then stderr as the body; X-Exit-Code and X-Stdout-Bytes say where they split.
class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        fields = urllib.parse.parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)
        argv = [value for name, value in fields if name == "arg"]
        env = {name: value for name, value in fields if name in FORWARDED_ENV and value}
        try:
            result = run(argv, env)
        except Exception as exc:  # what the CLI does on an unexpected failure: exit 255
            result = CliResult(255, "", f"\n{type(exc).__name__}: {exc}\n")
        out, err = result.stdout.encode(), result.stderr.encode()
        self.send_response(200)
        self.send_header("X-Exit-Code", str(result.exit_code))
        self.send_header("X-Stdout-Bytes", str(len(out)))
        self.send_header("Content-Length", str(len(out) + len(err)))
        self.end_headers()
        self.wfile.write(out + err)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


_server: ThreadingHTTPServer | None = None
_server_lock = threading.Lock()


def server_url() -> str:
    """The loopback URL of this process's CLI endpoint, started on first use (a daemon thread)."""
    global _server
    with _server_lock:
        if _server is None:
            _server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            _server.daemon_threads = True
            threading.Thread(target=_server.serve_forever, name="sandbox-aws-cli", daemon=True).start()
        host, port = _server.server_address[:2]
        return f"http://{host!s}:{port}/"
