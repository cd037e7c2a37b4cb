"""Check az argv lists with the installed Azure CLI's own parser and pre-flight validators.

Run as a child process by `pysteps validate` (see validate.py), with an empty private
AZURE_CONFIG_DIR and proxies pointing at a closed port, so it neither logs in nor reaches Azure.
Reads a JSON list of argv lists on stdin; prints a JSON list of problem lists, one per argv.

A command is accepted when it gets as far as needing an account or the network: az's checks
stop there, and so do ours.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import logging
import sys

NEEDS_AZURE = ("Please run 'az login'", "Max retries exceeded", "ProxyError", "Connection refused")
HINTS = {
    "is not supported for Flex mode": "az vmss create defaults to Flexible orchestration; "
                                      "add --orchestration-mode Uniform",
    "Operation cancelled": "the command asks for confirmation and no terminal will answer; add --yes",
}


def check(argv: list[str]) -> list[str]:
    """The problems az finds in `argv` (no leading 'az'), as one-line messages."""
    from azure.cli.core import get_default_cli
    from knack.events import EVENT_INVOKER_PRE_PARSE_ARGS

    problems: list[str] = []
    cli = get_default_cli()
    cli.invocation_cls = _checking_invoker(cli.invocation_cls)

    def check_flags(cli_ctx, **kwargs):
        problems.extend(_flag_problems(cli_ctx.invocation.parser, kwargs.get("args", argv)))

    cli.register_event(EVENT_INVOKER_PRE_PARSE_ARGS, check_flags)
    errors = _Errors()
    logging.getLogger("cli").addHandler(errors)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(SystemExit):
            cli.invoke(list(argv), out_file=io.StringIO())
    finally:
        logging.getLogger("cli").removeHandler(errors)
    error = getattr(cli.result, "error", None)
    if error is None:
        return problems
    message = next((m for m in errors.messages if m.strip()), "") or str(error) or type(error).__name__
    message = " ".join(message.split())
    if any(marker in message for marker in NEEDS_AZURE):
        return problems
    if message.startswith("unrecognized arguments") and any(p.startswith("unknown flag") for p in problems):
        return problems  # already reported, with suggestions
    hint = next((h for marker, h in HINTS.items() if marker in message), "")
    problems.append(f"{message} ({hint})" if hint else message)
    return problems


def _checking_invoker(base):
    class CheckingInvoker(base):
        """Parses and validates like az, then stops where az would send the request."""

        def _run_jobs_serially(self, jobs, ids):
            return [], []  # as if the command had answered an empty list (so --query still applies)

        _run_jobs_concurrently = _run_jobs_serially

    return CheckingInvoker


def _flag_problems(parser, args: list[str]) -> list[str]:
    """Flags az would reject (unknown) or silently expand (abbreviated): we always want full names."""
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    subparser = None
    for end in range(len(words), 0, -1):
        subparser = parser.subparser_map.get(" ".join(words[:end]))
        if subparser is not None:
            break
    if subparser is None:
        return []
    options = set(subparser._option_string_actions)
    found = []
    for arg in args:
        flag = arg.split("=", 1)[0]
        if not flag.startswith("--") or flag in options:
            continue
        candidates = sorted(o for o in options if o.startswith(flag))
        if candidates:
            found.append(f"abbreviated flag {flag}: az accepts it as a prefix of {' or '.join(candidates)}; "
                         "write the full name")
        else:
            close = difflib.get_close_matches(flag, [o for o in options if o.startswith("--")], n=1)
            found.append(f"unknown flag {flag}" + (f" (did you mean {close[0]}?)" if close else ""))
    return found


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        with contextlib.suppress(Exception):
            self.messages.append(record.getMessage())


def main() -> int:
    argvs = json.load(sys.stdin)
    results = [check(argv) for argv in argvs]
    sys.stdout.write(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
