"""Template deployments (Microsoft.Resources/deployments), as `az vm create` and `az vmss create` send them.

The template's resources are created in dependency order by the same rules as direct PUTs, so a
VM from a template is checked exactly like one created alone. A failure ends the deployment (and
its long-running operation) `Failed`, with the failing resource's error in `details`, as in Azure;
what was created before the failure stays, as in Azure.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid

from pysteps.sandbox.arm.context import Emulator
from pysteps.sandbox.arm.providers import generic
from pysteps.sandbox.arm.providers.compute import now_iso
from pysteps.sandbox.arm.providers.generic import ResourceType, register_type
from pysteps.sandbox.arm.store import ResourceId, resource_id
from pysteps.sandbox.arm.templates import Evaluator, invalid
from pysteps.sandbox.arm.web import ArmError, Request

DEPLOYMENT_TYPE = "Microsoft.Resources/deployments"
BODY_KEYS = ("location", "tags", "properties", "sku", "identity", "zones", "kind", "plan")


def register(emulator: Emulator) -> None:
    register_type(ResourceType(
        type=DEPLOYMENT_TYPE, build=build_deployment, put_work=deploy,
        actions={"validate": validate, "cancel": lambda e, d, r: None},
        synchronous_actions=frozenset({"validate", "cancel"}),
        subviews={"operations": lambda e, d, r: {"value": d.get("_operations", [])}},
    ))


def build_deployment(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    props = body.get("properties") or {}
    template = props.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("resources", []), list):
        raise invalid("the template is missing or has no 'resources' list (templateLink is not supported)")
    return {
        "id": str(rid), "name": rid.name, "type": DEPLOYMENT_TYPE, "tags": body.get("tags") or {},
        "properties": {
            "templateHash": hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:20],
            "parameters": props.get("parameters") or {}, "mode": props.get("mode", "Incremental"),
            "provisioningState": "Running", "timestamp": now_iso(), "correlationId": str(uuid.uuid4()),
            "outputResources": [], "outputs": {},
        },
        "_template": template,
    }


def deploy(emulator: Emulator, deployment: dict, request: Request):
    """The work of a deployment: create its resources, then evaluate its outputs."""

    def work():
        started = time.monotonic()
        with emulator.store.lock:
            try:
                created, outputs = _run_template(emulator, deployment, request)
            except ArmError as error:
                _finish(emulator, deployment, "Failed", started, error=error)
                raise ArmError(400, "DeploymentFailed",
                               "At least one resource deployment operation failed. Please list deployment "
                               "operations for details.", details=[error.body()["error"]]) from None
            _finish(emulator, deployment, "Succeeded", started, created=created, outputs=outputs)

    return work


def validate(emulator: Emulator, deployment: dict, request: Request) -> dict:
    body = request.json()
    rid = ResourceId.parse(deployment["id"])
    checked = build_deployment(emulator, rid, body, None, request)
    _ordered(checked["_template"].get("resources", []), _evaluator(emulator, checked, request))
    shown = {k: v for k, v in checked.items() if not k.startswith("_")}
    shown["properties"]["provisioningState"] = "Succeeded"
    return shown


def _finish(emulator, deployment, state, started, *, created=(), outputs=None, error=None) -> None:
    stored = emulator.store.get(deployment["id"])
    props = stored["properties"]
    props.update({"provisioningState": state, "duration": f"PT{time.monotonic() - started:.3f}S",
                  "outputResources": [{"id": rid} for rid in created], "outputs": outputs or {}})
    stored["_operations"] = [{"id": f"{deployment['id']}/operations/{i}", "operationId": str(i),
                              "properties": {"provisioningState": "Succeeded", "targetResource": {"id": rid}}}
                             for i, rid in enumerate(created)]
    if error is not None:
        props["error"] = {"code": "DeploymentFailed", "message": "At least one resource deployment operation failed.",
                          "details": [error.body()["error"]]}
    emulator.store.put(stored)


def _run_template(emulator: Emulator, deployment: dict, request: Request) -> tuple[list[str], dict]:
    evaluator = _evaluator(emulator, deployment, request)
    created = []
    for item in _ordered(deployment["_template"].get("resources", []), evaluator):
        resolved = evaluator.resolve({k: v for k, v in item.items() if k in BODY_KEYS})
        rid = _template_resource_id(deployment, evaluator.resolve(item["type"]), evaluator.resolve(item["name"]))
        existing = emulator.store.find(str(rid))
        generic.apply_put(emulator, request, rid, resolved, existing)
        created.append(str(rid))
    template_outputs = deployment["_template"].get("outputs") or {}
    outputs = {camel_case(name): {"type": spec.get("type", "Object"), "value": evaluator.resolve(spec.get("value"))}
               for name, spec in template_outputs.items()}
    return created, outputs


def camel_case(name: str) -> str:
    """Output names as ARM returns them: its serializer lower-cases the leading capitals ('VMSS' -> 'vmss')."""
    chars = list(name)
    for i, char in enumerate(chars):
        if i == 1 and not char.isupper():
            break
        if i > 0 and i + 1 < len(chars) and not chars[i + 1].isupper():
            break
        chars[i] = char.lower()
    return "".join(chars)


def _template_resource_id(deployment: dict, type_: str, name: str) -> ResourceId:
    group = ResourceId.parse(deployment["id"])
    names = name.split("/")
    if len(type_.split("/")) - 1 != len(names):
        raise invalid(f"the resource name '{name}' does not match the segments of its type '{type_}'")
    return ResourceId.parse(resource_id(group.subscription, group.group, type_, *names))


def _ordered(resources: list[dict], evaluator: Evaluator) -> list[dict]:
    """Resources in an order that honours every dependsOn; a cycle or an unknown dependency is invalid."""
    keys = {}
    for item in resources:
        type_, name = evaluator.resolve(item.get("type", "")), evaluator.resolve(item.get("name", ""))
        if not type_ or not name:
            raise invalid("every resource needs a 'type' and a 'name'")
        keys[id(item)] = {f"{type_}/{name}".lower(), name.lower()}
    done, ordered, pending = set(), [], list(resources)
    while pending:
        progress = False
        for item in list(pending):
            needs = [str(evaluator.resolve(d)).lower() for d in item.get("dependsOn", [])]
            if all(any(_refers(need, other) for other in done) for need in needs):
                ordered.append(item)
                done.update(keys[id(item)])
                pending.remove(item)
                progress = True
        if not progress:
            names = ", ".join(sorted(next(iter(keys[id(i)])) for i in pending))
            raise invalid(f"circular or unknown dependencies among: {names}")
    return ordered


def _refers(need: str, key: str) -> bool:
    return need == key or need.endswith("/" + key) or key.endswith(need)


def _evaluator(emulator: Emulator, deployment: dict, request: Request) -> Evaluator:
    template = deployment["_template"]
    given = deployment["properties"].get("parameters") or {}
    rid = ResourceId.parse(deployment["id"])
    group = emulator.store.group(rid.subscription, rid.group)
    evaluator: Evaluator

    def parameters(name):
        if name in given:
            return given[name].get("value")
        spec = (template.get("parameters") or {}).get(name)
        if spec is None:
            raise invalid(f"the template parameter '{name}' is not found")
        return evaluator.resolve(spec.get("defaultValue"))

    def variables(name):
        if name not in (template.get("variables") or {}):
            raise invalid(f"the template variable '{name}' is not found")
        return evaluator.resolve(template["variables"][name])

    def resource_id_function(*args):
        args = list(args)
        subscription, group_name = rid.subscription, rid.group
        if len(args) >= 3 and "/" not in args[0] and "/" not in args[1] and "/" in args[2]:
            subscription, group_name = args.pop(0), args.pop(0)
        elif len(args) >= 2 and "/" not in args[0] and "/" in args[1]:
            group_name = args.pop(0)
        return resource_id(subscription, group_name, args[0], *args[1:])

    def reference(target, api_version=None, full=None):
        target_id = target if target.startswith("/") else resource_id_function(*_type_and_name(template, target))
        found = generic.present(emulator, emulator.store.get(target_id), request)
        return found if str(full).lower() == "full" else found.get("properties", {})

    functions = {
        "parameters": parameters, "variables": variables, "resourceId": resource_id_function,
        "reference": reference,
        "resourceGroup": lambda: {"id": group["id"], "name": group["name"], "location": group["location"],
                                  "properties": group.get("properties", {})},
        "subscription": lambda: {"id": f"/subscriptions/{rid.subscription}", "subscriptionId": rid.subscription,
                                 "tenantId": emulator.tenant},
        "deployment": lambda: {"name": rid.name},
        "providers": lambda namespace, type_=None: {"namespace": namespace, "resourceType": type_,
                                                    "apiVersions": ["2024-11-01"], "locations": [group["location"]]},
    }
    evaluator = Evaluator(functions)
    return evaluator


def _type_and_name(template: dict, name: str) -> tuple[str, ...]:
    for item in template.get("resources", []):
        if item.get("name") == name:
            return (item["type"], *name.split("/"))
    raise invalid(f"the resource '{name}' referenced by reference() is not in the template")
