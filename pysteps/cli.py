"""The `pysteps` command line."""

from __future__ import annotations

import argparse
import os
import sys

from pysteps import __version__
from pysteps.engine.errors import PlanInvalid, PystepsError, UsageError
from pysteps.engine.exports import Export, check_env_name
from pysteps.engine.logs import LOG_FORMATS, StepLog
from pysteps.engine.rundir import RunDir, format_json, format_properties, format_shell
from pysteps.engine.runners import RUNNER_NAMES

RUN_DIR_ENV = "PYSTEPS_RUN_DIR"
DEFAULT_RUN_DIR = ".pysteps/run"
ENV_FORMATS = {"shell": format_shell, "json": format_json, "properties": format_properties}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except PystepsError as error:
        for problem in getattr(error, "problems", None) or [str(error)]:
            print(f"pysteps: error: {problem}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("pysteps: interrupted", file=sys.stderr)
        return 130
    except BaseException as error:
        if type(error).__name__ == "Terminated":  # SIGTERM, turned into an exception so that cleanup ran
            print("pysteps: terminated", file=sys.stderr)
            return 143
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pysteps", allow_abbrev=False,
        description="Azure CLI steps with exports, dry runs and validation; bake VM images and roll scale sets.",
    )
    parser.add_argument("--version", action="version", version=f"pysteps {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    az = _command(commands, "az", cmd_az, "run one az command as a step, exporting fields of its JSON output",
                  epilog="example: pysteps az --export 'id|vmss_image' -- image create -g rg -n img --source vm1")
    az.add_argument("--export", metavar="SPEC", action="append", default=[],
                    help="EXPR|ENV_NAME (JMESPath, or a /json/pointer); ENV_NAME? if optional. Repeatable.")
    az.add_argument("--secret-export", metavar="SPEC", action="append", default=[],
                    help="like --export, but the value is masked in logs and never written to the run directory")
    az.add_argument("--name", metavar="STEP", help="the step's name in logs and plans (default: the az command words)")
    az.add_argument("--quiet", action="store_true", help="do not print az's output")
    _run_options(az, plan_help="append this step to a plan file (created if missing)")
    az.add_argument("az_args", nargs=argparse.REMAINDER, metavar="-- AZ_ARGS", help="the az arguments, after --")

    run = _command(commands, "run", cmd_run, "run a pipeline: a YAML file or a built-in pipeline name")
    run.add_argument("pipeline", help="a pipeline YAML file, or a built-in name (see `pysteps steps`)")
    run.add_argument("--set", metavar="NAME=VALUE", action="append", default=[], dest="overrides",
                     help="set a run variable (verbatim, never expanded); repeatable")
    _run_options(run, plan_help="write the plan of this run to FILE")

    env = _command(commands, "env", cmd_env, "print the accumulated exports of a run")
    env.add_argument("--run-dir", metavar="DIR", help=f"run directory (default: ${RUN_DIR_ENV} or {DEFAULT_RUN_DIR})")
    env.add_argument("--format", choices=sorted(ENV_FORMATS), default="shell",
                     help="shell (for `set -a; . file`), json, or properties (for readProperties)")

    validate = _command(commands, "validate", cmd_validate,
                        "check every argv of a plan with az's own parser, offline, without logging in")
    validate.add_argument("plan", metavar="PLAN.json", help="a plan file written with --plan-json")

    steps = _command(commands, "steps", cmd_steps, "list the step catalog and the built-in pipelines")
    steps.add_argument("--markdown", action="store_true", help="print the catalog as Markdown (docs/steps.md)")

    preload = _command(commands, "preload", cmd_preload,
                       "fill a local folder (a VM's data disk) from S3, Azure Blob or a folder, resumably")
    preload.add_argument("paths", nargs="+", metavar="SRC... DEST",
                         help="sources (s3://, az://, https Blob URLs, folders), then the destination folder")
    preload.add_argument("--concurrency", type=int, default=32, help="parallel transfers (default 32)")
    preload.add_argument("--chunk-size", type=_size_arg, default=64 << 20, metavar="BYTES",
                         help="objects larger than this are fetched as parallel ranges of this size (default 64M)")
    preload.add_argument("--include", action="append", default=[], metavar="GLOB", help="only keys matching")
    preload.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip keys matching")
    preload.add_argument("--shard", type=_shard_arg, default=(0, 1), metavar="I/N",
                         help="take only shard I of N (0-based), so N machines split one data set")

    sync = _command(commands, "sync", cmd_sync,
                    "copy new objects from S3 (or any store) into Azure storage by date stamp, resumably")
    sync.add_argument("source", metavar="SRC", help="s3://bucket/prefix (or az://, a folder)")
    sync.add_argument("dest", metavar="DEST", help="az://account/container/prefix, an https Blob URL, or a folder")
    since = sync.add_mutually_exclusive_group(required=True)
    since.add_argument("--since", metavar="DATE", help="objects modified at or after DATE (ISO 8601, UTC)")
    since.add_argument("--since-last", action="store_true",
                       help="objects modified since the last run started, and any not copied yet")
    sync.add_argument("--overlap-minutes", type=int, default=60,
                      help="safety overlap before the watermark, for clock skew and multipart start times")
    sync.add_argument("--manifest", metavar="PATH", help="a local manifest file (default: in the destination)")
    sync.add_argument("--concurrency", type=int, default=32, help="parallel copies (default 32)")
    sync.add_argument("--shard", type=_shard_arg, default=(0, 1), metavar="I/N",
                      help="take only shard I of N (0-based), so N agents split one bucket")
    sync.add_argument("--dry-run", action="store_true", help="list what would be copied")

    from pysteps.access.cli import add_commands as add_access_commands
    from pysteps.jenkins.cli import add_commands as add_jenkins_commands
    from pysteps.pipelines.cli import add_commands as add_pipeline_commands
    from pysteps.sandbox.cli import add_commands as add_sandbox_commands

    add_pipeline_commands(commands)
    add_access_commands(commands)
    add_jenkins_commands(commands)
    add_sandbox_commands(commands)
    return parser


