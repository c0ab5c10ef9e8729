"""The sandbox's commands in `openflow-autopilot`: `demo` (the provisioning workflow end to end in
the local sandbox, then the power, watch, measured-cost and digest rehearsals) and `sandbox serve
[--port N] [--manual-approvals]` (the local sandbox with the webhook function on an HTTP port, so
curl or a tunnelled Slack app can drive it; runs until Ctrl-C). Local only: never deployed.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO


def _cmd_demo(args: argparse.Namespace) -> int:
    from openflow_sandbox.demo import demo

    return demo(
        report_path=args.report,
        request_path=args.request,
        scenario=args.scenario,
        sandbox_dir=args.sandbox_dir,
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `demo` and the `sandbox` command family to the main CLI."""
    p = subparsers.add_parser(
        "demo", help="run the provisioning state machine end to end in the local sandbox"
    )
    p.add_argument("--report", type=Path, help="write a JSON report of the run to this file")
    p.add_argument(
        "--sandbox-dir",
        type=Path,
        default=Path("build/sandbox"),
        help="where the Snowflake emulation writes what it received: snowflake-statements.jsonl and "
        "connector-stages/ (default: build/sandbox)",
    )
    p.add_argument(
        "--request",
        type=Path,
        default=Path("events/provision/request.yaml"),
        help="request file to run (pointed at the sandbox's account and secrets)",
    )
    p.add_argument(
        "--scenario",
        choices=["seed", "repaired"],
        default="seed",
        help="seed (default): the template doctor only reports the seed's defect, the agent gets stuck and "
        "agent health repairs it; repaired: the doctor repairs the template before the stack is created",
    )
    p.set_defaults(func=_cmd_demo)

    p = subparsers.add_parser("sandbox", help="the local sandbox (moto, Snowflake emulation, PostgreSQL)")
    sub = p.add_subparsers(dest="sandbox_command", required=True)
    serve = sub.add_parser(
        "serve",
        help="start the sandbox and serve the webhook function on a local port until Ctrl-C",
        description="Starts the sandbox, deploys the app into it and serves the webhook function "
        "(Slack commands and buttons, GitHub/Jira/ServiceNow webhooks) on a loopback HTTP port. "
        "Prints the URL, the sandbox's signing secret and a ready, signed curl command.",
    )
    serve.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    serve.add_argument(
        "--manual-approvals",
        action="store_true",
        help="do not let the simulated engineer approve pauses: press the Slack button yourself",
    )
    serve.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    return serve(port=args.port, manual_approvals=args.manual_approvals)


def serve(
    *,
    port: int = 0,
    manual_approvals: bool = False,
    out: TextIO = sys.stdout,
    stop: threading.Event | None = None,
    on_ready: Callable[[Any], None] | None = None,
) -> int:
    """Serve until `stop` is set or Ctrl-C; `on_ready(server)` is called once it answers."""
    from openflow_sandbox.environment import Sandbox
    from openflow_sandbox.webhook_server import WebhookServer

    stop = stop or threading.Event()
    print("Starting the sandbox (moto, Snowflake emulation, PostgreSQL) ...", file=out, flush=True)
    with Sandbox(human_approves=not manual_approvals) as sandbox, WebhookServer(sandbox, port=port) as server:
        print(banner(server, manual_approvals=manual_approvals), file=out, flush=True)
        if on_ready is not None:
            on_ready(server)
        seen = 0
        try:
            while not stop.wait(0.5):
                messages = sandbox.human.messages if sandbox.human is not None else []
                for note in messages[seen:]:
                    print(describe(note, server, manual_approvals=manual_approvals), file=out, flush=True)
                seen = len(messages)
        except KeyboardInterrupt:
            print("\nStopping ...", file=out, flush=True)
    return 0


def describe(note: dict[str, Any], server: Any, *, manual_approvals: bool) -> str:
    """One notification from the stack's topic, as the terminal shows it while serving."""
    line = f"[notification] {note.get('subject', note.get('status', '?'))}"
    if note.get("approval_id") and manual_approvals:
        line += f"\n  Approve it (signed, valid for 5 minutes):\n  {server.curl_button(note['approval_id'])}"
    return line


def banner(server: Any, *, manual_approvals: bool = False) -> str:
    from openflow_sandbox import webhook_server as ws

    url = server.url
    approvals = (
        "pauses wait for you: a signed Approve curl is printed when one arrives"
        if manual_approvals
        else "the simulated engineer approves pauses (use --manual-approvals to press the button yourself)"
    )
    return "\n".join(
        [
            "",
            f"Openflow Autopilot webhook (sandbox): {url}",
            f"  Slack slash command URL   {url}/slack/commands",
            f"  Slack interactivity URL   {url}/slack/interactions",
            f"  GitHub / Jira / ServiceNow {url}/github  {url}/jira  {url}/servicenow",
            f"  Slack signing secret      {ws.SLACK_SIGNING_SECRET}",
            f"  GitHub webhook secret     {ws.GITHUB_WEBHOOK_SECRET}  (label: {ws.GITHUB_LABEL})",
            f"  Approver (allow-list)     {ws.APPROVER}",
            f"  Request document          s3://{server.sandbox.artifact_bucket}/requests/{ws.REQUEST_NAME}.yaml"
            f"  (/openflow setup {ws.REQUEST_NAME})",
            f"  Replies to Slack          GET {url}/fake/slack   comments on GitHub: GET {url}/fake/github",
            f"  Approvals                 {approvals}",
            "",
            "A signed `/openflow status` (Slack's replay window: valid for 5 minutes):",
            "",
            f"  {server.curl('status')}",
            "",
            "A fresh one at any time (bash and openssl compute the signature; change the text= field):",
            "",
            f"  {server.curl_fresh('status')}",
            "",
            f"Then read the asynchronous reply: curl -sS {url}/fake/slack",
            "Ctrl-C stops the sandbox.",
        ]
    )
