"""Virtual machine scale sets: Uniform and Flexible orchestration, model updates and upgrades.

Uniform instances are child resources (`.../virtualMachineScaleSets/S/virtualMachines/0`); Flexible
instances are ordinary VMs that point at their scale set. Each instance is a folder made from the
image its model names. An instance is unhealthy when its folder holds a file named
`.sandbox-unhealthy` (so an image preloaded with that marker rolls out unhealthy): that is the
health signal rolling upgrades and `instanceView` report.

Upgrade policies: Manual (instances keep their model until `update-instances`), Automatic (the
new model applies at once), Rolling (the new model rolls out in batches, stopping when too many
upgraded instances are unhealthy; needs a health probe or the Application Health extension).
"""

from __future__ import annotations

import math
import shutil
import time
import uuid
from pathlib import Path

from pysteps.sandbox.arm.context import Emulator
from pysteps.sandbox.arm.providers import compute, imds
from pysteps.sandbox.arm.providers.generic import ResourceType, register_type
from pysteps.sandbox.arm.store import ResourceId
from pysteps.sandbox.arm.web import ArmError, Request

SCALE_SET_TYPE = "Microsoft.Compute/virtualMachineScaleSets"
INSTANCE_TYPE = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"
ROLLING_TYPE = "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades"
UNHEALTHY_MARKER = ".sandbox-unhealthy"
HEALTH_EXTENSIONS = {"applicationhealthlinux", "applicationhealthwindows"}


def register(emulator: Emulator) -> None:
    register_type(ResourceType(
        type=SCALE_SET_TYPE, build=build_scale_set, on_delete=delete_scale_set, view=scale_set_view,
        put_work=after_model_change,
        actions={"manualupgrade": update_instances, "osRollingUpgrade": start_rolling_upgrade,
                 "delete": delete_instances, "start": power("running"), "powerOff": power("stopped"),
                 "deallocate": power("deallocated"), "restart": power("running"), "reimage": reimage},
        subviews={"instanceView": lambda e, s, r: scale_set_instance_view(e, s)},
    ))
    register_type(ResourceType(
        type=INSTANCE_TYPE, build=refuse_instance_put, on_delete=delete_instance, view=instance_view,
        actions={"start": power("running"), "powerOff": power("stopped"), "deallocate": power("deallocated"),
                 "restart": power("running"), "reimage": reimage},
        subviews={"instanceView": lambda e, i, r: _instance_view_body(i)},
    ))
    register_type(ResourceType(type=ROLLING_TYPE, build=refuse_instance_put, long_running=False))


# --- the scale set ----------------------------------------------------------------------------

