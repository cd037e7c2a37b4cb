"""The settings of `pysteps bake` and `pysteps roll`: declared in the step catalog, checked before anything runs.

Each setting comes from, strongest first: `--set NAME=VALUE`, an environment variable of the same
name (as Jenkins passes parameters), the YAML file given with `--config`, the catalog's default.
Defaults may use `{run_id}` and `{utc:FORMAT}`. Every problem is reported, each on its own line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import yaml

from pysteps.catalog import load_catalog
from pysteps.engine.errors import UsageError


class ConfigError(UsageError):
    """One or more settings are wrong; `problems` holds one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the settings")


def _regex(pattern: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"expected {what}")
        return value
    return check


def _count(value: str) -> str:
    if not value.isdigit() or int(value) > 1000:
        raise ValueError("expected a whole number from 0 to 1000")
    return str(int(value))


def _hours(value: str) -> str:
    try:
        hours = float(value)
    except ValueError:
        hours = -1
    if hours <= 0:
        raise ValueError("expected a positive number of hours")
    return value


def _disk_sizes(values: list[str]) -> list[str]:
    if not values or len(values) > 64:
        raise ValueError("expected 1 to 64 disk sizes")
    for size in values:
        if not size.isdigit() or not 1 <= int(size) <= 32767:
            raise ValueError(f"expected sizes from 1 to 32767 GiB, got {size!r}")
    return [str(int(v)) for v in values]


def _uri_list(values: list[str]) -> list[str]:
    for uri in values:
        if not re.match(r"^(s3|az|https?)://[^/]+", uri):
            raise ValueError(f"expected s3://, az:// or https:// URIs, got {uri!r}")
    return values


def _regions(values: list[str]) -> list[str]:
    for region in values:
        if not re.fullmatch(r"[a-z0-9]+", region):
            raise ValueError(f"expected region names such as westeurope, got {region!r}")
    return values


def _public_key_file(value: str) -> str:
    path = Path(os.path.expanduser(value))
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        raise ValueError("expected an existing SSH public key file; it does not exist") from None
    except OSError as error:
        raise ValueError(f"expected a readable SSH public key file ({error.strerror})") from None
    if "PRIVATE KEY" in text:
        raise ValueError("expected the PUBLIC key (.pub); this is a private key")
    if not re.match(r"^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]{40,}", text.strip()):
        raise ValueError("expected an SSH public key (ssh-rsa, ssh-ed25519 or ecdsa ...)")
    return str(path.resolve())


def _user_name(value: str) -> str:
    reserved = {"root", "admin", "administrator", "guest", "user", "test", "sys", "daemon", "bin", "azureadmin"}
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value) or value in reserved:
        raise ValueError("expected a Linux user name (lower case, up to 32 characters), not a reserved one")
    return value


def _location(value: str) -> str:
    normalized = value.replace(" ", "").lower()
    if not re.fullmatch(r"[a-z0-9]+", normalized):
        raise ValueError("expected an Azure region such as westeurope")
    return normalized


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a non-empty value")
    return value


def _optional(check: Callable[[str], str]) -> Callable[[str], str]:
    return lambda value: value if value == "" else check(value)