def _command(commands, name, handler, help_text, epilog=None):
    sub = commands.add_parser(name, help=help_text, description=help_text, epilog=epilog, allow_abbrev=False)
    sub.set_defaults(handler=handler)
    sub.add_argument("--log-format", choices=LOG_FORMATS, help="text (default, or $PYSTEPS_LOG_FORMAT) or json")
    return sub


def _run_options(sub, plan_help):
    sub.add_argument("--run-dir", metavar="DIR", help=f"run directory (default: ${RUN_DIR_ENV} or {DEFAULT_RUN_DIR})")
    sub.add_argument("--dry-run", action="store_true", help="run nothing; exports become visible placeholders")
    sub.add_argument("--runner", choices=RUNNER_NAMES, help="how az runs (default: $PYSTEPS_RUNNER or auto)")
    sub.add_argument("--plan-json", metavar="FILE", help=plan_help)


def _run_dir(args) -> RunDir:
    return RunDir(args.run_dir or os.environ.get(RUN_DIR_ENV) or DEFAULT_RUN_DIR)


def _engine(args, variables=None):
    from pysteps.engine.engine import Engine
    from pysteps.engine.runners import make_runner

    log = StepLog(args.log_format)
    runner = make_runner(args.runner, dry_run=args.dry_run)
    return Engine(runner, run_dir=_run_dir(args), log=log, variables=variables)


