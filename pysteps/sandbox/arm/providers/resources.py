"""Subscriptions, tenants, resource providers and resource groups (Microsoft.Resources)."""

from __future__ import annotations

import re

from pysteps.sandbox.arm.context import Emulator
from pysteps.sandbox.arm.providers import generic
from pysteps.sandbox.arm.web import ArmError, Request, Response

GROUP_NAME = re.compile(r"^[-\w._()]{1,90}$")
API_VERSIONS = ["2024-11-01", "2024-07-01", "2024-03-01", "2023-09-01", "2023-07-01", "2022-11-01"]


def register(emulator: Emulator) -> None:
    router = emulator.router
    sub = emulator.subscription

    def subscription_body() -> dict:
        return {"id": f"/subscriptions/{sub}", "subscriptionId": sub, "tenantId": emulator.tenant,
                "displayName": "pysteps sandbox", "state": "Enabled", "authorizationSource": "RoleBased",
                "managedByTenants": [], "tags": {},
                "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "Sandbox",
                                         "spendingLimit": "Off"}}

    router.add("GET", "/subscriptions", lambda r: Response(200, {"value": [subscription_body()]}))
    router.add("GET", "/tenants", lambda r: Response(200, {"value": [
        {"id": f"/tenants/{emulator.tenant}", "tenantId": emulator.tenant, "tenantCategory": "Home",
         "displayName": "pysteps sandbox", "defaultDomain": "sandbox.invalid", "domains": ["sandbox.invalid"]}]}))

    @router.route("GET", "/subscriptions/{sub}")
    def get_subscription(request: Request) -> Response:
        check_subscription(emulator, request)
        return Response(200, subscription_body())

    @router.route("GET", "/subscriptions/{sub}/providers/{namespace}")
    def get_provider(request: Request) -> Response:
        namespace = request.params["namespace"]
        types = sorted({t.type.split("/", 1)[1] for t in generic.TYPES.values()
                        if t.type.lower().startswith(namespace.lower() + "/")} | {"locations", "operations"})
        return Response(200, {
            "id": f"/subscriptions/{sub}/providers/{namespace}", "namespace": namespace,
            "registrationState": "Registered",
            "resourceTypes": [{"resourceType": t, "locations": ["West Europe", "North Europe", "East US"],
                               "apiVersions": API_VERSIONS} for t in types]})

    @router.route("GET", "/subscriptions/{sub}/resourcegroups")
    def list_groups(request: Request) -> Response:
        check_subscription(emulator, request)
        groups = emulator.store.groups()
        tag_name, tag_value = _tag_filter(request.query.get("$filter", ""))
        if tag_name:
            groups = [g for g in groups if tag_name in (g.get("tags") or {})
                      and (tag_value is None or g["tags"][tag_name] == tag_value)]
        return Response(200, {"value": sorted(groups, key=lambda g: g["name"].lower())})

    @router.route("GET|HEAD", "/subscriptions/{sub}/resourcegroups/{group}")
    def get_group(request: Request) -> Response:
        check_subscription(emulator, request)
        found = emulator.store.find_group(sub, request.params["group"])
        if request.method == "HEAD":
            return Response(204 if found else 404, None)
        if found is None:
            emulator.store.group(sub, request.params["group"])  # raises ResourceGroupNotFound
        return Response(200, found)

    @router.route("PUT|PATCH", "/subscriptions/{sub}/resourcegroups/{group}")
    def put_group(request: Request) -> Response:
        check_subscription(emulator, request)
        name, body = request.params["group"], request.json()
        if not GROUP_NAME.match(name) or name.endswith("."):
            raise ArmError(400, "InvalidResourceGroup",
                           f"The provided resource group name '{name}' has these invalid characters or length: "
                           "it must be 1-90 letters, digits, underscores, hyphens, periods or parentheses, "
                           "and must not end in a period.", target="resourceGroupName")
        with emulator.store.lock:
            existing = emulator.store.find_group(sub, name)
            if request.method == "PATCH":
                if existing is None:
                    emulator.store.group(sub, name)
                if "tags" in body:
                    existing["tags"] = body["tags"] or {}
                emulator.store.put_group(sub, existing)
                return Response(200, existing)
            location = (body.get("location") or "").replace(" ", "").lower()
            if not location:
                raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
            if existing and existing["location"] != location:
                raise ArmError(409, "InvalidResourceGroupLocation",
                               f"Invalid resource group location '{location}'. The Resource group already exists in "
                               f"location '{existing['location']}'.")
            group = {"id": f"/subscriptions/{sub}/resourceGroups/{existing['name'] if existing else name}",
                     "name": existing["name"] if existing else name, "type": "Microsoft.Resources/resourceGroups",
                     "location": location, "managedBy": body.get("managedBy"), "tags": body.get("tags") or {},
                     "properties": {"provisioningState": "Succeeded"}}
            emulator.store.put_group(sub, group)
        return Response(200 if existing else 201, group)

    @router.route("DELETE", "/subscriptions/{sub}/resourcegroups/{group}")
    def delete_group(request: Request) -> Response:
        check_subscription(emulator, request)
        name = request.params["group"]
        with emulator.store.lock:
            group = emulator.store.group(sub, name)
            for resource in sorted(emulator.store.list_group(sub, name), key=_deletion_order):
                rules = generic.type_of(resource["type"])
                if rules.on_delete:
                    rules.on_delete(emulator, resource)
            emulator.store.delete_group(sub, group["name"])
            for hook in emulator.group_deleted:
                hook(group["name"])
        return emulator.operations.start(request, lambda: None, namespace="Microsoft.Resources", status=202,
                                         fail=request.context.get("lro_failure"))

    @router.route("GET", "/subscriptions/{sub}/resourcegroups/{group}/resources")
    def list_group_resources(request: Request) -> Response:
        check_subscription(emulator, request)
        emulator.store.group(sub, request.params["group"])
        found = [_summary(r) for r in emulator.store.list_group(sub, request.params["group"]) if _top_level(r)]
        return Response(200, {"value": found})

    @router.route("GET", "/subscriptions/{sub}/resources")
    def list_resources(request: Request) -> Response:
        check_subscription(emulator, request)
        return Response(200, {"value": [_summary(r) for r in emulator.store.all() if _top_level(r)]})


def check_subscription(emulator: Emulator, request: Request) -> None:
    given = request.params.get("sub")
    if given and given.lower() != emulator.subscription.lower():
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{given}' could not be found.")


def _tag_filter(text: str) -> tuple[str | None, str | None]:
    name = re.search(r"tagName eq '([^']*)'", text)
    value = re.search(r"tagValue eq '([^']*)'", text)
    return (name.group(1) if name else None), (value.group(1) if value else None)


def _top_level(resource: dict) -> bool:
    return resource["type"].count("/") == 1


def _summary(resource: dict) -> dict:
    keys = ("id", "name", "type", "location", "tags", "kind", "sku", "identity", "managedBy")
    return {k: resource[k] for k in keys if k in resource}


def _deletion_order(resource: dict) -> int:
    # Dependents first, as ARM's cascade does: machines before their NICs and disks, NICs before networks.
    order = ["virtualmachinescalesets", "virtualmachines", "networkinterfaces", "disks", "images"]
    kind = resource["type"].split("/")[1].lower()
    return order.index(kind) if kind in order else len(order)
