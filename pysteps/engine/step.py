"""A step: one Azure CLI command (an argv list, never a shell string) and what it exports."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pysteps.engine import template
from pysteps.engine.errors import UsageError
from pysteps.engine.exports import Export, check_env_name


@dataclass(frozen=True)
class Probe:
    """How to tell, without trusting a state file, that a step's effect is in place (for --resume).

    `argv` runs read-only; the step counts as done when it succeeds and `expect` (JMESPath) is true
    on its output. Its `exports` restore what the step would have exported.
    """

    argv: tuple[str, ...]
    expect: str = ""
    exports: tuple[Export, ...] = ()

    def satisfied_by(self, output) -> bool:
        if not self.expect:
            return True
        import jmespath

        return bool(jmespath.search(self.expect, output))


@dataclass(frozen=True)
class Step:
    """A declared step. `argv` follows `az` and may hold `${NAME}` references.

    An argv item that is exactly `${NAME}` where NAME holds a list expands to one item per element
    (e.g. several `--data-disk-sizes-gb`).
    """

    name: str
    argv: tuple[str, ...]
    exports: tuple[Export, ...] = ()
    help: str = ""
    secret_vars: frozenset[str] = frozenset()
    variables: Mapping[str, str] = field(default_factory=dict)
    probe: Probe | None = None

    def __post_init__(self):
        if not self.argv:
            raise UsageError(f"step {self.name!r} has an empty argv: expected an az command such as ['group', 'show']")
        for arg in self.argv:
            if not isinstance(arg, str):
                raise UsageError(f"step {self.name!r}: argv item {arg!r} is not a string")
        names = [e.name for e in self.exports]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise UsageError(f"step {self.name!r} exports {', '.join(duplicates)} more than once")
        for name in self.variables:
            check_env_name(name, f"the variables of step {self.name!r}")
        self.references()  # malformed ${...} fails at declaration

    @classmethod
    def adhoc(cls, argv: Iterable[str], export_specs: Iterable[str] = (), name: str | None = None) -> Step:
        """A step for one az command given on the command line (`pysteps az`)."""
        argv = tuple(argv)
        exports = tuple(Export.parse(spec) for spec in export_specs)
        return cls(name=name or command_name(argv), argv=argv, exports=exports)

    def references(self) -> list[str]:
        """Names this step needs: `${...}` in its argv, its probe's and its own variables' values."""
        names: list[str] = []
        probe_argv = self.probe.argv if self.probe else ()
        own_values = [v for value in self.variables.values() for v in (value if isinstance(value, list) else [value])]
        for text in (*self.argv, *probe_argv, *own_values):
            names.extend(n for n in template.references(text) if n not in names and n not in self.variables)
        return names

    def render(self, lookup: Mapping[str, str], argv: tuple[str, ...] | None = None) -> list[str]:
        """The argv (or the probe's) with every reference replaced; the step's own variables come first."""
        if self.variables:
            own = {name: [template.render(v, lookup) for v in value] if isinstance(value, list)
                   else template.render(value, lookup) for name, value in self.variables.items()}
            lookup = _Chain(own, lookup)
        rendered = []
        for arg in self.argv if argv is None else argv:
            whole = _WHOLE_REFERENCE.match(arg)
            value = lookup.get(whole.group(1)) if whole else None
            if isinstance(value, list):
                rendered.extend(str(item) for item in value)
            else:
                rendered.append(template.render(arg, _Strings(lookup)))
        return rendered

    def secret_values(self, lookup: Mapping[str, str]) -> set[str]:
        return {lookup[name] for name in self.secret_vars if lookup.get(name)}


_WHOLE_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class _Strings(Mapping):
    """A lookup for text substitution: a list there is an error, not its Python repr."""

    def __init__(self, lookup: Mapping):
        self.lookup = lookup

    def __getitem__(self, key):
        value = self.lookup[key]
        if isinstance(value, list):
            raise UsageError(f"${{{key}}} holds a list: it can only stand alone as a whole argument")
        return value

    def __iter__(self):
        return iter(self.lookup)

    def __len__(self):
        return len(self.lookup)


def command_name(argv: Iterable[str]) -> str:
    """`['image', 'create', '-g', 'rg']` -> 'image-create': the command words before the first option."""
    words = []
    for arg in argv:
        if arg.startswith("-"):
            break
        words.append(arg)
    return "-".join(words) or "az"


class _Chain(Mapping):
    def __init__(self, *maps: Mapping[str, str]):
        self.maps = maps

    def __getitem__(self, key):
        for mapping in self.maps:
            if key in mapping:
                return mapping[key]
        raise KeyError(key)

    def __iter__(self):
        return iter({k for m in self.maps for k in m})

    def __len__(self):
        return len(set(self))


def chain(*maps: Mapping[str, str]) -> Mapping[str, str]:
    """A read-only view over `maps`, the first holding a name wins."""
    return _Chain(*maps)
