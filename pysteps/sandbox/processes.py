"""Detached background processes of the sandbox, recorded so that a later command can find and stop them.

Each process has a name. `STATE_DIR/pids/NAME.json` records its pid, argv and start time (field 22 of
/proc/PID/stat, in clock ticks since boot); a pid whose start time differs belongs to another process that
reused the number, and is never signalled. Output goes to `STATE_DIR/logs/NAME.log`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from pysteps.engine.errors import PystepsError
from pysteps.engine.files import write_atomic

PIDS_DIR = "pids"
LOGS_DIR = "logs"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_POLL = 0.02
# Children spawned by this process, kept so that they are reaped when they exit (no zombies, and no
# "still running" ResourceWarning when a Popen object is collected).
_children: dict[int, subprocess.Popen] = {}


class SandboxError(PystepsError):
    """A sandbox service could not be started, found or stopped."""

    exit_code = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accepts_connections(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def spawn(name: str, argv: list[str], state_dir: Path, env: dict | None = None, cwd: Path | None = None) -> int:
    """Start `argv` detached (own session, no stdin, output appended to its log), record it, return its pid.

    `env` is the whole environment of the process (default: this process's).
    """
    _reap_children()
    pid = running(name, state_dir)
    if pid is not None:
        raise SandboxError(f"sandbox process {name!r} is already running (pid {pid}); stop it first")
    log = log_path(name, state_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out, open(os.devnull, "rb") as devnull:
        out.write(f"--- pysteps: starting {name} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n".encode())
        out.flush()
        try:
            child = subprocess.Popen(argv, stdin=devnull, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     start_new_session=True)
        except OSError as error:
            raise SandboxError(f"cannot start sandbox process {name!r}: {argv[0]}: {error.strerror}") from None
    _children[child.pid] = child
    record = {"name": name, "pid": child.pid, "start_time": _start_time(child.pid), "argv": [str(a) for a in argv]}
    write_atomic(_record_path(name, state_dir), json.dumps(record, indent=2) + "\n")
    return child.pid


def wait_for_port(name: str, port: int, state_dir: Path, timeout: float = 10.0) -> None:
    """Wait until 127.0.0.1:`port` accepts connections; fail if process `name` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while not accepts_connections(port):
        if running(name, state_dir) is None:
            raise SandboxError(f"sandbox process {name!r} exited before listening on 127.0.0.1:{port}; "
                               f"last log line: {_last_log_line(name, state_dir)}")
        if time.monotonic() > deadline:
            raise SandboxError(f"sandbox process {name!r} is not listening on 127.0.0.1:{port} after "
                               f"{timeout:g} s; last log line: {_last_log_line(name, state_dir)}")
        time.sleep(_POLL)


def running(name: str, state_dir: Path) -> int | None:
    """The pid of recorded process `name` if that very process is still alive, else None."""
    record = _read_record(name, state_dir)
    if record is None or not _is_alive(record["pid"], record["start_time"]):
        return None
    return record["pid"]


def stop(name: str, state_dir: Path, timeout: float = 5.0) -> bool:
    """Stop process `name` and its process group (SIGTERM, then SIGKILL after `timeout`); True if it was running.

    The record is removed either way. A pid now used by another process (start time differs) is left alone.
    """
    record = _read_record(name, state_dir)
    if record is None:
        return False
    pid, start_time = record["pid"], record["start_time"]
    stopped = _is_alive(pid, start_time)
    if stopped:
        _signal(pid, signal.SIGTERM)
        if not _wait_gone(pid, start_time, timeout):
            _signal(pid, signal.SIGKILL)
            if not _wait_gone(pid, start_time, timeout):
                raise SandboxError(f"sandbox process {name!r} (pid {pid}) survived SIGKILL for {timeout:g} s")
    _record_path(name, state_dir).unlink(missing_ok=True)
    return stopped


def names(state_dir: Path) -> list[str]:
    """The names of the recorded processes, sorted."""
    folder = Path(state_dir) / PIDS_DIR
    return sorted(path.stem for path in folder.glob("*.json")) if folder.is_dir() else []


def log_path(name: str, state_dir: Path) -> Path:
    """Where the output of process `name` goes."""
    return Path(state_dir) / LOGS_DIR / f"{_checked(name)}.log"


def _last_log_line(name: str, state_dir: Path) -> str:
    """The last non-empty line of the log of `name`, or a note that there is none."""
    try:
        with open(log_path(name, state_dir), "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 8192))
            tail = log.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else "(log is empty)"


def _checked(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise SandboxError(f"bad sandbox process name {name!r}: expected letters, digits, '.', '_' or '-'")
    return name


def _record_path(name: str, state_dir: Path) -> Path:
    return Path(state_dir) / PIDS_DIR / f"{_checked(name)}.json"


def _read_record(name: str, state_dir: Path) -> dict | None:
    path = _record_path(name, state_dir)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise SandboxError(f"cannot read pid record {path}: {error}") from None
    if not (isinstance(record, dict) and all(isinstance(record.get(key), int) for key in ("pid", "start_time"))):
        raise SandboxError(f"bad pid record {path}: expected a JSON object with integer 'pid' and 'start_time'")
    return record


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time) of `pid` from /proc/PID/stat, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Field 2, the command name, is in parentheses and may itself hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def _start_time(pid: int) -> int:
    stat = _proc_stat(pid)
    if stat is None:
        raise SandboxError(f"process {pid} vanished before its start time could be read")
    return stat[1]


def _is_alive(pid: int, start_time: int) -> bool:
    """Whether `pid` is the recorded process (same start time) and has not exited (zombies count as gone)."""
    _reap_children()
    stat = _proc_stat(pid)
    return stat is not None and stat[1] == start_time and stat[0] not in ("Z", "X")


def _reap_children() -> None:
    """Collect the exit status of every child of ours that ended, wherever it was stopped from."""
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the process group that `pid` leads, or `pid` alone if it has left its own group."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _wait_gone(pid: int, start_time: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_alive(pid, start_time):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL)
    return True