def build_scale_set(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    compute.check_machine_name(rid.name, "scale set")
    props = body.get("properties") or {}
    mode = props.get("orchestrationMode") or (existing or {}).get("properties", {}).get("orchestrationMode") \
        or "Uniform"
    if mode not in ("Uniform", "Flexible"):
        raise ArmError(400, "InvalidParameter", f"The orchestration mode '{mode}' is invalid: expected Uniform or "
                                                "Flexible.", target="orchestrationMode")
    sku = body.get("sku") or (existing or {}).get("sku") or {}
    compute.check_size(sku.get("name"))
    capacity = sku.get("capacity", 0)
    if not isinstance(capacity, int) or capacity < 0 or capacity > 1000:
        raise ArmError(400, "InvalidParameter", f"The capacity {capacity!r} is invalid: expected 0 to 1000.",
                       target="sku.capacity")
    upgrade_mode = (props.get("upgradePolicy") or {}).get("mode", "Manual")
    model = props.get("virtualMachineProfile")
    if mode == "Uniform" and not model:
        raise ArmError(400, "InvalidParameter", "A Uniform scale set needs a virtualMachineProfile.",
                       target="virtualMachineProfile")
    if model:
        compute.source_of(emulator, (model.get("storageProfile") or {}).get("imageReference") or {})
    if upgrade_mode == "Rolling" and mode == "Uniform" and not _has_health_signal(model):
        raise ArmError(400, "BadRequest", "Rolling Upgrade mode is not supported for this Virtual Machine Scale Set "
                                          "because a health probe or health extension was not provided.")
    if mode == "Flexible" and props.get("overprovision") is True:
        raise ArmError(400, "InvalidParameter", "Overprovisioning is not supported for Flexible orchestration.",
                       target="overprovision")
    location = body.get("location") or emulator.store.group(rid.subscription, rid.group)["location"]
    previous_model = (existing or {}).get("properties", {}).get("virtualMachineProfile")
    scale_set = {
        "id": str(rid), "name": rid.name, "type": SCALE_SET_TYPE, "location": location,
        "tags": body.get("tags") if "tags" in body else (existing or {}).get("tags", {}),
        "sku": {"name": sku["name"], "tier": "Standard", "capacity": capacity},
        "properties": {
            **props, "orchestrationMode": mode, "upgradePolicy": {**(props.get("upgradePolicy") or {}),
                                                                  "mode": upgrade_mode},
            "provisioningState": "Succeeded",
            "uniqueId": (existing or {}).get("properties", {}).get("uniqueId") or str(uuid.uuid4()),
            "timeCreated": (existing or {}).get("properties", {}).get("timeCreated") or compute.now_iso(),
        },
        "_model_changed": bool(existing) and _image_of(previous_model) != _image_of(model),
    }
    if mode == "Uniform":
        scale_set["properties"].setdefault("overprovision", True)
    emulator.store.put(scale_set)
    _reconcile_capacity(emulator, scale_set, request)
    return emulator.store.get(str(rid))


def _has_health_signal(model: dict | None) -> bool:
    model = model or {}
    if (model.get("networkProfile") or {}).get("healthProbe"):
        return True
    extensions = ((model.get("extensionProfile") or {}).get("extensions")) or []
    return any(((e.get("properties") or {}).get("type") or "").lower() in HEALTH_EXTENSIONS for e in extensions)


def _image_of(model: dict | None) -> str | None:
    reference = ((model or {}).get("storageProfile") or {}).get("imageReference") or {}
    return reference.get("id") or ":".join(str(reference.get(k)) for k in ("publisher", "offer", "sku", "version"))


def scale_set_view(emulator: Emulator, scale_set: dict, request: Request) -> dict:
    return {k: v for k, v in scale_set.items() if not k.startswith("_")}


def after_model_change(emulator: Emulator, scale_set: dict, request: Request):
    """What follows a PUT: Automatic applies a new model at once, Rolling rolls it out in batches."""
    if not scale_set.get("_model_changed"):
        return lambda: None
    policy = scale_set["properties"]["upgradePolicy"]["mode"]
    if policy == "Automatic":
        return lambda: _upgrade(emulator, scale_set["id"], _instances(emulator, scale_set))
    if policy == "Rolling":
        return lambda: _rolling_upgrade(emulator, scale_set["id"])
    return lambda: None


def delete_scale_set(emulator: Emulator, scale_set: dict) -> None:
    for instance in _instances(emulator, scale_set):
        _remove_instance(emulator, instance)


def scale_set_instance_view(emulator: Emulator, scale_set: dict) -> dict:
    counts: dict[str, int] = {}
    for instance in _instances(emulator, scale_set):
        code = f"PowerState/{instance['_power']}"
        counts[code] = counts.get(code, 0) + 1
    return {"virtualMachine": {"statusesSummary": [{"code": c, "count": n} for c, n in sorted(counts.items())]},
            "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info",
                          "displayStatus": "Provisioning succeeded"}]}


# --- instances --------------------------------------------------------------------------------

def _instances(emulator: Emulator, scale_set: dict) -> list[dict]:
    if scale_set["properties"]["orchestrationMode"] == "Uniform":
        found = emulator.store.list(subscription=ResourceId.parse(scale_set["id"]).subscription, type_=INSTANCE_TYPE,
                                    parent=scale_set["id"])
        return sorted(found, key=lambda i: int(i["name"]))
    rid = ResourceId.parse(scale_set["id"])
    machines = emulator.store.list(subscription=rid.subscription, type_=compute.VM_TYPE, group=rid.group)
    return [m for m in machines if _member_of(m, scale_set)]


