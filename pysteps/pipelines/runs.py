"""A run of `pysteps bake` or `roll`: its folder, its state (for --resume), signals, and its report.

    .pysteps/runs/<run id>/state.json      settings, the steps done, what a rollback needs
    .pysteps/runs/<run id>/run.json ...    the run directory of the engine (exports)
    .pysteps/runs/<run id>/report.json     and report.html: steps, durations, az calls, resources

On resume, each step recorded as done is checked with its probe (the image exists, the VM is
generalized) rather than trusted; the first step whose probe fails runs again, and so does every
step after it. Names are fixed when the run starts, so reruns reuse them and create no duplicates.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import secrets
import signal
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from pysteps.catalog import get_step
from pysteps.engine.engine import Engine
from pysteps.engine.errors import PystepsError, UsageError
from pysteps.engine.files import write_atomic
from pysteps.engine.logs import StepLog
from pysteps.engine.plan import PlanEntry, write_plan
from pysteps.engine.rundir import RunDir
from pysteps.engine.runners import make_runner

RUNS_ENV = "PYSTEPS_RUNS_DIR"
DEFAULT_RUNS = ".pysteps/runs"


class Terminated(BaseException):
    """SIGTERM (a Jenkins abort): unwinds like Ctrl-C so that cleanup runs."""


class RunFailed(PystepsError):
    exit_code = 1


def runs_dir(path: str | None) -> Path:
    return Path(path or os.environ.get(RUNS_ENV) or DEFAULT_RUNS)


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@contextlib.contextmanager
def terminable():
    """Turn SIGTERM into `Terminated` for the duration, so `finally` blocks (cleanup) run."""
    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def shielded():
    """While cleaning up, a second SIGTERM or Ctrl-C must not stop the cleanup."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class StepRecord:
    key: str
    step: str
    status: str  # done, skipped (probe), failed, planned
    started: float
    duration_s: float = 0.0
    attempts: int = 0


@dataclass
class Run:
    """One run: settings, engine, state and report, resumable."""

    run_id: str
    command: str
    folder: Path
    settings: dict
    engine: Engine
    extra: dict = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    resuming: bool = False
    records: list[StepRecord] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    plan: list[PlanEntry] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    status: str = "running"

    @property
    def dry_run(self) -> bool:
        return self.engine.dry_run

    @property
    def log(self) -> StepLog:
        return self.engine.log

    # --- creating and resuming ------------------------------------------------------------

    @classmethod
    def start(cls, command: str, settings: dict, *, run_id: str, runs: Path, runner_name: str | None,
              dry_run: bool, log: StepLog, extra: dict | None = None) -> Run:
        folder = runs / run_id
        if folder.exists() and not dry_run:
            raise UsageError(f"run {run_id} already exists in {runs}: expected a new run, or --resume {run_id}")
        run = cls(run_id, command, folder, settings,
                  _engine(folder, settings, run_id, runner_name, dry_run, log, extra), extra=extra or {})
        run.save()
        return run

    @classmethod
    def resume(cls, run_id: str, *, runs: Path, runner_name: str | None, log: StepLog) -> Run:
        folder = runs / run_id
        try:
            state = json.loads((folder / "state.json").read_text())
        except FileNotFoundError:
            raise UsageError(f"no run {run_id!r} in {runs}: expected the id a previous run printed") from None
        settings = state["settings"]
        extra = state.get("variables") or {}
        run = cls(run_id, state["command"], folder, settings,
                  _engine(folder, settings, run_id, runner_name, False, log, extra), extra=extra,
                  done=state["done"], resuming=True, notes=state.get("notes", {}),
                  created=state.get("created", []), deleted=state.get("deleted", []),
                  artifacts=state.get("artifacts", {}))
        run.log.note(f"resuming run {run_id}: {len(run.done)} step(s) done before; checking them with probes")
        return run

    def save(self) -> None:
        if self.dry_run:
            return
        state = {"run_id": self.run_id, "command": self.command, "settings": self.settings,
                 "variables": self.extra, "done": self.done, "status": self.status,
                 "notes": self.notes, "created": self.created, "deleted": self.deleted,
                 "artifacts": self.artifacts, "updated": datetime.now(UTC).isoformat()}
        write_atomic(self.folder / "state.json", json.dumps(state, indent=2, default=str))

    # --- steps ----------------------------------------------------------------------------

    def value(self, name: str, default=None):
        return self.engine.lookup().get(name, default)

    def step(self, key: str, name: str, **variables) -> bool:
        """Run catalog step `name` once in this run (as `key`); True if it ran, False if already done."""
        step = get_step(name)
        if variables:
            step = replace(step, variables=variables)
        started = time.time()
        if self.resuming and key in self.done:
            if step.probe is None or self.engine.probe(step):
                if step.probe is None:
                    self.log.skip(step.name, "done before (no probe: trusted the run state)", [])
                self.records.append(StepRecord(key, name, "skipped", started, time.time() - started))
                return False
            self.log.note(f"{name}: its probe failed; running it again, and every step after it")
        self.resuming = False
        self.engine.check([step])
        try:
            result = self.engine.run_step(step)
        except BaseException:
            self.records.append(StepRecord(key, name, "failed", started, time.time() - started))
            raise
        self.plan.append(result.plan)
        self.records.append(StepRecord(key, name, "planned" if self.dry_run else "done", started,
                                       result.duration_s, result.attempts))
        if key not in self.done:
            self.done.append(key)
        self.save()
        return True

    def forget(self, key: str) -> None:
        """Make a step run again on resume (e.g. cleanup that a later failure undid)."""
        if key in self.done:
            self.done.remove(key)
            self.save()

    # --- the end --------------------------------------------------------------------------

    def finish(self, status: str, plan_json: str | None = None) -> dict:
        self.status = status
        self.save()
        if plan_json:
            write_plan(plan_json, self.plan)
        report = self.report()
        if not self.dry_run:
            write_atomic(self.folder / "report.json", json.dumps(report, indent=2))
            write_atomic(self.folder / "report.html", report_html(report))
        return report

    def report(self) -> dict:
        return {
            "run_id": self.run_id, "command": self.command, "status": self.status,
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(),
            "duration_s": round(time.time() - self.started, 2),
            "az_calls": sum(max(r.attempts, 1) for r in self.records if r.status != "planned"),
            "steps": [{"key": r.key, "step": r.step, "status": r.status,
                       "start_s": round(r.started - self.started, 2), "duration_s": round(r.duration_s, 2),
                       "attempts": r.attempts} for r in self.records],
            "resources_created": self.created, "resources_deleted": self.deleted, "artifacts": self.artifacts,
        }


