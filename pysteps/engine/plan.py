"""Plan files: a JSON list of `{"step": name, "argv": [...], "exports": {ENV_NAME: EXPR}}`.

An optional export is written as `{ENV_NAME: {"expr": EXPR, "optional": true}}`. A dry run
writes the plan of exactly what a real run would send to az (secrets masked); `pysteps validate`
reads it back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pysteps.engine.errors import UsageError
from pysteps.engine.exports import Export, check_env_name
from pysteps.engine.files import write_atomic


@dataclass(frozen=True)
class PlanEntry:
    step: str
    argv: list[str]
    exports: tuple[Export, ...] = ()

    def to_json(self) -> dict:
        exports = {}
        for export in self.exports:
            exports[export.name] = {"expr": export.expr, "optional": True} if export.optional else export.expr
        return {"step": self.step, "argv": list(self.argv), "exports": exports}

    @classmethod
    def from_json(cls, item, where: str) -> PlanEntry:
        if not isinstance(item, dict):
            raise UsageError(f"{where}: expected an object with step, argv and exports, got {type(item).__name__}")
        step, argv, exports = item.get("step"), item.get("argv"), item.get("exports", {})
        if not isinstance(step, str) or not step:
            raise UsageError(f"{where}: 'step' must be a non-empty string, got {step!r}")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise UsageError(f"{where} ({step}): 'argv' must be a non-empty list of strings, got {argv!r}")
        if not isinstance(exports, dict):
            raise UsageError(f"{where} ({step}): 'exports' must be an object of ENV_NAME: EXPR, got {exports!r}")
        parsed = []
        for name, expr in exports.items():
            check_env_name(name, f"{where} ({step}) exports")
            optional = False
            if isinstance(expr, dict):
                optional = bool(expr.get("optional", False))
                expr = expr.get("expr")
            if not isinstance(expr, str):
                raise UsageError(f"{where} ({step}): export {name} needs an expression string, got {expr!r}")
            parsed.append(Export.parse(f"{expr}|{name}{'?' if optional else ''}"))
        return cls(step=step, argv=argv, exports=tuple(parsed))


def read_plan(path: str | os.PathLike) -> list[PlanEntry]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"plan file {str(path)!r} does not exist: expected a JSON plan from --plan-json") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"plan file {str(path)!r} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, list):
        raise UsageError(f"plan file {str(path)!r}: expected a JSON list of steps, got {type(data).__name__}")
    return [PlanEntry.from_json(item, f"{path}[{index}]") for index, item in enumerate(data)]


def write_plan(path: str | os.PathLike, entries: list[PlanEntry], *, append: bool = False) -> None:
    """Write (or extend) a plan file atomically."""
    path = Path(path)
    existing = read_plan(path) if append and path.exists() else []
    text = json.dumps([e.to_json() for e in [*existing, *entries]], indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text)
