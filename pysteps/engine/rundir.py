"""The run directory: what a run exported, kept as JSON, a shell `.env` file and Java `.properties`.

Every file is replaced atomically (write a temporary file, fsync, rename), so a reader never
sees half a file and a failed step leaves the previous outputs untouched. Secret exports are
kept in memory only: the files name them but never hold their values.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from pysteps.engine.errors import UsageError
from pysteps.engine.files import write_atomic

STATE_FILE = "run.json"
ENV_FILE = "exports.env"
PROPERTIES_FILE = "exports.properties"
FORMAT_VERSION = 1


@dataclass
class RunState:
    """Accumulated exports of a run and a record of each step that ran."""

    exports: dict[str, str] = field(default_factory=dict)
    placeholders: set[str] = field(default_factory=set)
    secret_names: set[str] = field(default_factory=set)
    steps: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "version": FORMAT_VERSION,
            "exports": dict(sorted(self.exports.items())),
            "placeholders": sorted(self.placeholders),
            "secrets_withheld": sorted(self.secret_names),
            "steps": self.steps,
        }

    @classmethod
    def from_json(cls, data: dict, source: Path) -> RunState:
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise UsageError(f"{source} is not a pysteps run state (version {FORMAT_VERSION}) file")
        return cls(
            exports=dict(data.get("exports", {})),
            placeholders=set(data.get("placeholders", [])),
            secret_names=set(data.get("secrets_withheld", [])),
            steps=list(data.get("steps", [])),
        )

    def record(self, step: dict, values: dict[str, str], *, secret: set[str], placeholder: bool) -> None:
        """Add one finished step and its exported values."""
        for name, value in values.items():
            if name in secret:
                self.secret_names.add(name)
                self.exports.pop(name, None)
                continue
            self.exports[name] = value
            self.secret_names.discard(name)
            if placeholder:
                self.placeholders.add(name)
            else:
                self.placeholders.discard(name)
        self.steps.append(step)


class RunDir:
    """A folder holding one run's outputs; created on the first commit, never before."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE

    def load(self) -> RunState:
        try:
            text = self.state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return RunState()
        except OSError as exc:
            raise UsageError(f"cannot read run state {self.state_file}: {exc.strerror}") from None
        try:
            return RunState.from_json(json.loads(text), self.state_file)
        except json.JSONDecodeError:
            raise UsageError(f"{self.state_file} is not valid JSON: expected a pysteps run state") from None

    @contextlib.contextmanager
    def locked(self):
        """Serialize read-modify-write of the state between concurrent pysteps processes."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def commit(self, state: RunState) -> None:
        """Write all three files, each atomically; the JSON state last, as the source of truth."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path / ENV_FILE, format_shell(state.exports))
        write_atomic(self.path / PROPERTIES_FILE, format_properties(state.exports))
        write_atomic(self.state_file, json.dumps(state.to_json(), indent=2, ensure_ascii=False) + "\n")


def format_shell(exports: dict[str, str]) -> str:
    """`NAME='value'` lines that `set -a; . file` loads verbatim."""
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in sorted(exports.items()))


def format_json(exports: dict[str, str]) -> str:
    return json.dumps(dict(sorted(exports.items())), indent=2, ensure_ascii=False) + "\n"


def format_properties(exports: dict[str, str]) -> str:
    """Java `.properties` lines that Jenkins' `readProperties` loads verbatim."""
    return "".join(f"{_escape_property(name)}={_escape_property(value)}\n" for name, value in sorted(exports.items()))


_PROPERTY_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f",
                     "=": "\\=", ":": "\\:", "#": "\\#", "!": "\\!"}


def _escape_property(text: str) -> str:
    out = []
    for index, char in enumerate(text):
        if char in _PROPERTY_ESCAPES:
            out.append(_PROPERTY_ESCAPES[char])
        elif char == " " and index == 0:
            out.append("\\ ")
        elif " " <= char <= "~":
            out.append(char)
        else:
            encoded = char.encode("utf-16-be")
            out.extend(f"\\u{int.from_bytes(encoded[i:i + 2], 'big'):04x}" for i in range(0, len(encoded), 2))
    return "".join(out)
