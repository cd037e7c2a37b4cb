"""The step catalog: each step pysteps knows, declared once in steps.yaml."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml

from pysteps.engine.errors import UsageError
from pysteps.engine.exports import Export
from pysteps.engine.step import Step

FIELDS = {"help", "argv", "exports", "secret_vars"}


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, Step]:
    """All declared steps by name."""
    text = resources.files(__package__).joinpath("steps.yaml").read_text(encoding="utf-8")
    return parse_catalog(yaml.safe_load(text), "steps.yaml")


def parse_catalog(data, source: str) -> dict[str, Step]:
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a mapping of step name to declaration")
    steps = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or "argv" not in spec:
            raise UsageError(f"{source}: step {name!r} needs at least 'argv'")
        unknown = set(spec) - FIELDS
        if unknown:
            raise UsageError(f"{source}: step {name!r} has unknown field(s) {', '.join(sorted(unknown))}: "
                             f"expected {', '.join(sorted(FIELDS))}")
        steps[name] = Step(
            name=name,
            argv=tuple(str(a) for a in spec["argv"]),
            exports=tuple(Export.parse(s) for s in spec.get("exports", [])),
            help=spec.get("help", ""),
            secret_vars=frozenset(spec.get("secret_vars", [])),
        )
    return steps


def get_step(name: str) -> Step:
    catalog = load_catalog()
    if name not in catalog:
        raise UsageError(f"unknown step {name!r}: expected one of {', '.join(sorted(catalog))}")
    return catalog[name]
