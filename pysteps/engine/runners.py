"""Runners execute one az argv: in this process (fast), as an `az` subprocess, or not at all (dry run).

Every runner returns an `AzOutput` or raises `AzCallFailed` carrying az's own message and what
is known about the failure (error type, HTTP status, Retry-After) for the retry classifier.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from pysteps.engine.errors import ExportError, UsageError

RUNNER_ENV = "PYSTEPS_RUNNER"
RUNNER_NAMES = ("auto", "inprocess", "subprocess", "dry-run")


@dataclass
class AzOutput:
    """What an az command printed: parsed JSON in `value`, the printed text in `text`."""

    value: Any = None
    text: str = ""
    parsed: bool = True
    placeholder: bool = False
    warnings: list[str] = field(default_factory=list)

    def json(self, command: str) -> Any:
        if not self.parsed:
            sample = " ".join(self.text.split())[:80]
            raise ExportError(f"{command} printed non-JSON output {sample!r}: expected JSON to export from")
        return self.value


class AzCallFailed(Exception):
    """One failed az invocation, described well enough to decide whether to retry it."""

    def __init__(self, message: str, *, exit_code: int = 1, error_type: str = "", status: int | None = None,
                 retry_after: float | None = None, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail or message
        self.exit_code = exit_code
        self.error_type = error_type
        self.status = status
        self.retry_after = retry_after


class Runner:
    """Runs one az argv (without the leading 'az')."""

    name = "runner"
    executes = True

    def run(self, argv: list[str], secrets: Collection[str] = ()) -> AzOutput:
        """Run az with `argv`; `secrets` are values that must not appear where other processes see them."""
        raise NotImplementedError


class DryRunRunner(Runner):
    """Runs nothing; exports become visible placeholders so later steps still render."""

    name = "dry-run"
    executes = False

    def run(self, argv: list[str], secrets: Collection[str] = ()) -> AzOutput:
        return AzOutput(placeholder=True)


class InProcessRunner(Runner):
    """Calls azure-cli in this process (`get_default_cli().invoke`), a fresh CLI object per call."""

    name = "inprocess"

    def __init__(self):
        if not inprocess_available():
            raise UsageError(
                "azure-cli is not installed in this Python "
                f"({sys.executable}): expected `pip install 'pysteps[az]'`, or use --runner subprocess"
            )
        from azure.cli.core import get_default_cli

        self._new_cli = get_default_cli

    def run(self, argv: list[str], secrets: Collection[str] = ()) -> AzOutput:
        # The argv never leaves this process, so secrets need no special handling here.
        cli = self._new_cli()
        out = io.StringIO()
        records = _LogRecords()
        cli_logger = logging.getLogger("cli")
        cli_logger.addHandler(records)
        try:
            # az binds its console handler to the stderr of its first call: give it a sink that
            # stays silent, and take warnings and errors from our own handler instead.
            with contextlib.redirect_stderr(_DISCARD):
                try:
                    exit_code = cli.invoke(list(argv), out_file=out)
                except SystemExit as exc:  # argparse errors leave knack as SystemExit(2)
                    exit_code = exc.code if isinstance(exc.code, int) else 2
        finally:
            cli_logger.removeHandler(records)
        result = cli.result
        error = getattr(result, "error", None)
        if isinstance(error, KeyboardInterrupt):  # knack swallows Ctrl-C; we must not
            raise KeyboardInterrupt
        if exit_code:
            raise _failure_from_exception(error, records.errors, exit_code)
        return AzOutput(value=getattr(result, "result", None), text=out.getvalue(), warnings=records.warnings)


class SubprocessRunner(Runner):
    """Runs `az` from PATH (or `az_path`) with JSON output."""

    name = "subprocess"

    def __init__(self, az_path: str | None = None, timeout: float | None = None):
        found = shutil.which(az_path or os.environ.get("PYSTEPS_AZ", "az"))
        if not found:
            raise UsageError(
                f"{az_path or 'az'} not found on PATH: expected the Azure CLI "
                "(`pip install azure-cli` or your OS package), or use --runner inprocess"
            )
        self.az = found
        self.timeout = timeout

    def run(self, argv: list[str], secrets: Collection[str] = ()) -> AzOutput:
        env = {**os.environ, "AZURE_CORE_NO_COLOR": "true", "AZURE_CORE_ONLY_SHOW_ERRORS": "false"}
        with tempfile.TemporaryDirectory(prefix="pysteps-az-") as private:
            command = [self.az, *_secrets_to_files(argv, secrets, private)]
            if output_format(argv) is None:
                command += ["--output", "json"]
            try:
                done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=self.timeout,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise AzCallFailed(f"az did not finish within {self.timeout:g}s", error_type="Timeout") from None
        if done.returncode:
            message = _last_error_line(done.stderr) or f"az exited with code {done.returncode}"
            raise AzCallFailed(message, exit_code=done.returncode, error_type="subprocess", detail=done.stderr)
        warnings = [line[len("WARNING:"):].strip() for line in done.stderr.splitlines() if line.startswith("WARNING:")]
        text = done.stdout
        if not text.strip():
            return AzOutput(value=None, text=text, warnings=warnings)
        try:
            return AzOutput(value=json.loads(text), text=text, warnings=warnings)
        except json.JSONDecodeError:
            return AzOutput(value=None, text=text, parsed=False, warnings=warnings)


def inprocess_available() -> bool:
    """True when this Python has azure-cli with its command modules (not just azure-cli-core)."""
    try:
        return importlib.util.find_spec("azure.cli.command_modules.vm") is not None
    except ModuleNotFoundError:
        return False


def make_runner(name: str | None = None, *, dry_run: bool = False) -> Runner:
    """Choose a runner: `name`, else $PYSTEPS_RUNNER, else in-process when available, else subprocess."""
    if dry_run:
        return DryRunRunner()
    name = name or os.environ.get(RUNNER_ENV) or "auto"
    if name not in RUNNER_NAMES:
        raise UsageError(f"unknown runner {name!r}: expected one of {', '.join(RUNNER_NAMES)}")
    if name == "dry-run":
        return DryRunRunner()
    if name == "inprocess" or (name == "auto" and inprocess_available()):
        return InProcessRunner()
    return SubprocessRunner()


def _secrets_to_files(argv: list[str], secrets: Collection[str], folder: str) -> list[str]:
    """Move each argument holding a secret into a 0600 file passed as az's `@file`, off the command line."""
    if not secrets:
        return list(argv)
    out = []
    for index, arg in enumerate(argv):
        if not any(secret in arg for secret in secrets):
            out.append(arg)
            continue
        flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        path = os.path.join(folder, f"arg{index}")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
            handle.write(value if eq else arg)
        out.append(f"{flag}=@{path}" if eq else f"@{path}")
    return out


