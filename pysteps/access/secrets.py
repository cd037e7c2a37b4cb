"""Key Vault secrets: find the vault, read a secret, and hand its value over without exposing it.

A vault is named by its URI, or by its name: then its URI comes from ARM's list of the
subscription's vaults (so custom clouds and the local sandbox work), else from the cloud's DNS
convention (`https://NAME.vault.azure.net/`), for identities that may read a vault's secrets but
not list vaults. Values stay in memory: they reach a 0600 file, a program's environment, or
stdout when asked to, and nothing else (no log, argv, plan, report or exports file).
"""

from __future__ import annotations

import os
import re
import socket
import stat
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from pysteps.access.arm import Arm, ArmFailed
from pysteps.access.cloud import Cloud
from pysteps.access.credentials import Login
from pysteps.access.errors import (
    AccessDenied,
    AuthenticationFailed,
    CommandNotExecutable,
    CommandNotFound,
    SecretNotFound,
    ServiceFailed,
    VaultNotFound,
)
from pysteps.engine.errors import PystepsError, UsageError
from pysteps.engine.files import write_atomic

VAULTS_API_VERSION = "2023-07-01"
VAULT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
SECRET_VERSION = re.compile(r"^[0-9A-Za-z]{1,64}$")
SEARCH_THREADS = 8


def check_secret_name(name: str) -> str:
    if not SECRET_NAME.match(name):
        raise UsageError(f"secret name {name!r}: expected 1 to 127 letters, digits and hyphens")
    return name


@dataclass(frozen=True)
class SecretRef:
    """A secret to read: in `vault` (a name or an https URI), `name`, optionally a `version`."""

    vault: str
    name: str
    version: str | None = None

    def __post_init__(self):
        check_secret_name(self.name)
        if self.version is not None and not SECRET_VERSION.match(self.version):
            raise UsageError(f"secret version {self.version!r}: expected letters and digits, as in a secret's id")

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        """VAULT/NAME[/VERSION], where VAULT is a vault name or https://HOST (a secret's id works too)."""
        if text.startswith("https://"):
            parts = urlsplit(text)
            vault, path = f"https://{parts.netloc}/", parts.path.strip("/").split("/")
            if path[:1] == ["secrets"]:
                path = path[1:]
        else:
            vault, _, rest = text.partition("/")
            path = rest.split("/") if rest else []
        if not vault or not 1 <= len(path) <= 2 or not all(path):
            raise UsageError(f"secret reference {text!r}: expected VAULT/NAME[/VERSION], where VAULT is a vault "
                             "name or https://VAULT-HOST")
        return cls(vault, path[0], path[1] if len(path) == 2 else None)

    def __str__(self) -> str:
        return "/".join(p for p in (self.vault.rstrip("/"), self.name, self.version) if p)


@dataclass(frozen=True)
class Secret:
    """A secret as read; `value` is never shown by repr()."""

    vault: str
    uri: str
    name: str
    version: str
    updated: str = ""
    value: str = field(default="", repr=False)


@dataclass(frozen=True)
class Search:
    """Where a secret name exists: each vault holding it, lacking it, or that could not be read."""

    name: str
    found: list[Secret]
    missing: list[str]
    unreadable: list[tuple[str, str]]


