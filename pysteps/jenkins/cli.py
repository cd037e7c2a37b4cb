"""The `pysteps jenkins` commands: deploy, build, and what the shared library's vars call (exec, cleanup)."""

from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path

from pysteps.engine.errors import UsageError
from pysteps.engine.logs import LOG_FORMATS, StepLog
from pysteps.engine.runners import RUNNER_NAMES
from pysteps.jenkins.jobs import DEFAULT_JOBS_DIR

EXIT_CODES_HELP = ("exit codes: 0 SUCCESS, 1 FAILURE, 3 UNSTABLE, 4 ABORTED, 5 NOT_BUILT (also: cancelled in the "
                   "queue), 2 bad input, 6 Jenkins unreachable or refused a request, 130 interrupted (the build "
                   "goes on)")


def add_commands(commands) -> None:
    jenkins = commands.add_parser("jenkins", help="deploy Jenkins jobs, trigger builds, and the vars' helpers",
                                  description="The Jenkins side: jobs from jenkins/jobs, builds, and the commands "
                                              "the shared library's vars run.", allow_abbrev=False)
    actions = jenkins.add_subparsers(dest="action", required=True, metavar="ACTION")

    deploy = _action(actions, "deploy", cmd_deploy, "render the Jenkins Job Builder YAML and create or update the jobs")
    deploy.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help=f"YAML files or folders (default: {DEFAULT_JOBS_DIR})")
    deploy.add_argument("--job", action="append", default=[], metavar="GLOB", dest="jobs",
                        help="only the jobs whose names match (fnmatch); repeatable")
    deploy.add_argument("--dry-run", action="store_true", help="render and list the jobs, change nothing")
    _server_options(deploy)

    build = _action(actions, "build", cmd_build, "trigger a parameterized build and wait for it",
                    epilog=EXIT_CODES_HELP)
    build.add_argument("job", metavar="JOB", help="the job's full name (folder/job for a job in a folder)")
    build.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE", dest="parameters",
                       help="a build parameter (verbatim); repeatable")
    build.add_argument("--follow", action="store_true",
                       help="stream the console until the build ends, and exit with its result")
    build.add_argument("--poll-interval", type=float, default=2.0, metavar="SECONDS",
                       help="seconds between polls of the queue, the console and the result (default 2)")
    _server_options(build)

    run = _action(actions, "exec", cmd_exec, "run the pysteps command a request file describes (for the vars)")
    run.add_argument("request", type=Path, metavar="REQUEST.json", help="written by the pysteps var")

    cleanup = _action(actions, "cleanup", cmd_cleanup,
                      "delete the temporary resource groups that the bake runs in RUNS_DIR left behind")
    cleanup.add_argument("runs_dir", type=Path, metavar="RUNS_DIR", help="a runs directory ($PYSTEPS_RUNS_DIR)")
    cleanup.add_argument("--runner", choices=RUNNER_NAMES, help="how az runs (default: $PYSTEPS_RUNNER or auto)")
    cleanup.add_argument("--log-format", choices=LOG_FORMATS, help="text (default) or json")


def _action(actions, name, handler, help_text, epilog=None):
    sub = actions.add_parser(name, help=help_text, description=help_text, epilog=epilog, allow_abbrev=False)
    sub.set_defaults(handler=handler)
    return sub


def _server_options(sub) -> None:
    sub.add_argument("--url", help="Jenkins' URL (default: $JENKINS_URL)")
    sub.add_argument("--user", help="user name (default: $JENKINS_USER); the API token comes from $JENKINS_API_TOKEN")


def _server(args):
    try:
        import jenkins
    except ImportError:
        raise UsageError("pysteps jenkins deploy and build need python-jenkins: expected pysteps[jenkins] "
                         "installed (pip install 'pysteps[jenkins]')") from None
    url = args.url or os.environ.get("JENKINS_URL")
    if not url or not url.startswith(("http://", "https://")):
        raise UsageError(f"Jenkins URL {url!r}: expected http(s)://... in --url or $JENKINS_URL")
    user = args.user or os.environ.get("JENKINS_USER")
    token = os.environ.get("JENKINS_API_TOKEN")
    if bool(user) != bool(token):
        raise UsageError("Jenkins credentials: expected both a user (--user or $JENKINS_USER) and "
                         "$JENKINS_API_TOKEN, or neither (anonymous)")
    return jenkins.Jenkins(url, username=user or None, password=token or None, timeout=60)


def cmd_deploy(args) -> int:
    from pysteps.jenkins.build import jenkins_errors
    from pysteps.jenkins.jobs import render_jobs, upsert

    jobs = render_jobs(args.paths or [DEFAULT_JOBS_DIR])
    if args.jobs:
        jobs = {name: xml for name, xml in jobs.items() if any(fnmatch.fnmatchcase(name, g) for g in args.jobs)}
        if not jobs:
            raise UsageError(f"--job {' '.join(args.jobs)}: no job matches: expected one of the jobs in "
                             f"{', '.join(map(str, args.paths or [DEFAULT_JOBS_DIR]))}")
    if args.dry_run:
        for name in sorted(jobs):
            print(f"{name}: would create or update")
        return 0
    server = _server(args)
    for name in sorted(jobs):
        with jenkins_errors(f"Jenkins at {server.server} refused job {name!r}"):
            print(f"{name}: {upsert(server, name, jobs[name])}")
    return 0


def cmd_build(args) -> int:
    from pysteps.jenkins.build import (
        exit_code,
        parse_parameters,
        stream_console,
        trigger,
        wait_for_result,
        wait_for_start,
    )

    if args.poll_interval <= 0:
        raise UsageError(f"--poll-interval {args.poll_interval}: expected a positive number of seconds")
    parameters = parse_parameters(args.parameters)
    server = _server(args)
    queue_item = trigger(server, args.job, parameters)
    print(f"[pysteps] {args.job}: queued as item {queue_item}", file=sys.stderr)
    build = wait_for_start(server, args.job, queue_item, poll=args.poll_interval)
    if build.number is None:
        print(f"[pysteps] {args.job}: the queued build was cancelled: NOT_BUILT", file=sys.stderr)
        return exit_code("NOT_BUILT")
    print(f"[pysteps] {args.job} #{build.number} started {build.url}".rstrip(), file=sys.stderr)
    if not args.follow:
        return 0
    stream_console(server, build, sys.stdout, poll=args.poll_interval)
    result = wait_for_result(server, build, poll=args.poll_interval)
    print(f"[pysteps] {args.job} #{build.number}: {result}", file=sys.stderr)
    return exit_code(result)


def cmd_exec(args) -> int:
    from pysteps.jenkins.request import execute

    return execute(args.request)


def cmd_cleanup(args) -> int:
    from pysteps.engine.engine import Engine
    from pysteps.engine.runners import make_runner
    from pysteps.jenkins.cleanup import delete_left_behind, temporary_groups

    groups = temporary_groups(args.runs_dir)
    if not groups:
        print(f"[pysteps] cleanup: no bake runs in {args.runs_dir}", file=sys.stderr)
        return 0
    engine = Engine(make_runner(args.runner), log=StepLog(args.log_format))
    deleted, failed = delete_left_behind(engine, groups)
    print(f"[pysteps] cleanup: {len(groups)} temporary group(s) checked, deleted: {', '.join(deleted) or 'none'}"
          + (f", could not delete: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return 1 if failed else 0