def output_format(argv: list[str]) -> str | None:
    """The value of `--output`/`-o` in argv, if given."""
    for index, arg in enumerate(argv):
        if arg in ("--output", "-o") and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--output="):
            return arg.split("=", 1)[1]
    return None


class _LogRecords(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            (self.errors if record.levelno >= logging.ERROR else self.warnings).append(record.getMessage())


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


_DISCARD = _Discard()


def _failure_from_exception(error: BaseException | None, logged: list[str], exit_code: int) -> AzCallFailed:
    message = next((m for m in logged if m.strip()), "") or (str(error) if error else "")
    message = " ".join(message.split()) or f"az failed with exit code {exit_code}"
    status = getattr(error, "status_code", None)
    response = getattr(error, "response", None)
    retry_after = _parse_retry_after(getattr(response, "headers", None) or {})
    kinds = [cls.__name__ for cls in type(error).__mro__] if error is not None else []
    detail = "\n".join([*logged, str(error) if error else ""])
    return AzCallFailed(message, exit_code=exit_code, error_type=" ".join(kinds), status=status,
                        retry_after=retry_after, detail=detail)


def _parse_retry_after(headers) -> float | None:
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("ERROR:"):
            return line[len("ERROR:"):].strip()
    return lines[-1] if lines else ""
