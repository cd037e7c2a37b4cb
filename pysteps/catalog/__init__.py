"""The step catalog: each step pysteps knows, and each variable they use, declared once in steps.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from pysteps.engine.errors import UsageError
from pysteps.engine.exports import Export, check_env_name
from pysteps.engine.step import Probe, Step

STEP_FIELDS = {"help", "argv", "exports", "secret_vars", "probe"}


@dataclass(frozen=True)
class Variable:
    """A name steps refer to. Configuration variables (of bake and roll) have a default and a check."""

    name: str
    help: str
    example: str | list
    default: str | list | None = None
    check: str | None = None

    @property
    def is_setting(self) -> bool:
        return self.check is not None


@dataclass(frozen=True)
class Catalog:
    steps: dict[str, Step]
    variables: dict[str, Variable]

    def step(self, name: str) -> Step:
        if name not in self.steps:
            raise UsageError(f"unknown step {name!r}: expected one of {', '.join(sorted(self.steps))}")
        return self.steps[name]


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """The built-in catalog."""
    text = resources.files(__package__).joinpath("steps.yaml").read_text(encoding="utf-8")
    return parse_catalog(yaml.safe_load(text), "steps.yaml")


def get_step(name: str) -> Step:
    return load_catalog().step(name)


def parse_catalog(data, source: str) -> Catalog:
    if not isinstance(data, dict) or not isinstance(data.get("steps"), dict):
        raise UsageError(f"{source}: expected 'variables' and a 'steps' mapping of step name to declaration")
    variables = {}
    for name, spec in (data.get("variables") or {}).items():
        check_env_name(name, f"{source} variables")
        if not isinstance(spec, dict) or "help" not in spec or "example" not in spec:
            raise UsageError(f"{source}: variable {name!r} needs 'help' and 'example'")
        unknown = set(spec) - {"help", "example", "default", "check"}
        if unknown:
            raise UsageError(f"{source}: variable {name!r} has unknown field(s) {', '.join(sorted(unknown))}")
        if ("default" in spec) != ("check" in spec):
            raise UsageError(f"{source}: variable {name!r} needs both 'default' and 'check', or neither")
        variables[name] = Variable(name, str(spec["help"]), _text(spec["example"]), _text(spec.get("default")),
                                   spec.get("check"))
    steps = {name: _parse_step(name, spec, source) for name, spec in data["steps"].items()}
    for step in steps.values():
        undeclared = [n for n in step.references() if n not in variables]
        if undeclared:
            raise UsageError(f"{source}: step {step.name!r} uses undeclared variable(s) {', '.join(undeclared)}: "
                             "expected each under 'variables' with help and an example")
    return Catalog(steps=steps, variables=variables)


def _text(value):
    if value is None or isinstance(value, list):
        return None if value is None else [str(v) for v in value]
    return str(value)


def _parse_step(name, spec, source: str) -> Step:
    if not isinstance(spec, dict) or "argv" not in spec:
        raise UsageError(f"{source}: step {name!r} needs at least 'argv'")
    unknown = set(spec) - STEP_FIELDS
    if unknown:
        raise UsageError(f"{source}: step {name!r} has unknown field(s) {', '.join(sorted(unknown))}: "
                         f"expected {', '.join(sorted(STEP_FIELDS))}")
    probe = spec.get("probe")
    if probe is not None:
        if not isinstance(probe, dict) or not probe.get("argv"):
            raise UsageError(f"{source}: the probe of step {name!r} needs 'argv' (and optionally expect, exports)")
        probe = Probe(argv=tuple(str(a) for a in probe["argv"]), expect=str(probe.get("expect", "")),
                      exports=tuple(Export.parse(s) for s in probe.get("exports", [])))
    return Step(
        name=name,
        argv=tuple(str(a) for a in spec["argv"]),
        exports=tuple(Export.parse(s) for s in spec.get("exports", [])),
        help=spec.get("help", ""),
        secret_vars=frozenset(spec.get("secret_vars", [])),
        probe=probe,
    )
