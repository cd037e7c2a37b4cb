"""`pysteps jenkins exec REQUEST.json`: run one pysteps command that a Jenkins var described as data.

The shared library's vars never build a shell command from values: they write a request file and
run one fixed command line. The request is

    {"command": ["bake"],                      the pysteps command words
     "options": {"roll": true, "plan-json": "plan.json", "export": ["id|a", "name|b"]},
     "args": ["..."],                          positional arguments (given after `--`)
     "variables": {"vmss_name": "analytics"}}  environment of the command: settings, ${NAME} values

An option set to true is a flag, a list repeats the option, and false, null or "" leave it out;
values are passed as `--name=value`, so none can be taken for an option. Variables that are lists
are joined with commas, as the settings of bake and roll read them.

Beside the request, the command leaves what the var reads back:

    exports.properties   the exports of the command's run (empty when it has none), for readProperties
    run.json, exports.env  the rest of the run directory, when there is one
    result.json          {"argv", "exit_code", "run_folder"}

`pysteps az` and `pysteps run` write their run directory there directly ($PYSTEPS_RUN_DIR is the
request's folder); `pysteps bake` and `roll` keep theirs in the runs directory ($PYSTEPS_RUNS_DIR)
and its files are copied from there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

from pysteps.engine.errors import UsageError
from pysteps.engine.exports import check_env_name
from pysteps.engine.files import write_atomic
from pysteps.engine.rundir import ENV_FILE, PROPERTIES_FILE, STATE_FILE

RESULT_FILE = "result.json"
RUN_FILES = (STATE_FILE, ENV_FILE, PROPERTIES_FILE)
WORD = re.compile(r"[a-z][a-z0-9-]*")
RUNS_COMMANDS = ("bake", "roll")


def load_request(path: Path) -> dict:
    """The request, checked: every problem names the bad value and what was expected."""
    try:
        request = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"request file {str(path)!r} does not exist: expected the JSON a Jenkins var wrote") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"request file {str(path)!r} is not JSON ({error.msg}): expected a JSON object") from None
    if not isinstance(request, dict):
        raise UsageError(f"request file {str(path)!r}: expected a JSON object, got {type(request).__name__}")
    unknown = set(request) - {"command", "options", "args", "variables"}
    if unknown:
        raise UsageError(f"request field(s) {', '.join(sorted(unknown))}: expected command, options, args, variables")
    return request


def command_words(request: dict) -> list[str]:
    command = request.get("command")
    words = [command] if isinstance(command, str) else command
    if not words or not isinstance(words, list) or not all(isinstance(w, str) and WORD.fullmatch(w) for w in words):
        raise UsageError(f"request command {command!r}: expected pysteps command words such as 'bake' or "
                         "['jenkins', 'cleanup']")
    return words


def build_argv(request: dict) -> list[str]:
    """The pysteps argv of a request (without the program name)."""
    argv = list(command_words(request))
    options = request.get("options") or {}
    if not isinstance(options, dict):
        raise UsageError(f"request options {options!r}: expected an object of option: value")
    for name, value in options.items():
        if not WORD.fullmatch(name):
            raise UsageError(f"request option {name!r}: expected an option name such as 'plan-json'")
        argv.extend(_option(name, value))
    args = request.get("args") or []
    if not isinstance(args, list):
        raise UsageError(f"request args {args!r}: expected a list of arguments")
    if args:
        argv.append("--")
        argv.extend(_text(arg, "request args") for arg in args)
    return argv


def _option(name: str, value) -> list[str]:
    if value is True:
        return [f"--{name}"]
    if value is False or value is None or value == "":
        return []
    values = value if isinstance(value, list) else [value]
    return [f"--{name}={_text(item, f'request option {name!r}')}" for item in values]


def _text(value, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise UsageError(f"{what}: {value!r} is not text: expected a string or a number")


def variables(request: dict) -> dict[str, str]:
    """The environment the request adds; null values are left out, lists joined with commas."""
    given = request.get("variables") or {}
    if not isinstance(given, dict):
        raise UsageError(f"request variables {given!r}: expected an object of NAME: value")
    out = {}
    for name, value in given.items():
        check_env_name(name, "request variables")
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        out[name] = ",".join(_text(item, f"request variable {name}") for item in items)
    return out


def execute(path: Path) -> int:
    """Run the request in this process; leave its outputs beside it (even when the request is bad)."""
    from pysteps.cli import RUN_DIR_ENV, main
    from pysteps.pipelines.runs import runs_dir

    folder, argv, code, run_folder = path.parent, [], 2, None
    try:
        request = load_request(path)
        argv, added = build_argv(request), variables(request)
        os.environ.update(added)
        os.environ[RUN_DIR_ENV] = str(folder)
        runs = runs_dir(None)
        before = _run_folders(runs)
        print(f"[pysteps] jenkins exec: pysteps {' '.join(command_words(request))} (request {path}; "
              f"variables: {', '.join(sorted(added)) or 'none'})", file=sys.stderr)
        code = 1
        try:
            code = _run(main, argv)
        finally:
            run_folder = _new_run_folder(runs, before, request) if argv[0] in RUNS_COMMANDS else None
    finally:
        _leave_outputs(folder, run_folder, argv, code)
    return code


def _run(main, argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse rejected the arguments
        return stop.code if isinstance(stop.code, int) else 2


def _run_folders(runs: Path) -> set[str]:
    return {p.name for p in runs.iterdir() if p.is_dir()} if runs.is_dir() else set()


def _new_run_folder(runs: Path, before: set[str], request: dict) -> Path | None:
    resumed = (request.get("options") or {}).get("resume")
    if resumed:
        return runs / str(resumed)
    new = sorted(_run_folders(runs) - before)
    return runs / new[-1] if new else None


def _leave_outputs(folder: Path, run_folder: Path | None, argv: list[str], code: int) -> None:
    if not folder.is_dir():  # a request path that does not exist: nothing to leave beside it
        return
    if run_folder is not None and run_folder.resolve() != folder.resolve():
        for name in RUN_FILES:
            if (run_folder / name).is_file():
                shutil.copyfile(run_folder / name, folder / name)
    if not (folder / PROPERTIES_FILE).exists():
        write_atomic(folder / PROPERTIES_FILE, "")
    result = {"argv": argv, "exit_code": code, "run_folder": str(run_folder) if run_folder else None}
    write_atomic(folder / RESULT_FILE, json.dumps(result, indent=2) + "\n")