def _engine(folder: Path, settings: dict, run_id: str, runner_name, dry_run: bool, log: StepLog,
            extra: dict | None) -> Engine:
    variables = {**settings, "run_id": run_id, **(extra or {})}
    return Engine(make_runner(runner_name, dry_run=dry_run), run_dir=None if dry_run else RunDir(folder),
                  log=log, variables=variables)


def report_html(report: dict) -> str:
    """A small page: the steps as a timeline, then resources and artifacts."""
    total = max(report["duration_s"], 0.001)
    rows = []
    for step in report["steps"]:
        left = 100 * step["start_s"] / total
        width = max(100 * step["duration_s"] / total, 0.4)
        color = {"done": "#2e7d32", "skipped": "#9e9e9e", "failed": "#c62828", "planned": "#1565c0"}[step["status"]]
        rows.append(
            f"<tr><td>{html.escape(step['key'])}</td><td>{step['status']}</td><td>{step['duration_s']:.2f}s</td>"
            f"<td>{step['attempts']}</td><td class=bar><div style='margin-left:{left:.2f}%;width:{width:.2f}%;"
            f"background:{color}'>&nbsp;</div></td></tr>")
    items = lambda values: "".join(f"<li><code>{html.escape(v)}</code></li>" for v in values) or "<li>none</li>"  # noqa: E731
    artifacts = "".join(f"<li>{html.escape(k)}: <code>{html.escape(v)}</code></li>"
                        for k, v in report["artifacts"].items()) or "<li>none</li>"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>pysteps {html.escape(report['command'])} {report['run_id']}</title>
<style>body{{font:14px sans-serif;margin:2em}} table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:4px;text-align:left}} td.bar{{width:45%}} td.bar div{{height:12px}}</style>
</head><body>
<h1>pysteps {html.escape(report['command'])} &middot; {report['run_id']} &middot; {html.escape(report['status'])}</h1>
<p>{report['duration_s']:.1f} s, {report['az_calls']} az call(s), started {html.escape(report['started'])}</p>
<table><tr><th>step</th><th>status</th><th>duration</th><th>attempts</th><th>timeline</th></tr>
{''.join(rows)}</table>
<h2>Artifacts</h2><ul>{artifacts}</ul>
<h2>Resources created</h2><ul>{items(report['resources_created'])}</ul>
<h2>Resources deleted</h2><ul>{items(report['resources_deleted'])}</ul>
</body></html>
"""
