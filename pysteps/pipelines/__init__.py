"""Pipelines: named sequences of catalog steps with default variables, declared in YAML.

    name: my-pipeline
    vars: {location: westeurope, ...}          # defaults
    steps:
      - vm-create                              # a catalog step
      - group-create: {resource_group: "${vmss_resource_group}"}   # with step-local variables

Variables resolve as: earlier exports, then `--set NAME=VALUE`, then the environment (for the
names the pipeline declares, so Jenkins parameters override defaults), then the defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from pysteps.catalog import get_step
from pysteps.engine import template
from pysteps.engine.errors import UsageError
from pysteps.engine.exports import check_env_name
from pysteps.engine.step import Step, chain

BUILTIN_SUFFIX = ".yaml"


@dataclass
class Pipeline:
    name: str
    steps: list[Step]
    defaults: dict[str, str] = field(default_factory=dict)
    help: str = ""

    def variables(self, overrides: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
        """The run variables: defaults, replaced by the environment, replaced by explicit overrides.

        `${NAME}` in a default resolves once (overrides, environment, other defaults); values from
        the environment and overrides are taken verbatim.
        """
        given = {name: environ[name] for name in self.defaults if name in environ}
        given.update(overrides)
        context = chain(given, environ, self.defaults)
        merged = {name: template.render(value, context) for name, value in self.defaults.items() if name not in given}
        merged.update(given)
        return merged


def builtin_pipelines() -> list[str]:
    folder = resources.files(__package__)
    return sorted(p.name[: -len(BUILTIN_SUFFIX)] for p in folder.iterdir() if p.name.endswith(BUILTIN_SUFFIX))


def load_pipeline(reference: str) -> Pipeline:
    """Load a pipeline from a YAML file path, or a built-in one by name."""
    path = Path(reference)
    if path.is_file():
        text, source = path.read_text(encoding="utf-8"), str(path)
    elif reference in builtin_pipelines():
        text = resources.files(__package__).joinpath(reference + BUILTIN_SUFFIX).read_text(encoding="utf-8")
        source = reference
    else:
        raise UsageError(f"pipeline {reference!r} is neither a file nor a built-in pipeline: expected a YAML file "
                         f"or one of {', '.join(builtin_pipelines())}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"pipeline {source}: not valid YAML ({' '.join(str(exc).split())})") from None
    return parse_pipeline(data, source)


def parse_pipeline(data, source: str) -> Pipeline:
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        raise UsageError(f"pipeline {source}: expected a mapping with a non-empty 'steps' list")
    defaults = data.get("vars") or {}
    if not isinstance(defaults, dict):
        raise UsageError(f"pipeline {source}: 'vars' must be a mapping of NAME: value")
    for name in defaults:
        check_env_name(str(name), f"pipeline {source} vars")
    steps = [_pipeline_step(item, source) for item in data["steps"]]
    return Pipeline(name=str(data.get("name", source)), steps=steps, help=str(data.get("help", "")),
                    defaults={str(k): _scalar(v, f"pipeline {source} var {k}") for k, v in defaults.items()})


def _pipeline_step(item, source: str) -> Step:
    if isinstance(item, str):
        return get_step(item)
    if isinstance(item, dict) and len(item) == 1:
        (name, local), = item.items()
        local = local or {}
        if not isinstance(local, dict):
            raise UsageError(f"pipeline {source}: step {name!r} takes a mapping of variables, got {local!r}")
        variables = {str(k): _scalar(v, f"pipeline {source} step {name} var {k}") for k, v in local.items()}
        return dataclasses.replace(get_step(str(name)), variables=variables)
    raise UsageError(f"pipeline {source}: a step is a catalog name or {{name: {{variables}}}}, got {item!r}")


def _scalar(value, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise UsageError(f"{where}: expected a string or number, got {type(value).__name__}")
