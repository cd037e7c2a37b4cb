"""Key Vault: vaults in ARM (Microsoft.KeyVault/vaults) and their secrets on the data plane.

Each vault gets its own HTTPS port on 127.0.0.1, which is its vaultUri, so that clients address
vaults by URL as in Azure. The data plane answers an unauthenticated call with Key Vault's 401
challenge, then accepts the sandbox's bearer tokens. Access follows the vault: RBAC-enabled vaults
admit any sandbox identity; otherwise the caller's object id needs the permission in an access policy.
"""

from __future__ import annotations

import re
import time
import uuid

from pysteps.sandbox.arm.context import Emulator
from pysteps.sandbox.arm.providers import generic
from pysteps.sandbox.arm.providers.generic import ResourceType, register_type
from pysteps.sandbox.arm.store import ResourceId
from pysteps.sandbox.arm.web import ArmError, Request, Response

VAULT_TYPE = "Microsoft.KeyVault/vaults"
VAULT_NAME = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")


def register(emulator: Emulator) -> None:
    register_type(ResourceType(type=VAULT_TYPE, build=build_vault, on_delete=close_vault))
    router = emulator.router
    router.add("POST", "/subscriptions/{sub}/providers/Microsoft.KeyVault/checkNameAvailability",
               lambda r: check_name(emulator, r))
    router.add("GET", "/secrets", lambda r: data_plane(emulator, r, list_secrets))
    router.add("GET", "/secrets/{name}/versions", lambda r: data_plane(emulator, r, list_versions))
    router.add("GET", "/secrets/{name}", lambda r: data_plane(emulator, r, get_secret))
    router.add("GET", "/secrets/{name}/{version}", lambda r: data_plane(emulator, r, get_secret))
    router.add("PUT", "/secrets/{name}", lambda r: data_plane(emulator, r, set_secret))
    router.add("DELETE", "/secrets/{name}", lambda r: data_plane(emulator, r, delete_secret))


def build_vault(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    if not VAULT_NAME.match(rid.name):
        raise ArmError(400, "VaultNameNotValid",
                       f"The vault name '{rid.name}' is invalid: use 3 to 24 letters, digits and single hyphens, "
                       "starting with a letter and ending with a letter or digit.")
    vault = generic.default_build(emulator, rid, body, existing, request)
    props = vault["properties"]
    props.setdefault("tenantId", emulator.tenant)
    props.setdefault("accessPolicies", [])
    props.setdefault("sku", {"family": "A", "name": "standard"})
    if existing:
        vault["_port"] = existing["_port"]
        vault["_secrets"] = existing.get("_secrets", {})
    else:
        vault["_port"] = emulator.open_listener({"vault": rid.name.lower()})
        vault["_secrets"] = {}
    props["vaultUri"] = f"https://127.0.0.1:{vault['_port']}/"
    return vault


def close_vault(emulator: Emulator, vault: dict) -> None:
    emulator.close_listener(vault["_port"])


def check_name(emulator: Emulator, request: Request) -> Response:
    name = (request.json() or {}).get("name", "")
    taken = any(v["name"].lower() == name.lower() for v in emulator.store.list(
        subscription=emulator.subscription, type_=VAULT_TYPE))
    return Response(200, {"nameAvailable": not taken, **({"reason": "AlreadyExists",
                                                           "message": f"The vault name '{name}' is already in use."}
                                                          if taken else {})})


# --- data plane -------------------------------------------------------------------------------

def _challenge(request: Request, tenant: str) -> ArmError:
    # Key Vault clients check that the challenge's resource is a parent domain of the vault's host,
    # and ask for a token in the tenant the challenge names: the vault's own, as in Azure.
    host = request.headers.get("host", "127.0.0.1")
    resource = "https://" + host.split(".", 1)[1] if "." in host else f"https://{host}"
    return ArmError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", headers={
        "WWW-Authenticate": f'Bearer authorization="https://login.sandbox.invalid/{tenant}", '
                            f'resource="{resource}"'})


def data_plane(emulator: Emulator, request: Request, handler) -> Response:
    vault_name = request.context.get("vault")
    if vault_name is None:
        raise ArmError(404, "NotFound", "Key Vault data-plane calls go to a vault's own vaultUri.")
    if not request.api_version:
        raise ArmError(400, "BadParameter", "The api-version query parameter is missing.")
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise _challenge(request, _vault_tenant(emulator, vault_name))
    claims = emulator.identity.verify(header[7:].strip())
    with emulator.store.lock:
        vault = next((v for v in emulator.store.list(subscription=emulator.subscription, type_=VAULT_TYPE)
                      if v["name"].lower() == vault_name), None)
        if vault is None:
            raise ArmError(404, "VaultNotFound", f"The vault '{vault_name}' does not exist any more.")
        return handler(emulator, request, vault, claims)