NAME = r"[A-Za-z0-9]([A-Za-z0-9._-]{0,78}[A-Za-z0-9_])?"
CHECKS: dict[str, Callable] = {
    "location": _location,
    "optional-guid": _optional(_regex(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", "a subscription GUID")),
    "group-name": _regex(r"[-\w._()]{0,89}[-\w_()]", "1 to 90 letters, digits, '-', '_', '.', '(' or ')', "
                                                       "not ending with '.'"),
    "vm-name": _regex(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,62}[A-Za-z0-9])?",
                      "1 to 64 letters, digits, '-' or '.', starting and ending with a letter or digit"),
    "scale-set-name": _regex(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,62}[A-Za-z0-9])?",
                             "1 to 64 letters, digits, '-' or '.', starting and ending with a letter or digit"),
    "image-name": _regex(NAME, "1 to 80 letters, digits, '.', '-' or '_', starting with a letter or digit"),
    "network-name": _regex(NAME, "1 to 80 letters, digits, '.', '-' or '_', starting with a letter or digit"),
    "optional-gallery-name": _optional(_regex(r"[A-Za-z0-9]([A-Za-z0-9._]{0,78}[A-Za-z0-9])?",
                                              "letters, digits, '.' or '_' (no '-'), up to 80")),
    "version": _regex(r"\d+\.\d+\.\d+", "Major.Minor.Patch, e.g. 1.0.0"),
    "vm-size": _regex(r"(Standard|Basic)_[A-Za-z0-9_]+", "a VM size such as Standard_F8s"),
    "count": _count,
    "hours": _hours,
    "disk-sizes": _disk_sizes,
    "storage-sku": _regex(r"Standard_LRS|Premium_LRS|StandardSSD_LRS|UltraSSD_LRS|Premium_ZRS|StandardSSD_ZRS|"
                          r"PremiumV2_LRS", "a managed disk SKU such as Premium_LRS"),
    "public-key-file": _public_key_file,
    "user-name": _user_name,
    "uri-list": _uri_list,
    "absolute-path": _regex(r"/[^\0]*", "an absolute path"),
    "optional-resource-id": _optional(_regex(r"/subscriptions/[^/]+/resourceGroups/.+", "an Azure resource id")),
    "upgrade-policy": _regex(r"Manual|Automatic|Rolling", "Manual, Automatic or Rolling"),
    "regions": _regions,
    "text": _text,
}


def settings_declared() -> dict:
    return {name: v for name, v in load_catalog().variables.items() if v.is_setting}


def load_settings(path: str | None, overrides: Mapping[str, str], environ: Mapping[str, str], *, run_id: str,
                  now: datetime) -> dict[str, str | list[str]]:
    """All settings, from overrides, environment, file and defaults; raises ConfigError listing every problem."""
    declared = settings_declared()
    problems: list[str] = []
    from_file = _read_file(path, problems) if path else {}
    for name in [*from_file, *overrides]:
        if name not in declared:
            close = [n for n in declared if n.startswith(name[:4])][:3]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append(f"unknown setting {name!r}{hint}: see `pysteps steps --markdown` for the settings")
    settings: dict[str, str | list[str]] = {}
    for name, variable in declared.items():
        if name in overrides:
            raw, origin = overrides[name], "--set"
        elif name in environ:
            raw, origin = environ[name], "the environment"
        elif name in from_file:
            raw, origin = from_file[name], path
        else:
            raw, origin = _default(variable.default, run_id, now), "the default"
        value = _as_list(raw) if isinstance(variable.default, list) else _as_text(raw)
        try:
            settings[name] = CHECKS[variable.check](value)
        except ValueError as error:
            problems.append(f"setting {name}={_show(value)!s} (from {origin}): {error}")
    if problems:
        raise ConfigError(problems)
    return settings


def _read_file(path: str, problems: list[str]) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        problems.append(f"config file {path!r} does not exist: expected a YAML file of settings")
        return {}
    except yaml.YAMLError as error:
        problems.append(f"config file {path!r} is not valid YAML ({' '.join(str(error).split())})")
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"config file {path!r}: expected a mapping of setting: value")
        return {}
    return {str(k): v for k, v in data.items()}


def _default(default, run_id: str, now: datetime):
    def fill(text: str) -> str:
        text = text.replace("{run_id}", run_id)
        return re.sub(r"\{utc:([^}]*)\}", lambda m: now.strftime(m.group(1)), text)
    return [fill(v) for v in default] if isinstance(default, list) else fill(default)


def _as_list(raw) -> list[str]:
    if isinstance(raw, list):
        return [str(v) for v in raw]
    return [part for part in re.split(r"[,\s]+", str(raw)) if part]


def _as_text(raw) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, list):
        return ",".join(str(v) for v in raw)
    return str(raw)


def _show(value) -> str:
    return repr(value) if not isinstance(value, list) else "[" + ", ".join(value) + "]"