def _member_of(machine: dict, scale_set: dict) -> bool:
    owner = (machine["properties"].get("virtualMachineScaleSet") or {}).get("id") or ""
    return owner.lower() == scale_set["id"].lower()


def _reconcile_capacity(emulator: Emulator, scale_set: dict, request: Request) -> None:
    instances = _instances(emulator, scale_set)
    wanted = scale_set["sku"]["capacity"]
    for instance in instances[wanted:][::-1]:  # scale in: newest first
        _remove_instance(emulator, instance)
    uniform = scale_set["properties"]["orchestrationMode"] == "Uniform"
    next_id = max((int(i["name"]) for i in instances), default=-1) + 1 if uniform else 0
    for offset in range(wanted - len(instances)):
        _add_instance(emulator, scale_set, next_id + offset, request)


def _add_instance(emulator: Emulator, scale_set: dict, number: int, request: Request) -> None:
    model = scale_set["properties"].get("virtualMachineProfile") or {}
    rid = ResourceId.parse(scale_set["id"])
    os_profile = model.get("osProfile") or {}
    prefix = os_profile.get("computerNamePrefix") or rid.name[:9]
    if scale_set["properties"]["orchestrationMode"] == "Flexible":
        name = f"{rid.name}_{uuid.uuid4().hex[:8]}"
        body = {"location": scale_set["location"], "properties": {
            "hardwareProfile": {"vmSize": scale_set["sku"]["name"]},
            "storageProfile": model.get("storageProfile") or {},
            "osProfile": {**os_profile, "computerName": f"{prefix}{uuid.uuid4().hex[:6]}"},
            "virtualMachineScaleSet": {"id": scale_set["id"]}}}
        vm_id = ResourceId.parse(f"{rid.group_id}/providers/Microsoft.Compute/virtualMachines/{name}")
        vm = compute.build_vm(emulator, vm_id, body, None, request)
        vm["_image"] = _image_of(model)
        emulator.store.put(vm)
        return
    child = rid.child("virtualMachines", str(number))
    generation, image_folder = compute.source_of(emulator, (model.get("storageProfile") or {}).get(
        "imageReference") or {})
    folder = compute.machine_folder(emulator, child)
    compute.materialize(folder, image_folder)
    emulator.store.put({
        "id": str(child), "name": str(number), "type": INSTANCE_TYPE, "location": scale_set["location"],
        "instanceId": str(number), "sku": {"name": scale_set["sku"]["name"], "tier": "Standard"},
        "properties": {"latestModelApplied": True, "vmId": str(uuid.uuid4()), "provisioningState": "Succeeded",
                       "hardwareProfile": {"vmSize": scale_set["sku"]["name"]},
                       "storageProfile": model.get("storageProfile") or {},
                       "osProfile": {"computerName": f"{prefix}{number:06X}",
                                     "adminUsername": os_profile.get("adminUsername")},
                       "timeCreated": compute.now_iso()},
        "_power": "running", "_folder": str(folder), "_image": _image_of(model), "_generation": generation,
        "_imds_key": imds.new_key(),
    })


def _remove_instance(emulator: Emulator, instance: dict) -> None:
    emulator.store.delete(instance["id"])
    if instance["type"] == INSTANCE_TYPE:
        shutil.rmtree(instance.get("_folder", ""), ignore_errors=True)
    else:
        compute.delete_machine_folder(emulator, instance)


def refuse_instance_put(emulator, rid, body, existing, request) -> dict:
    raise ArmError(405, "MethodNotAllowed", f"The sandbox does not support PUT on '{rid.type}'.")


def delete_instance(emulator: Emulator, instance: dict) -> None:
    shutil.rmtree(instance.get("_folder", ""), ignore_errors=True)
    parent = ResourceId.parse(instance["id"]).parent
    with emulator.store.lock:
        scale_set = emulator.store.find(str(parent))
        if scale_set:
            scale_set["sku"]["capacity"] = max(0, scale_set["sku"]["capacity"] - 1)
            emulator.store.put(scale_set)


