"""The instance metadata service (IMDS) of each sandbox machine.

A machine's IMDS lives at `/imds/<its key>` on the emulator (in Azure: http://169.254.169.254).
Scripts run on a machine through run-command find it in their environment the standard way:
AZURE_POD_IDENTITY_AUTHORITY_HOST, which azure-identity uses in place of the IMDS host.
"""

from __future__ import annotations

import secrets
import time

from pysteps.sandbox.arm.context import Emulator
from pysteps.sandbox.arm.store import ResourceId
from pysteps.sandbox.arm.web import ArmError, Request, Response

PREFIX = "/imds/"
MACHINE_TYPES = ("microsoft.compute/virtualmachines", "microsoft.compute/virtualmachinescalesets/virtualmachines")


def new_key() -> str:
    return secrets.token_urlsafe(16)


def endpoint(base_url: str, machine: dict) -> str:
    return f"{base_url}{PREFIX}{machine['_imds_key']}"


def register(emulator: Emulator) -> None:
    router = emulator.router
    router.add("GET", PREFIX + "{key}/metadata/instance", lambda r: Response(200, instance(emulator, r)))
    router.add("GET", PREFIX + "{key}/metadata/instance/compute",
               lambda r: Response(200, instance(emulator, r)["compute"]))
    router.add("GET", PREFIX + "{key}/metadata/identity/oauth2/token", lambda r: token(emulator, r))


def _machine(emulator: Emulator, request: Request) -> dict:
    if request.headers.get("metadata", "").lower() != "true":
        raise ArmError(400, "BadRequest", "Required metadata header not specified")
    key = request.params["key"]
    with emulator.store.lock:
        for resource in emulator.store.all():
            if resource["type"].lower() in MACHINE_TYPES and resource.get("_imds_key") == key:
                return resource
    raise ArmError(404, "NotFound", "This machine no longer exists.")


def instance(emulator: Emulator, request: Request) -> dict:
    machine = _machine(emulator, request)
    rid = ResourceId.parse(machine["id"])
    scale_set = ""
    if len(rid.types) == 2:
        scale_set = rid.names[0]
    elif (machine["properties"].get("virtualMachineScaleSet") or {}).get("id"):
        scale_set = ResourceId.parse(machine["properties"]["virtualMachineScaleSet"]["id"]).name
    name = f"{rid.names[0]}_{rid.names[1]}" if len(rid.types) == 2 else rid.name
    return {
        "compute": {
            "azEnvironment": "AzurePublicCloud", "location": machine["location"], "name": name,
            "resourceGroupName": rid.group, "resourceId": machine["id"], "subscriptionId": rid.subscription,
            "vmId": machine["properties"].get("vmId"), "vmScaleSetName": scale_set,
            "vmSize": (machine["properties"].get("hardwareProfile") or {}).get("vmSize", ""), "osType": "Linux",
            "tagsList": [{"name": k, "value": v} for k, v in (machine.get("tags") or {}).items()],
            "tags": ";".join(f"{k}:{v}" for k, v in (machine.get("tags") or {}).items()),
        },
        "network": {"interface": []},
    }


def token(emulator: Emulator, request: Request) -> Response:
    machine = _machine(emulator, request)
    resource = request.query.get("resource")
    if not resource:
        raise ArmError(400, "invalid_request", "Required query variable 'resource' is missing")
    principal = (machine.get("identity") or {}).get("principalId") or machine["properties"].get("vmId")
    now = int(time.time())
    return Response(200, {"access_token": emulator.identity.mint(resource, principal=principal),
                          "expires_in": "3600", "expires_on": str(now + 3600), "ext_expires_in": "3600",
                          "not_before": str(now), "resource": resource, "token_type": "Bearer",
                          "client_id": emulator.identity.client_id})