def _vault_tenant(emulator: Emulator, vault_name: str) -> str:
    with emulator.store.lock:
        for vault in emulator.store.list(subscription=emulator.subscription, type_=VAULT_TYPE):
            if vault["name"].lower() == vault_name:
                return vault["properties"].get("tenantId") or emulator.tenant
    return emulator.tenant


def _allow(vault: dict, claims: dict, permission: str) -> None:
    props = vault["properties"]
    if props.get("enableRbacAuthorization"):
        return
    for policy in props.get("accessPolicies") or []:
        if policy.get("objectId") == claims.get("oid"):
            allowed = [p.lower() for p in (policy.get("permissions") or {}).get("secrets", [])]
            if permission in allowed or "all" in allowed:
                return
    raise ArmError(403, "Forbidden",
                   f"The user, group or application 'appid={claims.get('appid')};oid={claims.get('oid')}' does not "
                   f"have secrets {permission} permission on key vault '{vault['name']};location={vault['location']}'.",
                   headers={"x-ms-keyvault-error": "AccessDenied"})


def _not_found(vault: dict, name: str) -> ArmError:
    return ArmError(404, "SecretNotFound",
                    f"A secret with (name/id) {name} was not found in this key vault. If you recently deleted this "
                    "secret you may be able to recover it using the correct recovery command.")


def _bundle(request: Request, name: str, version: str, record: dict, with_value: bool = True) -> dict:
    base = request.base_url
    bundle = {"id": f"{base}/secrets/{name}/{version}", "attributes": record["attributes"],
              "tags": record.get("tags") or {}}
    if record.get("contentType"):
        bundle["contentType"] = record["contentType"]
    if with_value:
        bundle["value"] = record["value"]
    return bundle


def set_secret(emulator: Emulator, request: Request, vault: dict, claims: dict) -> Response:
    _allow(vault, claims, "set")
    name = request.params["name"]
    if not SECRET_NAME.match(name):
        raise ArmError(400, "BadParameter", f"The secret name '{name}' is invalid: use 1 to 127 letters, digits "
                                            "and hyphens.")
    body = request.json()
    if not isinstance(body.get("value"), str):
        raise ArmError(400, "BadParameter", "The secret value is required.")
    now = int(time.time())
    version = uuid.uuid4().hex
    record = {"value": body["value"], "contentType": body.get("contentType"), "tags": body.get("tags") or {},
              "attributes": {"enabled": True, "created": now, "updated": now, "recoveryLevel": "Recoverable+Purgeable",
                             **(body.get("attributes") or {})}}
    secrets = vault["_secrets"].setdefault(name.lower(), {"name": name, "versions": {}, "order": []})
    secrets["versions"][version] = record
    secrets["order"].append(version)
    emulator.store.put(vault)
    return Response(200, _bundle(request, secrets["name"], version, record))


def get_secret(emulator: Emulator, request: Request, vault: dict, claims: dict) -> Response:
    _allow(vault, claims, "get")
    name = request.params["name"]
    entry = vault["_secrets"].get(name.lower())
    if entry is None:
        raise _not_found(vault, name)
    version = request.params.get("version") or entry["order"][-1]
    record = entry["versions"].get(version)
    if record is None:
        raise _not_found(vault, f"{name}/{version}")
    if not record["attributes"].get("enabled", True):
        raise ArmError(403, "Forbidden", f"Operation get is not allowed on a disabled secret ({name}).")
    return Response(200, _bundle(request, entry["name"], version, record))


def list_secrets(emulator: Emulator, request: Request, vault: dict, claims: dict) -> Response:
    _allow(vault, claims, "list")
    items = []
    for entry in vault["_secrets"].values():
        latest = entry["order"][-1]
        item = _bundle(request, entry["name"], latest, entry["versions"][latest], with_value=False)
        item["id"] = f"{request.base_url}/secrets/{entry['name']}"
        items.append(item)
    return Response(200, {"value": items, "nextLink": None})


def list_versions(emulator: Emulator, request: Request, vault: dict, claims: dict) -> Response:
    _allow(vault, claims, "list")
    entry = vault["_secrets"].get(request.params["name"].lower())
    if entry is None:
        raise _not_found(vault, request.params["name"])
    return Response(200, {"value": [_bundle(request, entry["name"], v, entry["versions"][v], with_value=False)
                                    for v in entry["order"]], "nextLink": None})


def delete_secret(emulator: Emulator, request: Request, vault: dict, claims: dict) -> Response:
    _allow(vault, claims, "delete")
    name = request.params["name"]
    entry = vault["_secrets"].pop(name.lower(), None)
    if entry is None:
        raise _not_found(vault, name)
    emulator.store.put(vault)
    latest = entry["order"][-1]
    return Response(200, _bundle(request, entry["name"], latest, entry["versions"][latest], with_value=False))