def healthy(instance: dict) -> bool:
    folder = Path(instance.get("_folder", ""))
    return not (folder / UNHEALTHY_MARKER).exists() and not any(folder.glob(f"disks/*/{UNHEALTHY_MARKER}"))


def _instance_view_body(instance: dict) -> dict:
    statuses = [{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded"},
                {"code": f"PowerState/{instance['_power']}", "level": "Info",
                 "displayStatus": compute.POWER_DISPLAY[instance["_power"]]}]
    state = "healthy" if healthy(instance) else "unhealthy"
    return {"computerName": instance["properties"]["osProfile"]["computerName"], "osName": "ubuntu",
            "statuses": statuses, "vmHealth": {"status": {"code": f"HealthState/{state}", "level": "Info",
                                                          "displayStatus": f"The VM is {state}"}}}


def instance_view(emulator: Emulator, instance: dict, request: Request) -> dict:
    shown = {k: v for k, v in instance.items() if not k.startswith("_")}
    scale_set = emulator.store.find(str(ResourceId.parse(instance["id"]).parent))
    if scale_set:
        shown["properties"] = {**shown["properties"],
                               "latestModelApplied": instance.get("_image") == _image_of(
                                   scale_set["properties"].get("virtualMachineProfile"))}
    if request.query.get("$expand", "").lower() == "instanceview":
        shown["properties"]["instanceView"] = _instance_view_body(instance)
    return shown


# --- actions ----------------------------------------------------------------------------------

def _selected(emulator: Emulator, scale_set: dict, request: Request, *, required: bool) -> list[dict]:
    ids = (request.json() or {}).get("instanceIds")
    instances = _instances(emulator, scale_set)
    if ids is None or ids == ["*"]:
        if required and ids is None:
            raise ArmError(400, "InvalidParameter", "instanceIds is required.", target="instanceIds")
        return instances
    by_id = {i["name"]: i for i in instances}
    missing = [i for i in ids if str(i) not in by_id]
    if missing:
        raise ArmError(400, "InvalidParameter", f"The instance id(s) {', '.join(map(str, missing))} are not in "
                                                f"scale set '{scale_set['name']}'.", target="instanceIds")
    return [by_id[str(i)] for i in ids]


def _upgrade(emulator: Emulator, scale_set_id: str, instances: list[dict]) -> None:
    with emulator.store.lock:
        scale_set = emulator.store.get(scale_set_id)
        model = scale_set["properties"].get("virtualMachineProfile") or {}
        reference = (model.get("storageProfile") or {}).get("imageReference") or {}
        _, image_folder = compute.source_of(emulator, reference)
        for instance in instances:
            current = emulator.store.find(instance["id"])
            if current is None:
                continue
            compute.materialize(Path(current["_folder"]), image_folder)
            current["_image"] = _image_of(model)
            current["properties"]["storageProfile"] = model.get("storageProfile") or {}
            emulator.store.put(current)


def update_instances(emulator: Emulator, scale_set: dict, request: Request):
    if scale_set["properties"]["orchestrationMode"] != "Uniform":
        raise ArmError(400, "OperationNotAllowed", "Manual upgrade applies to Uniform scale sets only.")
    chosen = _selected(emulator, scale_set, request, required=True)
    return lambda: _upgrade(emulator, scale_set["id"], chosen)


def reimage(emulator: Emulator, target: dict, request: Request):
    if target["type"] == INSTANCE_TYPE:
        scale_set_id = str(ResourceId.parse(target["id"]).parent)
        return lambda: _reimage(emulator, scale_set_id, [target])
    chosen = _selected(emulator, target, request, required=False)
    return lambda: _reimage(emulator, target["id"], chosen)


def _reimage(emulator: Emulator, scale_set_id: str, instances: list[dict]) -> None:
    """Reimage: the instance's own (possibly older) image, fresh."""
    with emulator.store.lock:
        for instance in instances:
            current = emulator.store.find(instance["id"])
            if current is None:
                continue
            reference = (current["properties"].get("storageProfile") or {}).get("imageReference") or {}
            _, folder = compute.source_of(emulator, reference)
            compute.materialize(Path(current["_folder"]), folder)


def delete_instances(emulator: Emulator, scale_set: dict, request: Request):
    chosen = _selected(emulator, scale_set, request, required=True)

    def work():
        with emulator.store.lock:
            for instance in chosen:
                if emulator.store.find(instance["id"]):
                    _remove_instance(emulator, instance)
            current = emulator.store.get(scale_set["id"])
            current["sku"]["capacity"] = len(_instances(emulator, current))
            emulator.store.put(current)

    return work


def power(state: str):
    def action(emulator: Emulator, target: dict, request: Request):
        chosen = [target] if target["type"] != SCALE_SET_TYPE else _selected(emulator, target, request,
                                                                             required=False)

        def work():
            with emulator.store.lock:
                for instance in chosen:
                    current = emulator.store.find(instance["id"])
                    if current:
                        current["_power"] = state
                        emulator.store.put(current)
        return work
    return action


def start_rolling_upgrade(emulator: Emulator, scale_set: dict, request: Request):
    if scale_set["properties"]["upgradePolicy"]["mode"] != "Rolling":
        raise ArmError(409, "OperationNotAllowed", f"Scale set '{scale_set['name']}' does not use the Rolling "
                                                   "upgrade policy.")
    return lambda: _rolling_upgrade(emulator, scale_set["id"])


def _rolling_upgrade(emulator: Emulator, scale_set_id: str) -> None:
    """Upgrade in batches; fail when more upgraded instances are unhealthy than the policy allows."""
    with emulator.store.lock:
        scale_set = emulator.store.get(scale_set_id)
        policy = scale_set["properties"]["upgradePolicy"].get("rollingUpgradePolicy") or {}
        model_image = _image_of(scale_set["properties"].get("virtualMachineProfile"))
        pending = [i for i in _instances(emulator, scale_set) if i.get("_image") != model_image]
    batch_size = max(1, math.ceil(len(_instances(emulator, scale_set)) *
                                  policy.get("maxBatchInstancePercent", 20) / 100))
    allowed_unhealthy = policy.get("maxUnhealthyUpgradedInstancePercent", 20)
    status = {"successfulInstanceCount": 0, "failedInstanceCount": 0, "inProgressInstanceCount": 0,
              "pendingInstanceCount": len(pending)}
    _record_rolling(emulator, scale_set, "RollingForward", status)
    upgraded = []
    for start in range(0, len(pending), batch_size):
        batch = pending[start:start + batch_size]
        _upgrade(emulator, scale_set_id, batch)
        with emulator.store.lock:
            upgraded += [emulator.store.get(i["id"]) for i in batch]
        unhealthy = [i for i in upgraded if not healthy(i)]
        status.update(successfulInstanceCount=len(upgraded) - len(unhealthy), failedInstanceCount=len(unhealthy),
                      pendingInstanceCount=len(pending) - len(upgraded))
        if unhealthy and len(unhealthy) * 100 / max(1, len(_instances(emulator, scale_set))) > allowed_unhealthy:
            error = ArmError(409, "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade",
                             f"Rolling upgrade stopped: {len(unhealthy)} upgraded instance(s) are unhealthy "
                             f"({', '.join(i['name'] for i in unhealthy)}).")
            _record_rolling(emulator, scale_set, "Faulted", status, error)
            raise error
        _record_rolling(emulator, scale_set, "RollingForward", status)
        time.sleep(float(policy.get("pauseSeconds", 0)))
    _record_rolling(emulator, scale_set, "Completed", status)


def _record_rolling(emulator: Emulator, scale_set: dict, code: str, status: dict, error: ArmError | None = None):
    rid = ResourceId.parse(scale_set["id"]).child("rollingUpgrades", "latest")
    record = {"id": str(rid), "name": "latest", "type": ROLLING_TYPE, "location": scale_set["location"],
              "properties": {"policy": scale_set["properties"]["upgradePolicy"].get("rollingUpgradePolicy") or {},
                             "runningStatus": {"code": code, "startTime": compute.now_iso()},
                             "progress": dict(status)}}
    if error is not None:
        record["properties"]["error"] = error.body()["error"]
    with emulator.store.lock:
        emulator.store.put(record)
