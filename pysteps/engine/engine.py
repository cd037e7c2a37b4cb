"""The engine runs steps in order: check references, render argv, run with retries, export, record.

Nothing runs until every `${NAME}` of every step is known to resolve (from an earlier step's
exports, the run's variables or the environment). Each finished step is committed to the run
directory before the next starts, so a failure leaves the outputs of the steps that succeeded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pysteps.engine.errors import ExportError, StepFailed, UsageError
from pysteps.engine.logs import Redactor, StepLog
from pysteps.engine.plan import PlanEntry
from pysteps.engine.retry import RetryPolicy, call_with_retries
from pysteps.engine.rundir import RunDir, RunState
from pysteps.engine.runners import AzCallFailed, AzOutput, Runner, output_format
from pysteps.engine.step import Step, chain


@dataclass
class StepResult:
    """What one step did: its argv as shown (redacted), its exports, how long, how many attempts."""

    step: str
    argv: list[str]
    exports: dict[str, str]
    duration_s: float
    attempts: int
    plan: PlanEntry = field(repr=False, default=None)
    output: str = field(repr=False, default="")


class Engine:
    """Runs steps with one runner, recording exports in an optional run directory."""

    def __init__(self, runner: Runner, *, run_dir: RunDir | None = None, log: StepLog | None = None,
                 retry: RetryPolicy | None = None, variables: Mapping[str, str] | None = None,
                 environ: Mapping[str, str] | None = None, sleep=time.sleep):
        self.runner = runner
        self.run_dir = run_dir
        self.log = log or StepLog()
        self.redactor: Redactor = self.log.redactor
        self.retry = retry or RetryPolicy.from_env()
        self.variables = dict(variables or {})
        self.environ = os.environ if environ is None else environ
        self.state = run_dir.load() if run_dir else RunState()
        self.secret_exports: dict[str, str] = {}
        self.results: list[StepResult] = []
        self._sleep = sleep

    @property
    def dry_run(self) -> bool:
        return not self.runner.executes

    def lookup(self) -> Mapping[str, str]:
        """Names in resolution order: earlier exports, then run variables, then the environment."""
        return chain(self.secret_exports, self.state.exports, self.variables, self.environ)

    def check(self, steps: Iterable[Step]) -> None:
        """Fail before anything runs if a step refers to an unknown name or cannot export."""
        known = set(self.lookup())
        for step in steps:
            for name in step.references():
                if name not in known:
                    raise UsageError(
                        f"step {step.name}: unknown variable ${{{name}}}: expected an export of an earlier step, "
                        "a run variable or an environment variable"
                    )
                if not self.dry_run and name in self.state.placeholders and name not in self.variables:
                    raise UsageError(
                        f"step {step.name}: ${{{name}}} holds the dry-run placeholder "
                        f"{self.state.exports.get(name)!r}: expected a real value; run its producing step for real"
                    )
            fmt = output_format(list(step.argv))
            if step.exports and fmt not in (None, "json", "jsonc"):
                raise UsageError(f"step {step.name}: --output {fmt} cannot be exported from: expected JSON output "
                                 "(drop --output or use json)")
            known.update(export.name for export in step.exports)

    def run(self, steps: list[Step]) -> list[StepResult]:
        """Check all steps, then run them in order; stop at the first failure."""
        self.check(steps)
        return [self.run_step(step) for step in steps]

    def run_step(self, step: Step) -> StepResult:
        lookup = self.lookup()
        argv = step.render(lookup)
        self.redactor.add(step.secret_values(lookup))
        self.redactor.add(self.secret_exports.values())
        shown = self.redactor.argv(argv)
        started_at = datetime.now(UTC)
        started = self.log.start(step.name, argv, dry_run=self.dry_run)
        attempts = 1
        try:
            output, attempts = call_with_retries(
                lambda: self.runner.run(argv, self.redactor.secrets), self.retry, sleep=self._sleep,
                on_retry=lambda attempt, wait, failure: self.log.retry(step.name, attempt, wait, failure.message),
            )
            values = self._extract(step, output)
        except AzCallFailed as failure:
            attempts = getattr(failure, "attempts", attempts)
            self.log.fail(step.name, started, failure.message, attempts)
            raise StepFailed(f"step {step.name} failed: {self.redactor.text(failure.message)}") from None
        except ExportError as error:
            self.log.fail(step.name, started, str(error), attempts)
            raise
        for warning in output.warnings:
            self.log.warning(step.name, warning)
        secret = {export.name for export in step.exports if export.secret}
        self.redactor.add(values[name] for name in secret if name in values)
        self.secret_exports.update({name: values[name] for name in secret if name in values})
        duration = self.log.end(step.name, started, sorted(values), attempts)
        record = {
            "step": step.name, "argv": shown, "exports": sorted(values), "started_at": started_at.isoformat(),
            "duration_s": round(duration, 3), "attempts": attempts, "runner": self.runner.name,
        }
        self._commit(record, values, secret)
        plan = PlanEntry(step=step.name, argv=shown, exports=tuple(step.exports))
        result = StepResult(step.name, shown, {k: v for k, v in values.items() if k not in secret}, duration,
                            attempts, plan, self.redactor.text(output.text))
        self.results.append(result)
        return result

    def probe(self, step: Step) -> bool:
        """True when the step's effect is already in place (its probe passes); records the probe's exports."""
        if step.probe is None or not self.runner.executes:
            return False
        argv = step.render(self.lookup(), step.probe.argv)
        started_at = datetime.now(UTC)
        started = time.monotonic()
        try:
            output, attempts = call_with_retries(lambda: self.runner.run(argv, self.redactor.secrets), self.retry,
                                                 sleep=self._sleep)
            document = output.json(f"the probe of step {step.name}")
            if not step.probe.satisfied_by(document):
                return False
            values = {}
            for export in step.probe.exports:
                value = export.extract(document, step.name)
                if value is not None:
                    values[export.name] = value
        except (AzCallFailed, ExportError):
            return False
        duration = time.monotonic() - started
        self.log.skip(step.name, "its effect is already in place", sorted(values))
        record = {"step": step.name, "probe": True, "argv": self.redactor.argv(argv), "exports": sorted(values),
                  "started_at": started_at.isoformat(), "duration_s": round(duration, 3), "attempts": attempts,
                  "runner": self.runner.name}
        self._commit(record, values, set())
        return True

    def _extract(self, step: Step, output: AzOutput) -> dict[str, str]:
        if output.placeholder:
            return {export.name: export.placeholder(step.name) for export in step.exports}
        if not step.exports:
            return {}
        document = output.json(f"step {step.name}")
        values = {}
        for export in step.exports:
            value = export.extract(document, step.name)
            if value is not None:
                values[export.name] = value
        return values

    def _commit(self, record: dict, values: dict[str, str], secret: set[str]) -> None:
        if self.run_dir is None:
            self.state.record(record, values, secret=secret, placeholder=self.dry_run)
            return
        with self.run_dir.locked():
            state = self.run_dir.load()  # another process may have added exports meanwhile
            state.record(record, values, secret=secret, placeholder=self.dry_run)
            self.run_dir.commit(state)
            self.state = state