def cmd_az(args) -> int:
    from pysteps.engine.plan import write_plan
    from pysteps.engine.step import Step

    az_args = args.az_args[1:] if args.az_args[:1] == ["--"] else args.az_args
    if not az_args:
        raise UsageError("no az arguments given: expected them after --, e.g. pysteps az -- group list")
    if az_args[0] == "az":
        az_args = az_args[1:]
    step = Step.adhoc(az_args, args.export, name=args.name)
    secrets = tuple(Export.parse(spec, secret=True) for spec in args.secret_export)
    if secrets:
        step = Step(name=step.name, argv=step.argv, exports=step.exports + secrets)
    engine = _engine(args)
    engine.check([step])
    result = engine.run_step(step)
    if args.plan_json:
        write_plan(args.plan_json, [result.plan], append=True)
    if result.output and not args.quiet:
        sys.stdout.write(result.output)
    return 0


def cmd_run(args) -> int:
    from pysteps.engine.plan import write_plan
    from pysteps.pipelines import load_pipeline

    overrides = {}
    for item in args.overrides:
        name, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f"--set {item!r}: expected NAME=VALUE")
        overrides[check_env_name(name, "--set")] = value
    pipeline = load_pipeline(args.pipeline)
    engine = _engine(args, variables=pipeline.variables(overrides, os.environ))
    try:
        engine.run(pipeline.steps)
    finally:
        if args.plan_json and engine.results:
            write_plan(args.plan_json, [r.plan for r in engine.results])
    return 0


def cmd_env(args) -> int:
    state = _run_dir(args).load()
    sys.stdout.write(ENV_FORMATS[args.format](state.exports))
    return 0


def cmd_validate(args) -> int:
    from pysteps.engine.plan import read_plan
    from pysteps.engine.validate import validate

    entries = read_plan(args.plan)
    problems = validate(entries)
    for problem in problems:
        print(f"{args.plan}: {problem}", file=sys.stderr)
    if problems:
        raise PlanInvalid(f"{args.plan}: {len(problems)} problem(s) in {len(entries)} step(s)")
    print(f"{args.plan}: {len(entries)} step(s) valid")
    return 0


def cmd_preload(args) -> int:
    from pysteps.movers.preload import TransferConfig, preload

    if len(args.paths) < 2:
        raise UsageError("preload needs at least one source and a destination: pysteps preload SRC... DEST")
    if args.concurrency < 1:
        raise UsageError(f"--concurrency {args.concurrency}: expected 1 or more")
    config = TransferConfig(concurrency=args.concurrency, chunk_size=args.chunk_size, include=tuple(args.include),
                            exclude=tuple(args.exclude), shard=args.shard)
    preload(args.paths[:-1], args.paths[-1], config)
    return 0


def cmd_sync(args) -> int:
    from datetime import timedelta

    from pysteps.movers.preload import TransferConfig
    from pysteps.movers.sync import parse_since, sync

    if args.concurrency < 1 or args.overlap_minutes < 0:
        raise UsageError("--concurrency must be 1 or more and --overlap-minutes 0 or more")
    summary = sync(args.source, args.dest, since=parse_since(args.since) if args.since else None,
                   since_last=args.since_last, config=TransferConfig(concurrency=args.concurrency, shard=args.shard),
                   overlap=timedelta(minutes=args.overlap_minutes), manifest_path=args.manifest, dry_run=args.dry_run)
    return 1 if summary.failed else 0


def _size_arg(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    number, unit = text.rstrip("KMGkmg"), text[len(text.rstrip("KMGkmg")):].upper()
    if not number.isdigit() or unit not in units or int(number) == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a size such as 8M or 1048576")
    return int(number) * units[unit]


def _shard_arg(text: str) -> tuple[int, int]:
    index, slash, count = text.partition("/")
    if not (slash and index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise argparse.ArgumentTypeError(f"{text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return int(index), int(count)


def cmd_steps(args) -> int:
    from pysteps.catalog import load_catalog
    from pysteps.docs import catalog_markdown, catalog_text

    print(catalog_markdown(load_catalog()) if args.markdown else catalog_text(load_catalog()), end="")
    return 0
