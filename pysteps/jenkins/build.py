"""`pysteps jenkins build JOB -p NAME=VALUE ... [--follow]`: trigger a build, wait for it, exit by its result.

The trigger answers with a queue item; the item is polled until an executor takes it (or someone
cancels it). With --follow the console is streamed as it grows (`logText/progressiveText`, which
answers the text from `start` on, the next `start` in X-Text-Size, and X-More-Data while the build
runs), then the build's result decides the exit code.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from pysteps.engine.errors import PystepsError, UsageError

EXIT_CODES = {"SUCCESS": 0, "FAILURE": 1, "UNSTABLE": 3, "ABORTED": 4, "NOT_BUILT": 5}
JENKINS_ERROR_EXIT = 6


class JenkinsError(PystepsError):
    """Jenkins could not be reached, or refused or did not understand a request."""

    exit_code = JENKINS_ERROR_EXIT


@dataclass
class Build:
    job: str
    number: int | None  # None: cancelled while queued
    url: str = ""


def parse_parameters(items: list[str]) -> dict[str, str]:
    parameters = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise UsageError(f"-p {item!r}: expected NAME=VALUE")
        parameters[name] = value
    return parameters


@contextlib.contextmanager
def jenkins_errors(what: str):
    """Turn python-jenkins' and requests' errors into one line naming what was asked."""
    import requests

    import jenkins

    try:
        yield
    except (jenkins.JenkinsException, requests.RequestException) as error:
        raise JenkinsError(f"{what}: {' '.join(str(error).split()) or type(error).__name__}") from None


def trigger(server, job: str, parameters: dict[str, str]) -> int:
    """Start a build; the queue item number."""
    with jenkins_errors(f"Jenkins at {server.server} refused to build {job!r}"):
        if not server.job_exists(job):
            raise UsageError(f"job {job!r} does not exist on {server.server}: expected a deployed job "
                             "(pysteps jenkins deploy)")
        return server.build_job(job, parameters or None)


def wait_for_start(server, job: str, queue_item: int, *, poll: float, sleep: Callable = time.sleep,
                   say: Callable = print) -> Build:
    """Poll the queue item until a build has a number (or the item was cancelled)."""
    reason = None
    while True:
        with jenkins_errors(f"queue item {queue_item} of {job!r}"):
            item = server.get_queue_item(queue_item)
        executable = item.get("executable")
        if executable and executable.get("number"):
            return Build(job, int(executable["number"]), executable.get("url", ""))
        if item.get("cancelled"):
            return Build(job, None)
        if item.get("why") and item["why"] != reason:
            reason = item["why"]
            say(f"[pysteps] {job}: queued: {reason}", file=sys.stderr)
        sleep(poll)


def stream_console(server, build: Build, out, *, poll: float, sleep: Callable = time.sleep) -> None:
    """Copy the build's console to `out` as it grows, until Jenkins says there is no more."""
    start = 0
    while True:
        response = _get(server, f"{job_path(build.job)}/{build.number}/logText/progressiveText?start={start}")
        if response.text:
            out.write(response.text)
            out.flush()
        start = int(response.headers.get("X-Text-Size", start))
        if response.headers.get("X-More-Data", "").lower() != "true":
            return
        sleep(poll)


def wait_for_result(server, build: Build, *, poll: float, sleep: Callable = time.sleep) -> str:
    """The build's result once it has one (it may lag the end of the console by a moment)."""
    while True:
        with jenkins_errors(f"build {build.job} #{build.number}"):
            info = server.get_build_info(build.job, build.number)
        if not info.get("building") and info.get("result"):
            return info["result"]
        sleep(poll)


def exit_code(result: str) -> int:
    if result not in EXIT_CODES:
        raise JenkinsError(f"build result {result!r}: expected one of {', '.join(EXIT_CODES)}")
    return EXIT_CODES[result]


def job_path(job: str) -> str:
    """`job/a/job/b` for the job `a/b` (a job in a folder)."""
    return "/".join(f"job/{quote(part, safe='')}" for part in job.split("/"))


def _get(server, path: str):
    import requests

    with jenkins_errors(f"GET {server.server}{path}"):
        return server.jenkins_request(requests.Request("GET", server.server + path))
