"""`openflow-autopilot rotate-key -c FILE [--keep-old-key] [--canvas-updated] [--json]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _cmd_rotate(args: argparse.Namespace) -> int:
    from openflow_autopilot.config import load_request_file
    from openflow_autopilot.lambda_env import FunctionEnv
    from openflow_autopilot.phases.key_rotation import rotate_key

    request = load_request_file(args.config)
    results = rotate_key(
        request,
        env=FunctionEnv.from_environ(),
        keep_old_key=args.keep_old_key,
        canvas_updated=args.canvas_updated,
        on_step=None if args.json else (lambda s: print(f"- {s}")),
    )
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
        return 0
    for result in results:
        for action in result.actions:
            print(f"  {result.phase}: {action.kind} {action.target}")
        for note in result.notes:
            print(f"  note: {note}")
    print(f"service user key now {results[-1].outputs.get('key_fingerprint', 'unchanged')}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "rotate-key",
        help="rotate the connector's service user key pair without downtime (RSA_PUBLIC_KEY_2, then swap)",
    )
    p.add_argument("-c", "--config", type=Path, required=True, help="the provisioning request file")
    p.add_argument(
        "--keep-old-key",
        action="store_true",
        help="stop after the new key is stored and accepted; the old key stays valid until a later run",
    )
    p.add_argument(
        "--canvas-updated",
        action="store_true",
        help="gen 1: the new key is pasted into the canvas; retire the old key",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_rotate)