class Vaults:
    """Finds vaults and reads their secrets as one identity."""

    def __init__(self, login: Login, cloud: Cloud, arm_endpoint: str, subscription: str | None):
        self.login = login
        self.cloud = cloud
        self.subscription = subscription
        self._arm = Arm(arm_endpoint, login.credential)
        self._listed: dict[str, str] | None = None
        self._clients: dict[str, object] = {}

    # --- finding vaults ---------------------------------------------------------------------------

    def vault_uris(self) -> dict[str, str]:
        """Every vault of the subscription this identity can see in ARM: name -> vaultUri."""
        if self._listed is None:
            if not self.subscription:
                raise UsageError("no subscription to list vaults in: expected --subscription, "
                                 "AZURE_SUBSCRIPTION_ID or an az login with a default subscription")
            path = f"/subscriptions/{self.subscription}/providers/Microsoft.KeyVault/vaults"
            try:
                items = list(self._arm.pages(path, VAULTS_API_VERSION))
            except ArmFailed as failure:
                raise self._arm_error(failure) from None
            except ClientAuthenticationError as error:
                raise self._auth_error(error) from None
            self._listed = {item["name"].lower(): _with_slash(item["properties"]["vaultUri"]) for item in items
                            if (item.get("properties") or {}).get("vaultUri")}
        return self._listed

    def uri(self, vault: str) -> tuple[str, str]:
        """The vault's URI, and how it was found (for messages)."""
        if vault.startswith("https://"):
            parts = urlsplit(vault)
            return f"https://{parts.netloc}/", "given as a URI"
        if "://" in vault:
            raise UsageError(f"vault {vault!r}: expected a vault name or an https:// URI")
        if not VAULT_NAME.match(vault):
            raise UsageError(f"vault name {vault!r}: expected 3 to 24 letters, digits and hyphens, starting with a "
                             "letter, or a vault URI")
        try:
            listed = self.vault_uris()
        except (UsageError, AccessDenied, ServiceFailed) as problem:
            how = f"the vault list was not available ({problem})"
        else:
            if vault.lower() in listed:
                return listed[vault.lower()], "listed in ARM"
            how = f"no vault of that name is listed in subscription {self.subscription}"
        return f"https://{vault.lower()}.{self.cloud.keyvault_dns_suffix}/", how

    # --- reading secrets ----------------------------------------------------------------------------

    def get(self, ref: SecretRef) -> Secret:
        uri, how = self.uri(ref.vault)
        self._check_host(ref.vault, uri, how)
        try:
            bundle = self._client(uri).get_secret(ref.name, ref.version)
        except HttpResponseError as error:
            if isinstance(error, ClientAuthenticationError) and error.response is None:  # no token at all
                raise self._auth_error(error) from None
            raise self._data_plane_error(error, ref, uri) from None
        except ServiceRequestError as error:
            raise ServiceFailed(f"cannot reach vault {ref.vault!r} at {uri}: {_first_line(error)}") from None
        except ValueError as error:  # the SDK refused a challenge for another domain than the vault's
            raise ServiceFailed(f"vault {ref.vault!r} at {uri}: {_first_line(error)}") from None
        updated = bundle.properties.updated_on
        return Secret(vault=ref.vault, uri=uri, name=bundle.name or ref.name, version=bundle.properties.version or "",
                      updated=updated.isoformat() if updated else "", value=bundle.value or "")

    def search(self, name: str) -> Search:
        """Look for secret `name` in every listed vault; a vault that cannot be read is reported, not fatal."""
        vaults = sorted(self.vault_uris())
        found, missing, unreadable = [], [], []

        def look(vault: str):
            try:
                return vault, replace(self.get(SecretRef(vault, name)), value=""), None
            except SecretNotFound:
                return vault, None, None
            except (AccessDenied, VaultNotFound, AuthenticationFailed, ServiceFailed) as problem:
                return vault, None, str(problem)

        with ThreadPoolExecutor(max_workers=SEARCH_THREADS) as pool:
            for vault, secret, problem in pool.map(look, vaults):
                if secret:
                    found.append(secret)
                elif problem:
                    unreadable.append((vault, problem))
                else:
                    missing.append(vault)
        return Search(name, found, missing, unreadable)

    def _client(self, uri: str):
        if uri not in self._clients:
            from azure.keyvault.secrets import SecretClient

            self._clients[uri] = SecretClient(uri, self.login.credential)
        return self._clients[uri]

    def _check_host(self, vault: str, uri: str, how: str) -> None:
        """A host that does not resolve is a missing vault (fail at once, not after the SDK's retries)."""
        parts = urlsplit(uri)
        try:
            socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise VaultNotFound(f"vault {vault!r} not found: {how}, and {parts.hostname} does not resolve; "
                                "expected the name of an existing vault, or its URI") from None

    # --- errors -----------------------------------------------------------------------------------

    def _data_plane_error(self, error: HttpResponseError, ref: SecretRef, uri: str) -> PystepsError:
        code = getattr(error.error, "code", None) or ""
        message = _service_message(error)
        where = f"in vault {ref.vault!r} ({uri})" if not ref.vault.startswith("https://") else f"in vault {uri}"
        version = f" version {ref.version}" if ref.version else ""
        if error.status_code == 404 and code == "VaultNotFound":
            return VaultNotFound(f"vault {ref.vault!r} not found at {uri}: {message}")
        if error.status_code == 404:
            return SecretNotFound(f"secret {ref.name!r}{version} not found {where}: expected an existing, enabled "
                                  f"secret{' version' if version else ''}")
        if error.status_code == 403:
            return AccessDenied(f"access denied to secret {ref.name!r} {where} for {self.login.description}: "
                                f"{message}; expected an access policy or role (Key Vault Secrets User) that "
                                "allows reading secrets")
        if error.status_code == 401:
            return AuthenticationFailed(f"vault {uri} refused the token of {self.login.description}: {message}")
        return ServiceFailed(f"reading secret {ref.name!r} {where} failed: {error.status_code} {message}")

    def _arm_error(self, failure: ArmFailed) -> PystepsError:
        where = f"the vaults of subscription {self.subscription}"
        if failure.status == 401:
            return AuthenticationFailed(f"ARM refused the token of {self.login.description} listing {where}: "
                                        f"{failure.message}")
        if failure.status == 403:
            return AccessDenied(f"{self.login.description} may not list {where}: {failure.message}; expected a "
                                "role such as Reader on the subscription, or name vaults by URI")
        return ServiceFailed(f"listing {where} failed: {failure.message}")

    def _auth_error(self, error: ClientAuthenticationError) -> AuthenticationFailed:
        return AuthenticationFailed(f"no token from {self.login.description}: {_first_line(error)}")


