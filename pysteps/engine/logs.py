"""Step logs: one line when a step starts, one when it ends; as text for people or JSON for machines.

Everything shown passes through a `Redactor`, so secret values and the values of secret-bearing
flags (`--password`, `--client-secret`, ...) never reach a log, a plan or a report.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from pysteps.engine.errors import UsageError

LOG_FORMATS = ("text", "json")
LOG_FORMAT_ENV = "PYSTEPS_LOG_FORMAT"
MASK = "****"
SECRET_FLAGS = frozenset({
    "--password", "--admin-password", "--client-secret", "--secret", "--value", "--sas-token",
    "--account-key", "--connection-string", "--service-principal-secret",
})


class Redactor:
    """Masks known secret values anywhere in a text, and the values of secret-bearing flags."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        self.add(secrets)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= 3)

    def text(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def argv(self, argv: Iterable[str]) -> list[str]:
        shown, hide_next = [], False
        for arg in argv:
            if hide_next:
                shown.append(MASK)
                hide_next = False
                continue
            flag, eq, _ = arg.partition("=")
            if flag in SECRET_FLAGS:
                if eq:
                    shown.append(f"{flag}={MASK}")
                    continue
                hide_next = True
            shown.append(self.text(arg))
        return shown


class StepLog:
    """Writes step events to `stream` (stderr by default) in the chosen format."""

    def __init__(self, fmt: str | None = None, stream=None, redactor: Redactor | None = None):
        fmt = fmt or os.environ.get(LOG_FORMAT_ENV) or "text"
        if fmt not in LOG_FORMATS:
            raise UsageError(f"unknown log format {fmt!r}: expected one of {', '.join(LOG_FORMATS)}")
        self.format = fmt
        self.stream = stream or sys.stderr
        self.redactor = redactor or Redactor()

    def start(self, step: str, argv: list[str], *, dry_run: bool) -> float:
        shown = self.redactor.argv(argv)
        suffix = " (dry run)" if dry_run else ""
        self._emit("step.start", f"{step}{suffix}: {shlex.join(['az', *shown])}", step=step, argv=shown,
                   dry_run=dry_run)
        return time.monotonic()

    def retry(self, step: str, attempt: int, delay: float, reason: str) -> None:
        reason = self.redactor.text(reason)
        self._emit("step.retry", f"{step}: attempt {attempt} failed ({reason}); retrying in {delay:.1f}s",
                   step=step, attempt=attempt, delay_s=round(delay, 2), reason=reason)

    def skip(self, step: str, reason: str, exported: list[str]) -> None:
        names = ", ".join(exported) if exported else "nothing"
        self._emit("step.skip", f"{step}: skipped, {reason}; exported {names}", step=step, reason=reason,
                   exported=exported)

    def note(self, message: str, **fields) -> None:
        """A line about the run itself (not one step): cleanup, resume, rollout progress."""
        self._emit("run.note", message, **fields)

    def warning(self, step: str, message: str) -> None:
        message = self.redactor.text(message)
        self._emit("step.warning", f"{step}: az warning: {message}", step=step, warning=message)

    def end(self, step: str, started: float, exported: list[str], attempts: int) -> float:
        duration = time.monotonic() - started
        names = ", ".join(exported) if exported else "nothing"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        self._emit("step.end", f"{step}: done in {duration:.2f}s{tries}, exported {names}", step=step,
                   duration_s=round(duration, 3), exported=exported, attempts=attempts)
        return duration

    def fail(self, step: str, started: float, message: str, attempts: int) -> None:
        duration = time.monotonic() - started
        message = self.redactor.text(message)
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        # In text the error itself follows as the command's one-line error; JSON carries it here.
        self._emit("step.fail", f"{step}: failed in {duration:.2f}s{tries}", step=step,
                   duration_s=round(duration, 3), attempts=attempts, error=message)

    def _emit(self, event: str, text: str, **fields) -> None:
        if self.format == "json":
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            line = json.dumps({"ts": stamp, "event": event, **fields}, ensure_ascii=False)
        else:
            line = f"[pysteps] {text}"
        print(line, file=self.stream, flush=True)
