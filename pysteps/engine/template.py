"""`${NAME}` substitution in step arguments. `$$` stands for a literal `$`.

Names resolve from the scopes given, first match wins (earlier exports, then run variables,
then the environment). An unknown name is an error, never an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pysteps.engine.errors import UsageError
from pysteps.engine.exports import ENV_NAME

_TOKEN = re.compile(r"\$(\$|\{([^}]*)\}?)")


def references(text: str) -> list[str]:
    """The variable names `text` refers to, in order."""
    names = []
    for match in _TOKEN.finditer(text):
        if match.group(1) != "$":
            names.append(_checked_name(match, text))
    return names


def render(text: str, lookup: Mapping[str, str]) -> str:
    """Replace every `${NAME}` in `text` from `lookup`; raise UsageError for an unknown name."""

    def replace(match: re.Match) -> str:
        if match.group(1) == "$":
            return "$"
        name = _checked_name(match, text)
        if name not in lookup:
            raise UsageError(
                f"unknown variable ${{{name}}} in {text!r}: expected an export of an earlier step, "
                "a run variable or an environment variable"
            )
        return lookup[name]

    return _TOKEN.sub(replace, text)


def render_argv(argv: Iterable[str], lookup: Mapping[str, str]) -> list[str]:
    return [render(arg, lookup) for arg in argv]


def _checked_name(match: re.Match, text: str) -> str:
    whole = match.group(0)
    name = match.group(2)
    if not whole.endswith("}") or name is None or not ENV_NAME.match(name):
        raise UsageError(
            f"malformed variable reference {whole!r} in {text!r}: expected ${{NAME}} with NAME made of "
            "letters, digits and '_' (write $$ for a literal $)"
        )
    return name
