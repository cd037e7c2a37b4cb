"""Resources under a resource group: create-or-replace, read, update, delete, list and actions.

Each resource type may register a `ResourceType` with its own rules (validation, defaults,
side effects, POST actions); any other type is stored as given, as ARM would for a simple type.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pysteps.sandbox.arm.context import Emulator
from pysteps.sandbox.arm.store import ResourceId
from pysteps.sandbox.arm.web import ArmError, Request, Response

Action = Callable[[Emulator, dict, Request], Any]


@dataclass
class ResourceType:
    """Rules for one resource type. `build` returns the resource to store for a PUT."""

    type: str
    long_running: bool = True
    build: Callable[[Emulator, ResourceId, dict, dict | None, Request], dict] | None = None
    on_delete: Callable[[Emulator, dict], None] | None = None
    before_delete: Callable[[Emulator, dict], None] | None = None
    actions: dict[str, Action] = field(default_factory=dict)
    action_status: int = 202
    synchronous_actions: frozenset[str] = frozenset()
    view: Callable[[Emulator, dict, Request], dict] | None = None
    # For types whose creation is itself long work (deployments): returns the work for the operation.
    put_work: Callable[[Emulator, dict, Request], Callable[[], Any]] | None = None
    subviews: dict[str, Callable[[Emulator, dict, Request], dict]] = field(default_factory=dict)


TYPES: dict[str, ResourceType] = {}


def register_type(resource_type: ResourceType) -> ResourceType:
    TYPES[resource_type.type.lower()] = resource_type
    return resource_type


def type_of(type_name: str) -> ResourceType:
    return TYPES.get(type_name.lower()) or ResourceType(type=type_name)


def default_build(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    resource = copy.deepcopy(body)
    resource.update({"id": str(rid), "name": rid.name, "type": rid.type})
    if "location" not in resource and rid.parent is None:
        group = emulator.store.group(rid.subscription, rid.group)
        resource["location"] = group["location"]
    resource.setdefault("properties", {})["provisioningState"] = "Succeeded"
    return resource


def register(emulator: Emulator) -> None:
    base = "/subscriptions/{sub}/resourceGroups/{group}/providers/{namespace}/{rest:path}"
    router = emulator.router
    router.add("GET", "/subscriptions/{sub}/providers/{namespace}/{type}", lambda r: list_in_subscription(emulator, r))
    router.add("GET", base, lambda r: dispatch(emulator, r))
    router.add("PUT", base, lambda r: dispatch(emulator, r))
    router.add("PATCH", base, lambda r: dispatch(emulator, r))
    router.add("DELETE", base, lambda r: dispatch(emulator, r))
    router.add("POST", base, lambda r: dispatch(emulator, r))


def dispatch(emulator: Emulator, request: Request) -> Response:
    p = request.params
    p["rest"] = p["rest"].strip("/")
    segments = p["rest"].split("/")
    store = emulator.store
    with store.lock:
        group = store.group(p["sub"], p["group"])
        group_id = group["id"]
        if len(segments) % 2 == 1:  # a collection, or an action on a resource
            if request.method == "GET" and len(segments) >= 3:
                parent = store.find(f"{group_id}/providers/{p['namespace']}/{'/'.join(segments[:-1])}")
                subview = type_of(parent["type"]).subviews.get(segments[-1]) if parent else None
                if subview:
                    return Response(200, subview(emulator, parent, request))
            if request.method == "GET":
                return list_collection(emulator, request, group_id, segments)
            if request.method == "POST" and len(segments) >= 3:
                rid = ResourceId.parse(f"{group_id}/providers/{p['namespace']}/{'/'.join(segments[:-1])}")
                return run_action(emulator, request, rid, segments[-1])
            raise ArmError(405, "MethodNotAllowed", f"The method '{request.method}' is not allowed here.")
        rid = ResourceId.parse(f"{group_id}/providers/{p['namespace']}/{p['rest']}")
        if rid.parent is not None and store.find(str(rid.parent)) is None:
            store.get(str(rid.parent))  # raises the parent's ResourceNotFound
        if request.method == "GET":
            return Response(200, present(emulator, store.get(str(rid)), request))
        if request.method == "DELETE":
            return delete_resource(emulator, request, rid)
        if request.method == "PATCH":
            existing = store.get(str(rid))
            body = merge(copy.deepcopy(existing), request.json())
            return put_resource(emulator, request, rid, body, existing)
        return put_resource(emulator, request, rid, request.json(), store.find(str(rid)))


def present(emulator: Emulator, resource: dict, request: Request) -> dict:
    """The resource as Azure shows it: the type's view, and never the emulator's own `_` fields."""
    view = type_of(resource["type"]).view
    if view:
        return view(emulator, resource, request)
    return {k: v for k, v in resource.items() if not k.startswith("_")}


def apply_put(emulator: Emulator, request: Request, rid: ResourceId, body: dict, existing: dict | None) -> dict:
    """Build and store a resource by its type's rules; returns what was stored."""
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    build = type_of(rid.type).build or default_build
    return emulator.store.put(build(emulator, rid, body, existing, request))


