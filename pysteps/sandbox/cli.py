"""The `pysteps sandbox` commands."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pysteps.engine.errors import UsageError


def add_commands(commands) -> None:
    sandbox = commands.add_parser("sandbox", help="a local Azure (ARM emulator, Blob, S3) for tests and rehearsals",
                                  description="A local Azure on 127.0.0.1: an ARM emulator the real az CLI logs into, "
                                              "Azurite for Blob and an S3 server.", allow_abbrev=False)
    sandbox.add_argument("--state-dir", type=Path, help="where the sandbox keeps its state "
                                                         "(default: $PYSTEPS_SANDBOX_DIR or ~/.pysteps/sandbox)")
    actions = sandbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start the sandbox (idempotent) and log az in")
    up.add_argument("--retry-after", type=_whole_seconds, default=1, metavar="SECONDS",
                    help="Retry-After of long-running operations, whole seconds (default 1)")
    up.add_argument("--faults", type=Path, metavar="FILE", help="fault-injection rules (JSON list) to start with")
    up.set_defaults(handler=cmd_up)
    actions.add_parser("down", help="stop what the sandbox started and remove its state").set_defaults(
        handler=cmd_down)
    actions.add_parser("status", help="what runs where").set_defaults(handler=cmd_status)
    env = actions.add_parser("env", help="print the environment that points az and the SDKs at the sandbox")
    env.add_argument("--format", choices=("shell", "json"), default="shell",
                     help="shell (for eval \"$(pysteps sandbox env)\") or json")
    env.set_defaults(handler=cmd_env)
    resources = actions.add_parser("resources", help="list the resource groups and resources that exist")
    resources.add_argument("--json", action="store_true", help="print JSON")
    resources.set_defaults(handler=cmd_resources)
    faults = actions.add_parser("faults", help="show, set or clear fault-injection rules")
    faults.add_argument("rules", nargs="?", metavar="FILE|JSON|clear",
                        help="a JSON file or JSON text with a list of rules, or 'clear'; none: show the rules")
    faults.set_defaults(handler=cmd_faults)


def _sandbox(args):
    from pysteps.sandbox.control import Sandbox

    return Sandbox(args.state_dir)


def cmd_up(args) -> int:
    sandbox = _sandbox(args)
    faults = _read_rules(str(args.faults)) if args.faults else None
    started = time.monotonic()
    already = sandbox.is_up()
    sandbox.up(retry_after=args.retry_after, faults=faults)
    verb = "already up" if already else f"up in {time.monotonic() - started:.1f}s"
    print(f"pysteps sandbox {verb}: {sandbox.state_dir}", file=sys.stderr)
    print(f'load it with: eval "$(pysteps sandbox --state-dir {sandbox.state_dir} env)"', file=sys.stderr)
    return 0


def cmd_down(args) -> int:
    stopped = _sandbox(args).down()
    print(f"pysteps sandbox down: stopped {', '.join(stopped) or 'nothing'}", file=sys.stderr)
    return 0


def cmd_status(args) -> int:
    sandbox = _sandbox(args)
    rows = sandbox.status()
    if not rows:
        print(f"no sandbox in {sandbox.state_dir}")
        return 3
    for row in rows:
        state = f"running (pid {row['pid']})" if row["pid"] else "NOT running"
        print(f"{row['name']:<6} {state:<24} {row['url'] or ''}")
    print(f"requests log: {sandbox.requests_log()}")
    return 0 if all(row["pid"] for row in rows) else 1


def cmd_env(args) -> int:
    from pysteps.sandbox.control import format_env

    sys.stdout.write(format_env(_sandbox(args).environment(), args.format))
    return 0


def cmd_resources(args) -> int:
    found = _sandbox(args).resources()
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for group in found["groups"]:
        tags = ",".join(f"{k}={v}" for k, v in sorted((group.get("tags") or {}).items()))
        print(f"{group['name']}  ({group['location']}{'; ' + tags if tags else ''})")
        for resource in found["resources"]:
            if f"/resourcegroups/{group['name'].lower()}/" in resource["id"].lower():
                print(f"  {resource['type']}  {resource['name']}")
    if not found["groups"]:
        print("no resource groups")
    return 0


def cmd_faults(args) -> int:
    sandbox = _sandbox(args)
    if args.rules is None:
        rules = sandbox.faults()
    elif args.rules == "clear":
        rules = sandbox.set_faults([])
    else:
        rules = sandbox.set_faults(_read_rules(args.rules))
    print(json.dumps(rules, indent=2))
    return 0


def _whole_seconds(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole seconds, 1 or more (Azure's SDKs read an int)")
    return int(text)


def _read_rules(source: str) -> list[dict]:
    path = Path(source)
    text = path.read_text() if path.is_file() else source
    try:
        rules = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"fault rules {source!r}: not a JSON file or JSON text ({error.msg})") from None
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise UsageError(f"fault rules {source!r}: expected a JSON list of rule objects")
    return rules
