"""Export specs: `EXPR|ENV_NAME`, where EXPR is JMESPath or, with a leading `/`, a JSON Pointer.

`EXPR|ENV_NAME?` marks an optional export: a missing field then exports nothing instead of
failing the step. Objects and lists are exported as compact JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from pysteps.engine.errors import ExportError, UsageError

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_env_name(name: str, context: str = "") -> str:
    """Return `name` if it is a valid shell/Jenkins variable name, else raise UsageError."""
    if not ENV_NAME.match(name):
        where = f" in {context}" if context else ""
        raise UsageError(
            f"invalid variable name {name!r}{where}: expected letters, digits and '_', not starting with a digit"
        )
    return name


@dataclass(frozen=True)
class Export:
    """One declared export: evaluate `expr` on a step's JSON output and store it as `name`."""

    expr: str
    name: str
    optional: bool = False
    secret: bool = False

    @classmethod
    def parse(cls, spec: str, secret: bool = False) -> Export:
        """Parse `EXPR|ENV_NAME` or `EXPR|ENV_NAME?`."""
        expr, bar, name = spec.rpartition("|")
        if not bar or not expr.strip():
            raise UsageError(f"malformed export spec {spec!r}: expected EXPR|ENV_NAME, e.g. 'id|vmss_image'")
        optional = name.endswith("?")
        name = name[:-1] if optional else name
        check_env_name(name, f"export spec {spec!r}")
        export = cls(expr=expr.strip(), name=name, optional=optional, secret=secret)
        export._compile()
        return export

    @property
    def spec(self) -> str:
        return f"{self.expr}|{self.name}{'?' if self.optional else ''}"

    @property
    def is_pointer(self) -> bool:
        return self.expr.startswith("/")

    def _compile(self):
        if self.is_pointer:
            return _pointer_tokens(self.expr)
        try:
            return jmespath.compile(self.expr)
        except JMESPathError as exc:
            reason = str(exc).splitlines()[0]
            raise UsageError(
                f"malformed export expression {self.expr!r} in {self.spec!r}: {reason}; "
                "expected JMESPath (as in az --query) or a /json/pointer"
            ) from None

    def placeholder(self, step: str) -> str:
        """The visible stand-in a dry run exports instead of a real value."""
        return f"<{step}:{self.expr}>"

    def extract(self, output: Any, step: str) -> str | None:
        """Evaluate on `output`; return the exported text, or None for a missing optional field."""
        value = _resolve_pointer(output, self.expr) if self.is_pointer else self._compile().search(output)
        if value is None:
            if self.optional:
                return None
            raise ExportError(
                f"step {step}: export {self.spec!r} found no value for {self.expr!r}; {describe_output(output)}"
            )
        return as_text(value)


def as_text(value: Any) -> str:
    """Strings as they are; everything else as compact JSON (true, 3, {"a":1})."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def describe_output(output: Any) -> str:
    """Say what an output held, for error messages about a missing field."""
    if output is None:
        return "the command printed no output"
    if isinstance(output, dict):
        keys = ", ".join(sorted(output)) or "none"
        return f"keys there: {keys}"
    if isinstance(output, list):
        return f"the output is a list of {len(output)} item(s)"
    return f"the output is the {type(output).__name__} {as_text(output)[:60]!r}"


def _pointer_tokens(pointer: str) -> list[str]:
    if pointer == "/":
        return [""]
    tokens = pointer[1:].split("/")
    for token in tokens:
        if re.search(r"~(?![01])", token):
            raise UsageError(f"malformed JSON Pointer {pointer!r}: '~' must be followed by 0 or 1 (RFC 6901)")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _resolve_pointer(document: Any, pointer: str) -> Any:
    node = document
    for token in _pointer_tokens(pointer):
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
        if node is None:
            return None
    return node
