"""Who pysteps is when it reads secrets: a service principal, a managed identity, or the current az login.

`auto` picks, in order: a service principal from AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and
AZURE_TENANT_ID; a managed identity whose endpoint the environment names (App Service style
IDENTITY_ENDPOINT, Azure Arc, Cloud Shell, workload identity, AZURE_POD_IDENTITY_AUTHORITY_HOST);
the current az login; else the VM's managed identity through IMDS.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from pysteps.access.cloud import az_config_dir
from pysteps.engine.errors import UsageError

AUTH_MODES = ("auto", "service-principal", "managed-identity", "az-login")
SERVICE_PRINCIPAL_VARS = ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID")
MANAGED_IDENTITY_VARS = ("IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                         "AZURE_FEDERATED_TOKEN_FILE")


@dataclass(frozen=True)
class Login:
    """A credential (azure-core's TokenCredential protocol) and how to name it in messages."""

    credential: Any
    description: str


def login(mode: str = "auto") -> Login:
    if mode not in AUTH_MODES:
        raise UsageError(f"--auth {mode!r}: expected one of {', '.join(AUTH_MODES)}")
    if mode == "auto":
        return _auto()
    if mode == "service-principal":
        return _service_principal()
    if mode == "managed-identity":
        return _managed_identity()
    return Login(AzLoginCredential(), "the current az login")


def _auto() -> Login:
    if all(os.environ.get(name) for name in SERVICE_PRINCIPAL_VARS):
        return _service_principal()
    if any(os.environ.get(name) for name in MANAGED_IDENTITY_VARS):
        return _managed_identity()
    if az_logged_in():
        return Login(AzLoginCredential(), "the current az login")
    from azure.identity import ChainedTokenCredential, ManagedIdentityCredential

    # In a chain, azure-identity probes IMDS for a second before waiting on it: off Azure this fails fast.
    chained = ChainedTokenCredential(ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID")))
    return Login(chained, "the managed identity (IMDS; no service principal, managed-identity endpoint or "
                          "az login found in the environment)")


def _service_principal() -> Login:
    missing = [name for name in SERVICE_PRINCIPAL_VARS if not os.environ.get(name)]
    if missing:
        raise UsageError(f"--auth service-principal: {', '.join(missing)} not set: expected "
                         f"{', '.join(SERVICE_PRINCIPAL_VARS)} in the environment")
    from azure.identity import ClientSecretCredential

    # A custom authority (a private cloud, Azure Stack, a local stand-in) is the operator's choice:
    # skip MSAL's instance discovery, which only knows Microsoft's public authorities.
    credential = ClientSecretCredential(os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"],
                                        os.environ["AZURE_CLIENT_SECRET"],
                                        disable_instance_discovery=bool(os.environ.get("AZURE_AUTHORITY_HOST")))
    return Login(credential, f"service principal {os.environ['AZURE_CLIENT_ID']} (AZURE_CLIENT_ID)")


def _managed_identity() -> Login:
    from azure.identity import ManagedIdentityCredential

    client_id = os.environ.get("AZURE_CLIENT_ID")
    named = f" {client_id}" if client_id else ""
    return Login(ManagedIdentityCredential(client_id=client_id), f"the managed identity{named}")


def az_logged_in() -> bool:
    """True when az's profile holds an account (read from its file, without running az)."""
    try:
        profile = json.loads((az_config_dir() / "azureProfile.json").read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return False
    return bool(profile.get("subscriptions"))


class AzLoginCredential:
    """Tokens of the current `az login`, through pysteps' az runner (in this process when azure-cli is here)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tokens: dict[str, AccessToken] = {}

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  **kwargs) -> AccessToken:
        # tenant_id (a Key Vault challenge's) is not passed on: az refuses --tenant for managed-identity logins.
        scope = scopes[0]
        with self._lock:  # in-process az is not thread-safe; tokens are reused until near expiry
            token = self._tokens.get(scope)
            if token is None or token.expires_on - time.time() < 300:
                token = self._tokens[scope] = self._fetch(scope)
            return token

    def _fetch(self, scope: str) -> AccessToken:
        from pysteps.engine.runners import AzCallFailed, make_runner

        try:
            output = make_runner().run(["account", "get-access-token", "--scope", scope, "--output", "json"])
        except AzCallFailed as failure:
            raise ClientAuthenticationError(message=f"az account get-access-token failed: {failure.message}") from None
        value = output.value or {}
        return AccessToken(value["accessToken"], int(value.get("expires_on") or time.time() + 300))
