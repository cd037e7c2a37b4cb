"""The `pysteps bake`, `pysteps roll` and `pysteps sweep` commands."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime

from pysteps.engine.errors import UsageError
from pysteps.engine.exports import check_env_name
from pysteps.engine.logs import LOG_FORMATS, StepLog
from pysteps.engine.runners import RUNNER_NAMES


def add_commands(commands) -> None:
    bake = commands.add_parser("bake", help="bake an image with its data (optionally roll it out: --roll)",
                               description="Create a temporary VM, preload its data disks, capture an image, "
                                           "delete the VM. Settings: see docs/steps.md.", allow_abbrev=False)
    _common(bake)
    bake.add_argument("--keep-on-failure", action="store_true",
                      help="keep the temporary resource group when the run fails (to look, or to --resume)")
    bake.add_argument("--roll", action="store_true", help="then roll the new image out to the scale set")
    bake.set_defaults(handler=cmd_bake)
    roll = commands.add_parser("roll", help="create or update the scale set with an image and roll its instances",
                               allow_abbrev=False)
    _common(roll)
    roll.add_argument("--rollback", action="store_true",
                      help="return the scale set to the image it ran before the roll given with --run")
    roll.add_argument("--run", metavar="RUN_ID", help="with --rollback: the roll to undo (default: the latest)")
    roll.set_defaults(handler=cmd_roll)
    sweep = commands.add_parser("sweep", help="delete temporary resource groups whose time-to-live has passed",
                                allow_abbrev=False)
    sweep.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    sweep.add_argument("--runner", choices=RUNNER_NAMES, help="how az runs (default: $PYSTEPS_RUNNER or auto)")
    sweep.add_argument("--log-format", choices=LOG_FORMATS)
    sweep.set_defaults(handler=cmd_sweep)


def _common(sub) -> None:
    sub.add_argument("--config", metavar="FILE", help="YAML file of settings")
    sub.add_argument("--set", metavar="NAME=VALUE", action="append", default=[], dest="overrides",
                     help="a setting (strongest; verbatim); repeatable")
    sub.add_argument("--dry-run", action="store_true", help="call nothing: print the plan with placeholders")
    sub.add_argument("--plan-json", metavar="FILE", help="write the plan (for `pysteps validate`)")
    sub.add_argument("--resume", metavar="RUN_ID", help="continue a run from its first incomplete step")
    sub.add_argument("--runs-dir", metavar="DIR", help="where runs keep their state (default: $PYSTEPS_RUNS_DIR "
                                                       "or .pysteps/runs)")
    sub.add_argument("--runner", choices=RUNNER_NAMES, help="how az runs (default: $PYSTEPS_RUNNER or auto)")
    sub.add_argument("--log-format", choices=LOG_FORMATS, help="text (default) or json")


def _overrides(items: list[str]) -> dict[str, str]:
    overrides = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"--set {item!r}: expected NAME=VALUE")
        overrides[check_env_name(name, "--set")] = value
    return overrides


def _open_run(args, command: str):
    from pysteps.pipelines import bake as bake_module
    from pysteps.pipelines.config import load_settings
    from pysteps.pipelines.runs import Run, new_run_id, runs_dir

    log = StepLog(args.log_format)
    runs = runs_dir(args.runs_dir)
    if args.resume:
        if args.dry_run:
            raise UsageError("--resume and --dry-run do not go together: a dry run calls nothing to resume")
        return Run.resume(args.resume, runs=runs, runner_name=args.runner, log=log)
    now = datetime.now(UTC)
    run_id = new_run_id(now)
    settings = load_settings(args.config, _overrides(args.overrides), os.environ, run_id=run_id, now=now)
    extra = bake_module.run_variables(settings, now)
    run = Run.start(command, settings, run_id=run_id, runs=runs, runner_name=args.runner, dry_run=args.dry_run,
                    log=log, extra=extra)
    log.note(f"{command} run {run_id}" + (" (dry run: nothing is called)" if args.dry_run else
                                          f"; state in {run.folder}"))
    return run


def _finish(run, status: str, args) -> None:
    report = run.finish(status, args.plan_json)
    where = "" if run.dry_run else f"; report: {run.folder / 'report.html'}"
    print(f"[pysteps] {run.command} {status} in {report['duration_s']:.1f}s, {report['az_calls']} az call(s){where}",
          file=sys.stderr)
    for name, value in report["artifacts"].items():
        print(f"{name}={value}")


def _run(args, command: str, work) -> int:
    from pysteps.pipelines.runs import terminable

    run = _open_run(args, command)
    try:
        with terminable():
            work(run)
    except BaseException:
        _finish(run, "failed", args)
        raise
    _finish(run, "succeeded", args)
    return 0


def cmd_bake(args) -> int:
    from pysteps.pipelines.bake import bake
    from pysteps.pipelines.roll import roll

    def work(run):
        bake(run, keep_on_failure=args.keep_on_failure)
        if args.roll or run.command == "bake+roll":
            roll(run)

    return _run(args, "bake+roll" if args.roll else "bake", work)


def cmd_roll(args) -> int:
    from pysteps.pipelines.roll import roll

    if args.rollback:
        args.overrides = [*args.overrides, f"vmss_image={_previous_image(args)}"]
    return _run(args, "roll", roll)


def _previous_image(args) -> str:
    from pysteps.pipelines.runs import runs_dir

    runs = runs_dir(args.runs_dir)
    candidates = [runs / args.run] if args.run else sorted(runs.glob("*"), reverse=True)
    for folder in candidates:
        try:
            state = json.loads((folder / "state.json").read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            continue
        previous = state.get("notes", {}).get("previous_image")
        if previous:
            return previous
    where = f"run {args.run}" if args.run else f"any run in {runs}"
    raise UsageError(f"no previous image recorded in {where}: expected a roll that replaced an image")


def cmd_sweep(args) -> int:
    from pysteps.engine.engine import Engine
    from pysteps.engine.runners import make_runner
    from pysteps.pipelines.sweep import sweep

    engine = Engine(make_runner(args.runner), log=StepLog(args.log_format))
    deleted = sweep(engine, datetime.now(UTC), dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"[pysteps] sweep {verb} {len(deleted)} group(s){': ' + ', '.join(deleted) if deleted else ''}",
          file=sys.stderr)
    return 0