def _service_message(error: HttpResponseError) -> str:
    message = getattr(error.error, "message", None) or error.reason or str(error)
    return " ".join(str(message).split()).rstrip(".")


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _with_slash(uri: str) -> str:
    return uri if uri.endswith("/") else uri + "/"


# --- delivery -------------------------------------------------------------------------------------

def write_secret_file(path: str | os.PathLike, value: str) -> Path:
    """Write `value` (as is, no newline added) to a file of mode 0600, replacing it atomically."""
    target = Path(path)
    check_destination(target)
    write_atomic(target, value, mode=0o600)  # its temporary file is 0600 from the start
    return target


def check_destination(target: Path) -> None:
    """Refuse a destination that is a symlink, not a regular file, or readable by others."""
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        if not target.parent.is_dir():
            raise UsageError(f"--to-file {target}: folder {target.parent} does not exist: expected an existing "
                             "folder") from None
        return
    if stat.S_ISLNK(info.st_mode):
        raise UsageError(f"--to-file {target}: is a symbolic link: expected a new path or a regular file of "
                         "mode 0600")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"--to-file {target}: is not a regular file: expected a new path or a regular file")
    if info.st_mode & 0o077:
        raise UsageError(f"--to-file {target}: has mode {stat.S_IMODE(info.st_mode):04o}: expected 0600 or "
                         "stricter (remove it, or chmod 600 it, first)")


def exec_with_secrets(secrets: dict[str, str], command: list[str]) -> NoReturn:
    """Replace this process with `command`, the secrets in its environment (never on its argv)."""
    env = {**os.environ, **secrets}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        raise CommandNotFound(f"command {command[0]!r} not found: expected a program on PATH or a path to "
                              "one") from None
    except PermissionError:
        raise CommandNotExecutable(f"command {command[0]!r} is not executable: expected a program") from None
    except OSError as error:
        raise CommandNotExecutable(f"command {command[0]!r} could not start: {error.strerror}") from None
