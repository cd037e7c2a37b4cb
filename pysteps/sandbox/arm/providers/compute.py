"""Microsoft.Compute: VMs and their power states, disks, run-command, images, and marketplace lookups.

A sandbox VM is a folder, machines/<group>/<vm>/, with one sub-folder per data disk
(disks/lun0, ...). An image keeps a copy of its VM's folder; machines made from an image start
from that copy, so data preloaded onto a VM's disk is on every instance of the image.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pysteps.sandbox import machine
from pysteps.sandbox.arm.context import Emulator
from pysteps.sandbox.arm.providers import galleries, generic, imds, scalesets
from pysteps.sandbox.arm.providers.generic import ResourceType, register_type
from pysteps.sandbox.arm.store import ResourceId
from pysteps.sandbox.arm.web import ArmError, Request, Response

VM_TYPE = "Microsoft.Compute/virtualMachines"
DISK_TYPE = "Microsoft.Compute/disks"
IMAGE_TYPE = "Microsoft.Compute/images"
MACHINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}[A-Za-z0-9_]$|^[A-Za-z0-9]$")
IMAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,78}[A-Za-z0-9_]$|^[A-Za-z0-9]$")
OUTPUT_LIMIT = 4096  # run-command keeps the last 4 KB of each stream
SIZES = {
    "Standard_B1s": (1, 1024, 4), "Standard_B2s": (2, 4096, 4), "Standard_DS1_v2": (1, 3584, 4),
    "Standard_DS2_v2": (2, 7168, 8), "Standard_D2s_v3": (2, 8192, 4), "Standard_D2s_v5": (2, 8192, 4),
    "Standard_D4s_v5": (4, 16384, 8), "Standard_F2s": (2, 4096, 8), "Standard_F4s": (4, 8192, 16),
    "Standard_F8s": (8, 16384, 32), "Standard_F16s": (16, 32768, 64), "Standard_F8s_v2": (8, 16384, 16),
    "Standard_E8s_v5": (8, 65536, 16), "Standard_L8s_v3": (8, 65536, 16),
}
POWER_DISPLAY = {"running": "VM running", "stopped": "VM stopped", "deallocated": "VM deallocated",
                 "starting": "VM starting"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def register(emulator: Emulator) -> None:
    router = emulator.router
    locations = "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}"
    router.add("GET", locations + "/vmSizes", list_sizes)
    versions = locations + "/publishers/{publisher}/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions"
    router.add("GET", versions, lambda r: Response(200, [_platform_version(r, _version_name(r))]))
    router.add("GET", versions + "/{version}", lambda r: Response(200, _platform_image(r)))
    router.add("GET", "/sandbox/vm-image-aliases.json", image_aliases)

    register_type(ResourceType(
        type=VM_TYPE, build=build_vm, on_delete=delete_machine_folder, view=vm_view,
        actions={"start": vm_start, "powerOff": vm_power_off, "deallocate": vm_deallocate, "restart": vm_restart,
                 "generalize": vm_generalize, "runCommand": vm_run_command},
        synchronous_actions=frozenset({"generalize"}),
        subviews={"instanceView": lambda e, vm, r: instance_view(vm)},
    ))
    register_type(ResourceType(type=DISK_TYPE, build=build_disk, before_delete=refuse_attached_disk))
    register_type(ResourceType(type=IMAGE_TYPE, build=build_image, on_delete=delete_image_folder))
    scalesets.register(emulator)
    galleries.register(emulator)

    def remove_group_folders(group: str) -> None:
        for root in (emulator.machines_dir, emulator.state_dir / "images"):
            shutil.rmtree(root / group.lower(), ignore_errors=True)

    emulator.group_deleted.append(remove_group_folders)


def list_sizes(request: Request) -> Response:
    return Response(200, {"value": [
        {"name": name, "numberOfCores": cores, "memoryInMB": memory, "maxDataDiskCount": disks,
         "osDiskSizeInMB": 1047552, "resourceDiskSizeInMB": cores * 8192}
        for name, (cores, memory, disks) in SIZES.items()
    ]})


def image_aliases(request: Request) -> Response:
    from azure.cli.command_modules.vm._alias import alias_json  # the copy az itself ships

    return Response(200, alias_json.encode())


def _version_name(request: Request) -> str:
    digits = re.sub(r"\D", "", request.params["sku"])[:4] or "1"
    return f"{digits[:2]}.{digits[2:] or '0'}.202611010"


def _generation(sku: str) -> str:
    return "V2" if "gen2" in sku.lower() or sku.lower().endswith("-g2") else "V1"


def _platform_version(request: Request, version: str) -> dict:
    p = request.params
    return {"location": p["location"], "name": version,
            "id": f"/Subscriptions/{p['sub']}/Providers/Microsoft.Compute/Locations/{p['location']}/Publishers/"
                  f"{p['publisher']}/ArtifactTypes/VMImage/Offers/{p['offer']}/Skus/{p['sku']}/Versions/{version}"}


def _platform_image(request: Request) -> dict:
    image = _platform_version(request, request.params["version"])
    image["properties"] = {
        "hyperVGeneration": _generation(request.params["sku"]), "architecture": "x64",
        "osDiskImage": {"operatingSystem": "Linux", "sizeInGb": 30}, "dataDiskImages": [],
        "automaticOSUpgradeProperties": {"automaticOSUpgradeSupported": False},
        "features": [{"name": "IsAcceleratedNetworkSupported", "value": "True"},
                     {"name": "DiskControllerTypes", "value": "SCSI, NVMe"}],
    }
    return image


# --- virtual machines -------------------------------------------------------------------------

def check_machine_name(name: str, kind: str = "virtual machine") -> None:
    if not MACHINE_NAME.match(name):
        raise ArmError(400, "InvalidParameter",
                       f"The {kind} name '{name}' is invalid: use 1 to 64 letters, digits, '.', '-' or '_', "
                       "starting with a letter or digit and not ending with '.' or '-'.", target="name")


def check_size(size: str | None) -> None:
    if size not in SIZES:
        raise ArmError(409, "SkuNotAvailable",
                       f"The requested VM size '{size}' is not available in the sandbox. "
                       f"Available sizes: {', '.join(sorted(SIZES))}.")


def machine_folder(emulator: Emulator, rid: ResourceId) -> Path:
    return emulator.machines_dir / rid.group.lower() / "/".join(n.lower() for n in rid.names)


def source_of(emulator: Emulator, image_reference: dict) -> tuple[str, Path | None]:
    """The Hyper-V generation and data folder of what a machine is made from (platform or managed image)."""
    image_id = image_reference.get("id")
    if not image_id:
        return _generation(image_reference.get("sku", "")), None
    image = emulator.store.find(image_id)
    kind = (image or {}).get("type", "").lower()
    if kind in (galleries.DEFINITION_TYPE.lower(), galleries.VERSION_TYPE.lower()):
        version = galleries.resolve(emulator, image)
        return version["_generation"], Path(version["_folder"])
    if image is None or kind != IMAGE_TYPE.lower():
        raise ArmError(404, "NotFound", f"The Image '{image_id}' cannot be found.", target="imageReference")
    return image["properties"].get("hyperVGeneration", "V1"), Path(image["_folder"])


def build_vm(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    check_machine_name(rid.name)
    props = body.get("properties") or {}
    size = (props.get("hardwareProfile") or {}).get("vmSize")
    check_size(size)
    location = body.get("location") or emulator.store.group(rid.subscription, rid.group)["location"]
    if existing:
        vm = generic.merge(existing, {"properties": {"hardwareProfile": {"vmSize": size}}, "tags": body.get("tags")})
        vm["tags"] = body.get("tags") or {}
        return vm
    storage = props.get("storageProfile") or {}
    generation, image_folder = source_of(emulator, storage.get("imageReference") or {})
    os_profile = props.get("osProfile") or {}
    linux = os_profile.get("linuxConfiguration") or {}
    if not os_profile.get("adminPassword") and not (linux.get("ssh") or {}).get("publicKeys"):
        raise ArmError(400, "InvalidParameter", "Either an SSH public key or an admin password is required.",
                       target="osProfile")
    folder = machine_folder(emulator, rid)
    materialize(folder, image_folder)
    disks = _create_disks(emulator, rid, location, storage, generation)
    for disk in storage.get("dataDisks") or []:
        (folder / "disks" / f"lun{disk.get('lun', 0)}").mkdir(parents=True, exist_ok=True)
    vm = {
        "id": str(rid), "name": rid.name, "type": VM_TYPE, "location": location, "tags": body.get("tags") or {},
        "identity": _identity(body.get("identity")),
        "properties": {
            **props,
            "vmId": str(uuid.uuid4()), "provisioningState": "Succeeded", "timeCreated": now_iso(),
            "storageProfile": disks,
            "osProfile": {k: v for k, v in os_profile.items() if k != "adminPassword"},
        },
        "_power": "running", "_generalized": False, "_generation": generation, "_folder": str(folder),
        "_imds_key": imds.new_key(),
    }
    if body.get("zones"):
        vm["zones"] = body["zones"]
    return {k: v for k, v in vm.items() if v is not None}


def _identity(requested: dict | None) -> dict | None:
    if not requested or "SystemAssigned" not in (requested.get("type") or ""):
        return requested
    return {**requested, "principalId": str(uuid.uuid4()), "tenantId": str(uuid.uuid4())}


def materialize(folder: Path, image_folder: Path | None) -> None:
    """A machine's folder: a copy of its image's (hard-linked where possible), or a fresh machine."""
    if folder.exists():
        shutil.rmtree(folder)
    if image_folder is not None and image_folder.exists():
        shutil.copytree(image_folder, folder, copy_function=_link_or_copy, symlinks=True)
    folder.mkdir(parents=True, exist_ok=True)
    machine.prepare(folder)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _create_disks(emulator: Emulator, rid: ResourceId, location: str, storage: dict, generation: str) -> dict:
    """Managed disks for the OS and each data disk, as Azure creates them with a VM."""
    suffix = uuid.uuid4().hex
    os_disk = storage.get("osDisk") or {}
    sku = ((os_disk.get("managedDisk") or {}).get("storageAccountType")) or "Premium_LRS"
    os_name = os_disk.get("name") or f"{rid.name}_OsDisk_1_{suffix}"
    os_id = _put_disk(emulator, rid, location, os_name, os_disk.get("diskSizeGB") or 30, sku, generation, "Linux")
    data_disks = []
    for disk in storage.get("dataDisks") or []:
        lun = disk.get("lun", len(data_disks))
        data_sku = ((disk.get("managedDisk") or {}).get("storageAccountType")) or sku
        name = disk.get("name") or f"{rid.name}_disk{lun + 2}_{uuid.uuid4().hex}"
        disk_id = _put_disk(emulator, rid, location, name, disk.get("diskSizeGB") or 32, data_sku, None, None)
        data_disks.append({"lun": lun, "name": name, "createOption": disk.get("createOption", "Empty"),
                           "caching": disk.get("caching", "None"), "diskSizeGB": disk.get("diskSizeGB") or 32,
                           "deleteOption": disk.get("deleteOption", "Detach"),
                           "managedDisk": {"id": disk_id, "storageAccountType": data_sku}})
    return {
        "imageReference": storage.get("imageReference"),
        "osDisk": {"osType": "Linux", "name": os_name, "createOption": "FromImage", "caching": "ReadWrite",
                   "deleteOption": os_disk.get("deleteOption", "Detach"), "diskSizeGB": os_disk.get("diskSizeGB") or 30,
                   "managedDisk": {"id": os_id, "storageAccountType": sku}},
        "dataDisks": data_disks,
    }


def _put_disk(emulator, rid: ResourceId, location, name, size, sku, generation, os_type) -> str:
    disk_id = f"{rid.group_id}/providers/Microsoft.Compute/disks/{name}"
    disk = {"id": disk_id, "name": name, "type": DISK_TYPE, "location": location, "sku": {"name": sku},
            "managedBy": str(rid),
            "properties": {"diskSizeGB": size, "diskState": "Attached", "provisioningState": "Succeeded",
                           "creationData": {"createOption": "FromImage" if os_type else "Empty"},
                           "timeCreated": now_iso()}}
    if os_type:
        disk["properties"].update({"osType": os_type, "hyperVGeneration": generation})
    emulator.store.put(disk)
    return disk_id


def build_disk(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    disk = generic.default_build(emulator, rid, body, existing, request)
    disk["properties"].setdefault("diskState", "Unattached")
    disk.setdefault("sku", {"name": "Premium_LRS"})
    return disk


def refuse_attached_disk(emulator: Emulator, disk: dict) -> None:
    owner = disk.get("managedBy")
    if owner and emulator.store.find(owner):
        raise ArmError(409, "OperationNotAllowed",
                       f"Disk {disk['name']} is attached to VM {owner}.")


def delete_machine_folder(emulator: Emulator, vm: dict) -> None:
    folder = vm.get("_folder")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
    for disk_ref in [vm["properties"]["storageProfile"]["osDisk"], *vm["properties"]["storageProfile"]["dataDisks"]]:
        disk_id = (disk_ref.get("managedDisk") or {}).get("id")
        disk = emulator.store.find(disk_id) if disk_id else None
        if disk is None:
            continue
        if disk_ref.get("deleteOption") == "Delete":
            emulator.store.delete(disk_id)
        else:
            disk.pop("managedBy", None)
            disk["properties"]["diskState"] = "Unattached"
            emulator.store.put(disk)


def instance_view(vm: dict) -> dict:
    statuses = [{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
                 "time": vm["properties"].get("timeCreated")},
                {"code": f"PowerState/{vm['_power']}", "level": "Info", "displayStatus": POWER_DISPLAY[vm["_power"]]}]
    if vm.get("_generalized"):
        statuses.insert(1, {"code": "OSState/generalized", "level": "Info", "displayStatus": "VM generalized"})
    return {"computerName": vm["properties"].get("osProfile", {}).get("computerName", vm["name"]),
            "osName": "ubuntu", "osVersion": "22.04", "hyperVGeneration": vm.get("_generation", "V1"),
            "statuses": statuses}


def vm_view(emulator: Emulator, vm: dict, request: Request) -> dict:
    shown = {k: v for k, v in vm.items() if not k.startswith("_")}
    if request.query.get("$expand", "").lower() == "instanceview":
        shown["properties"] = {**shown["properties"], "instanceView": instance_view(vm)}
    return shown


def _not_allowed(vm: dict, operation: str, reason: str) -> ArmError:
    return ArmError(409, "OperationNotAllowed", f"Operation '{operation}' is not allowed on VM '{vm['name']}' "
                                                f"since {reason}.")


def _set_power(emulator: Emulator, vm_id: str, power: str):
    def work():
        with emulator.store.lock:
            vm = emulator.store.get(vm_id)
            vm["_power"] = power
            emulator.store.put(vm)
    return work


def vm_start(emulator: Emulator, vm: dict, request: Request):
    if vm.get("_generalized"):
        raise _not_allowed(vm, "start", "the VM is generalized")
    return _set_power(emulator, vm["id"], "running")


def vm_power_off(emulator: Emulator, vm: dict, request: Request):
    if vm.get("_generalized"):
        raise _not_allowed(vm, "powerOff", "the VM is generalized")
    return _set_power(emulator, vm["id"], "stopped" if vm["_power"] != "deallocated" else "deallocated")


def vm_deallocate(emulator: Emulator, vm: dict, request: Request):
    return _set_power(emulator, vm["id"], "deallocated")


def vm_restart(emulator: Emulator, vm: dict, request: Request):
    if vm["_power"] != "running":
        raise _not_allowed(vm, "restart", f"the VM is {vm['_power']}")
    return _set_power(emulator, vm["id"], "running")


def vm_generalize(emulator: Emulator, vm: dict, request: Request) -> None:
    if vm["_power"] not in ("stopped", "deallocated"):
        raise _not_allowed(vm, "generalize", f"the VM is {vm['_power']}; stop or deallocate it first")
    vm["_generalized"] = True
    emulator.store.put(vm)
    return None


def vm_run_command(emulator: Emulator, vm: dict, request: Request):
    if vm.get("_generalized") or vm["_power"] != "running":
        state = "generalized" if vm.get("_generalized") else vm["_power"]
        raise _not_allowed(vm, "RunCommand", f"the VM is {state}")
    body = request.json()
    if body.get("commandId") not in ("RunShellScript", "RunPowerShellScript"):
        raise ArmError(400, "InvalidParameter", f"The command id '{body.get('commandId')}' is not supported in the "
                                                "sandbox: expected RunShellScript.", target="commandId")
    script = "\n".join(body.get("script") or [])
    folder = Path(vm["_folder"])
    timeout = emulator.run_command_timeout
    machine_env = {"AZURE_POD_IDENTITY_AUTHORITY_HOST": imds.endpoint(request.base_url, vm)}
    bundle = emulator.state_dir / "ca-bundle.pem"
    if bundle.exists():
        machine_env.update({name: machine.CA_BUNDLE_INSIDE for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
                                                                         "CURL_CA_BUNDLE")})
    return lambda: run_script(script, folder, timeout, body.get("parameters") or [], machine_env, bundle)


def run_script(script: str, folder: Path, timeout: float, parameters: list[dict],
               machine_env: dict[str, str] | None = None, ca_bundle: Path | None = None) -> dict:
    """Run a script on a sandbox machine: for real, isolated in its folder, bounded in time; Azure's output shape."""
    env = {"PATH": machine.machine_path(), "HOME": "/root", "LANG": "C.UTF-8", **(machine_env or {})}
    env.update({p["name"]: str(p.get("value", "")) for p in parameters if p.get("name")})
    started = time.monotonic()
    try:
        done = subprocess.run(machine.command(folder, script, ca_bundle), env=env, capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        code, out, err = done.returncode, done.stdout, done.stderr
        verdict = "Enable succeeded: " if code == 0 else \
            f"Enable failed: failed to execute command: command terminated with exit status={code}\n"
    except subprocess.TimeoutExpired as expired:
        code, out, err = -1, expired.stdout or b"", expired.stderr or b""
        verdict = f"Enable failed: command timed out after {time.monotonic() - started:.0f} seconds\n"
    message = (f"{verdict}\n[stdout]\n{_tail(out)}\n[stderr]\n{_tail(err)}\n")
    state = "succeeded" if code == 0 else "failed"
    return {"value": [{"code": f"ProvisioningState/{state}", "level": "Info" if code == 0 else "Error",
                       "displayStatus": f"Provisioning {state}", "message": message, "time": None}]}


def _tail(data: bytes) -> str:
    return data[-OUTPUT_LIMIT:].decode("utf-8", errors="replace")


# --- images -----------------------------------------------------------------------------------

def build_image(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    if not IMAGE_NAME.match(rid.name):
        raise ArmError(400, "InvalidParameter",
                       f"The image name '{rid.name}' is invalid: use 1 to 80 letters, digits, '.', '-' or '_', "
                       "starting with a letter or digit and ending with a letter, digit or '_'.", target="name")
    props = body.get("properties") or {}
    source_id = (props.get("sourceVirtualMachine") or {}).get("id")
    if not source_id:
        raise ArmError(400, "InvalidParameter", "The sandbox creates images from a VM: sourceVirtualMachine.id is "
                                                "required.", target="sourceVirtualMachine")
    vm = emulator.store.find(source_id)
    if vm is None or vm["type"].lower() != VM_TYPE.lower():
        raise ArmError(404, "NotFound", f"The source virtual machine '{source_id}' was not found.",
                       target="sourceVirtualMachine")
    if not vm.get("_generalized"):
        raise ArmError(409, "OperationNotAllowed",
                       f"The operation 'CreateImage' is not allowed on VM '{vm['name']}' since the VM is not "
                       "generalized. Deallocate and generalize it first.")
    generation = props.get("hyperVGeneration") or "V1"
    if generation != vm.get("_generation", "V1"):
        raise ArmError(400, "InvalidParameter",
                       f"The source virtual machine '{vm['name']}' has Hyper-V generation {vm.get('_generation')}; "
                       f"an image of it must be {vm.get('_generation')}, not {generation}.", target="hyperVGeneration")
    folder = emulator.state_dir / "images" / rid.group.lower() / rid.name.lower()
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(vm["_folder"], folder, symlinks=True)
    storage = vm["properties"]["storageProfile"]
    return {
        "id": str(rid), "name": rid.name, "type": IMAGE_TYPE, "location": body.get("location") or vm["location"],
        "tags": body.get("tags") or {},
        "properties": {
            "sourceVirtualMachine": {"id": vm["id"]},
            "storageProfile": {
                "osDisk": {"osType": "Linux", "osState": "Generalized", "caching": "ReadWrite",
                           "diskSizeGB": storage["osDisk"]["diskSizeGB"],
                           "managedDisk": {"id": storage["osDisk"]["managedDisk"]["id"]},
                           "storageAccountType": storage["osDisk"]["managedDisk"]["storageAccountType"]},
                "dataDisks": [{"lun": d["lun"], "caching": d["caching"], "diskSizeGB": d["diskSizeGB"],
                               "managedDisk": {"id": d["managedDisk"]["id"]},
                               "storageAccountType": d["managedDisk"]["storageAccountType"]}
                              for d in storage["dataDisks"]],
                "zoneResilient": False,
            },
            "provisioningState": "Succeeded", "hyperVGeneration": generation,
        },
        "_folder": str(folder),
    }


def delete_image_folder(emulator: Emulator, image: dict) -> None:
    shutil.rmtree(image.get("_folder", ""), ignore_errors=True)
