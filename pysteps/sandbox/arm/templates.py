"""ARM template expressions: the subset az's generated templates use.

`"[concat('a', parameters('b'))]"` is an expression; `"[[x]"` is the literal `[x]`. Supported:
string, integer and boolean literals; property access (`.name`) and indexing (`[0]`); and the
functions in `Evaluator.FUNCTIONS`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from pysteps.sandbox.arm.web import ArmError

_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<punct>[(),.\[\]]))")


def invalid(message: str) -> ArmError:
    return ArmError(400, "InvalidTemplate", f"Deployment template validation failed: {message}")


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[[")


class Evaluator:
    """Evaluates expressions with the functions the caller provides (parameters, resourceId, ...)."""

    def __init__(self, functions: dict[str, Callable[..., Any]]):
        self.functions = {name.lower(): fn for name, fn in {**self._builtins(), **functions}.items()}

    def resolve(self, value: Any) -> Any:
        """Evaluate every expression inside `value` (strings, lists and objects, recursively)."""
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, str):
            if is_expression(value):
                return self.evaluate(value[1:-1])
            if value.startswith("[["):
                return value[1:]
        return value

    def evaluate(self, text: str) -> Any:
        tokens = self._tokens(text)
        value, position = self._expression(tokens, 0, text)
        if position != len(tokens):
            raise invalid(f"unexpected '{tokens[position][1]}' in expression '{text}'")
        return value

    @staticmethod
    def _tokens(text: str) -> list[tuple[str, Any]]:
        tokens, position = [], 0
        while position < len(text):
            found = _TOKEN.match(text, position)
            if not found or found.end() == position:
                if text[position:].strip() == "":
                    break
                raise invalid(f"cannot read expression '{text}' at position {position}")
            kind = found.lastgroup
            raw = found.group(kind)
            if kind == "string":
                tokens.append(("value", raw[1:-1].replace("''", "'")))
            elif kind == "number":
                tokens.append(("value", int(raw)))
            elif kind == "name" and raw.lower() in ("true", "false", "null"):
                tokens.append(("value", {"true": True, "false": False, "null": None}[raw.lower()]))
            else:
                tokens.append((kind, raw))
            position = found.end()
        return tokens

    def _expression(self, tokens, position, text):
        kind, raw = tokens[position]
        if kind == "value":
            value, position = raw, position + 1
        elif kind == "name":
            if position + 1 >= len(tokens) or tokens[position + 1][1] != "(":
                raise invalid(f"'{raw}' is not a function call in '{text}'")
            arguments, position = [], position + 2
            while tokens[position][1] != ")":
                argument, position = self._expression(tokens, position, text)
                arguments.append(argument)
                if tokens[position][1] == ",":
                    position += 1
            position += 1
            function = self.functions.get(raw.lower())
            if function is None:
                raise invalid(f"the template function '{raw}' is not supported by the sandbox")
            value = function(*arguments)
        else:
            raise invalid(f"unexpected '{raw}' in expression '{text}'")
        while position < len(tokens) and tokens[position][1] in (".", "["):
            if tokens[position][1] == ".":
                key = tokens[position + 1][1]
                value = _member(value, key, text)
                position += 2
            else:
                index, position = self._expression(tokens, position + 1, text)
                value = _member(value, index, text)
                position += 1  # the closing ]
        return value, position

    @staticmethod
    def _builtins() -> dict[str, Callable[..., Any]]:
        return {
            "concat": lambda *parts: ([x for p in parts for x in p] if parts and isinstance(parts[0], list)
                                      else "".join(str(p) for p in parts)),
            "string": lambda value: value if isinstance(value, str) else str(value),
            "int": int,
            "toLower": lambda text: text.lower(),
            "toUpper": lambda text: text.upper(),
            "format": lambda pattern, *args: re.sub(r"\{(\d+)\}", lambda m: str(args[int(m.group(1))]), pattern),
            "uniqueString": lambda *parts: hashlib.sha256("-".join(parts).encode()).hexdigest()[:13],
            "equals": lambda a, b: a == b,
            "if": lambda condition, yes, no: yes if condition else no,
            "not": lambda value: not value,
            "empty": lambda value: not value,
            "length": len,
            "split": lambda text, separator: text.split(separator),
            "last": lambda items: items[-1],
            "first": lambda items: items[0],
            "createArray": lambda *items: list(items),
            "json": lambda text: __import__("json").loads(text),
            "base64": lambda text: __import__("base64").b64encode(text.encode()).decode(),
        }


def _member(value: Any, key: Any, text: str) -> Any:
    try:
        if isinstance(value, dict):
            if isinstance(key, str):
                matches = [k for k in value if k.lower() == key.lower()]
                return value[matches[0]] if matches else value[key]
            return value[key]
        return value[key]
    except (KeyError, IndexError, TypeError):
        raise invalid(f"the property or index '{key}' does not exist in expression '{text}'") from None