def put_resource(emulator: Emulator, request: Request, rid: ResourceId, body: dict, existing: dict | None) -> Response:
    rules = type_of(rid.type)
    resource = apply_put(emulator, request, rid, body, existing)
    failure = request.context.get("lro_failure")
    if failure is not None and rules.put_work is None:
        resource.setdefault("properties", {})["provisioningState"] = "Failed"
        emulator.store.put(resource)
    shown = present(emulator, resource, request)
    if not rules.long_running:
        return Response(200, shown)
    effect = rules.put_work(emulator, resource, request) if rules.put_work else (lambda: None)

    def work():  # the operation's result (its Location) is the resource as it ends up
        effect()
        with emulator.store.lock:
            return present(emulator, emulator.store.get(str(rid)), request)

    return emulator.operations.start(request, work, namespace=rid.namespace, status=200 if existing else 201,
                                     body=shown, fail=failure)


def delete_resource(emulator: Emulator, request: Request, rid: ResourceId) -> Response:
    resource = emulator.store.find(str(rid))
    if resource is None:
        return Response(204, None)  # ARM: deleting what is not there succeeds
    rules = type_of(resource["type"])
    if rules.before_delete:
        rules.before_delete(emulator, resource)
    emulator.store.delete(str(rid))
    if rules.on_delete:
        rules.on_delete(emulator, resource)
    if not rules.long_running:
        return Response(200, None)
    return emulator.operations.start(request, lambda: None, namespace=rid.namespace, status=202,
                                     fail=request.context.get("lro_failure"))


def run_action(emulator: Emulator, request: Request, rid: ResourceId, action: str) -> Response:
    resource = emulator.store.get(str(rid))
    rules = type_of(resource["type"])
    handler = next((h for name, h in rules.actions.items() if name.lower() == action.lower()), None)
    if handler is None:
        raise ArmError(400, "InvalidResourceOperation", f"The operation '{action}' is not supported by "
                                                        f"resource type '{resource['type']}'.")
    if any(a.lower() == action.lower() for a in rules.synchronous_actions):
        return Response(200, handler(emulator, resource, request))
    work = handler(emulator, resource, request)  # validates now; returns the work to run as the operation
    return emulator.operations.start(request, work, namespace=rid.namespace, status=rules.action_status,
                                     fail=request.context.get("lro_failure"))


def list_collection(emulator: Emulator, request: Request, group_id: str, segments: list[str]) -> Response:
    p = request.params
    namespace = p["namespace"]
    parent = None
    if len(segments) > 1:
        parent_id = ResourceId.parse(f"{group_id}/providers/{namespace}/{'/'.join(segments[:-1])}")
        emulator.store.get(str(parent_id))
        parent = str(parent_id)
        type_name = f"{parent_id.type}/{segments[-1]}"
    else:
        type_name = f"{namespace}/{segments[0]}"
    found = emulator.store.list(subscription=p["sub"], type_=type_name, group=p["group"], parent=parent)
    return Response(200, {"value": [present(emulator, r, request) for r in found]})


def list_in_subscription(emulator: Emulator, request: Request) -> Response:
    p = request.params
    with emulator.store.lock:
        found = emulator.store.list(subscription=p["sub"], type_=f"{p['namespace']}/{p['type']}")
        return Response(200, {"value": [present(emulator, r, request) for r in found]})


def merge(base: dict, patch: dict) -> dict:
    """JSON merge: nested objects merge, everything else replaces."""
    for key, value in (patch or {}).items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base
