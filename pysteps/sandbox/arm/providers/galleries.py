"""Azure Compute Gallery: galleries, image definitions and image versions.

A version is published from a managed image (or a generalized VM); its definition must match the
source's Hyper-V generation and OS state, as Azure requires. Machines can be made from a version,
or from a definition (its latest version).
"""

from __future__ import annotations

import re
import shutil
import uuid

from pysteps.sandbox.arm.context import Emulator
from pysteps.sandbox.arm.providers import compute, generic
from pysteps.sandbox.arm.providers.generic import ResourceType, register_type
from pysteps.sandbox.arm.store import ResourceId
from pysteps.sandbox.arm.web import ArmError, Request

GALLERY_TYPE = "Microsoft.Compute/galleries"
DEFINITION_TYPE = "Microsoft.Compute/galleries/images"
VERSION_TYPE = "Microsoft.Compute/galleries/images/versions"
GALLERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._]{0,78}[A-Za-z0-9]$|^[A-Za-z0-9]$")
VERSION_NAME = re.compile(r"^\d+\.\d+\.\d+$")


def register(emulator: Emulator) -> None:
    register_type(ResourceType(type=GALLERY_TYPE, build=build_gallery))
    register_type(ResourceType(type=DEFINITION_TYPE, build=build_definition))
    register_type(ResourceType(type=VERSION_TYPE, build=build_version, on_delete=delete_version))


def build_gallery(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    if not GALLERY_NAME.match(rid.name):
        raise ArmError(400, "InvalidParameter", f"The gallery name '{rid.name}' is invalid: use letters, digits, "
                                                "periods and underscores, starting and ending with a letter or digit.",
                       target="galleryName")
    gallery = generic.default_build(emulator, rid, body, existing, request)
    gallery["properties"]["identifier"] = {"uniqueName": f"{rid.subscription}-{rid.name.upper()}"}
    return gallery


def build_definition(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    props = body.get("properties") or {}
    identifier = props.get("identifier") or {}
    missing = [k for k in ("publisher", "offer", "sku") if not identifier.get(k)]
    if missing:
        raise ArmError(400, "InvalidParameter", f"The image definition needs identifier.{missing[0]}.",
                       target=f"identifier.{missing[0]}")
    if props.get("osState") not in ("Generalized", "Specialized"):
        raise ArmError(400, "InvalidParameter", f"The osState '{props.get('osState')}' is invalid: expected "
                                                "Generalized or Specialized.", target="osState")
    definition = generic.default_build(emulator, rid, body, existing, request)
    definition["properties"].setdefault("hyperVGeneration", "V1")
    definition["properties"].setdefault("osType", "Linux")
    return definition


def build_version(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    if not VERSION_NAME.match(rid.name):
        raise ArmError(400, "InvalidParameter", f"The gallery image version name '{rid.name}' is invalid: expected "
                                                "Major.Minor.Patch with whole numbers, e.g. 1.0.0.",
                       target="galleryImageVersionName")
    definition = emulator.store.get(str(rid.parent))
    props = body.get("properties") or {}
    source = (props.get("storageProfile") or {}).get("source") or {}
    source_id = source.get("id") or source.get("virtualMachineId")
    if not source_id:
        raise ArmError(400, "InvalidParameter", "The image version needs storageProfile.source.id (a managed image "
                                                "or a VM).", target="storageProfile.source")
    origin = emulator.store.find(source_id)
    if origin is None:
        raise ArmError(404, "NotFound", f"The source '{source_id}' of the image version was not found.",
                       target="storageProfile.source")
    generalized = origin["type"].lower() == compute.IMAGE_TYPE.lower() or origin.get("_generalized")
    generation = origin.get("properties", {}).get("hyperVGeneration") or origin.get("_generation", "V1")
    wanted_state = definition["properties"]["osState"]
    if (wanted_state == "Generalized") != bool(generalized):
        raise ArmError(400, "InvalidParameter",
                       f"The source '{origin['name']}' is {'generalized' if generalized else 'specialized'} but the "
                       f"image definition '{definition['name']}' is {wanted_state}.", target="osState")
    if generation != definition["properties"]["hyperVGeneration"]:
        raise ArmError(400, "InvalidParameter",
                       f"The source '{origin['name']}' is Hyper-V generation {generation} but the image definition "
                       f"'{definition['name']}' is {definition['properties']['hyperVGeneration']}.",
                       target="hyperVGeneration")
    folder = emulator.state_dir / "gallery" / uuid.uuid4().hex
    shutil.copytree(origin["_folder"], folder, symlinks=True)
    location = body.get("location") or definition["location"]
    publishing = props.get("publishingProfile") or {}
    regions = publishing.get("targetRegions") or [{"name": location, "regionalReplicaCount": 1}]
    version = generic.default_build(emulator, rid, body, existing, request)
    version["properties"].update({
        "publishingProfile": {**publishing, "targetRegions": regions, "publishedDate": compute.now_iso(),
                              "replicaCount": publishing.get("replicaCount", 1)},
        "replicationStatus": {"aggregatedState": "Completed",
                              "summary": [{"region": r["name"], "state": "Completed", "progress": 100}
                                          for r in regions]},
        "storageProfile": {"source": {"id": origin["id"]}, "osDiskImage": {"sizeInGB": 30},
                           "dataDiskImages": [{"lun": d["lun"], "sizeInGB": d.get("diskSizeGB")} for d in
                                              origin.get("properties", {}).get("storageProfile", {})
                                              .get("dataDisks", [])]},
    })
    version["_folder"] = str(folder)
    version["_generation"] = generation
    return version


def delete_version(emulator: Emulator, version: dict) -> None:
    shutil.rmtree(version.get("_folder", ""), ignore_errors=True)


def resolve(emulator: Emulator, resource: dict) -> dict:
    """A definition stands for its latest version; a version for itself."""
    if resource["type"].lower() == VERSION_TYPE.lower():
        return resource
    rid = ResourceId.parse(resource["id"])
    versions = emulator.store.list(subscription=rid.subscription, type_=VERSION_TYPE, parent=resource["id"])
    if not versions:
        raise ArmError(404, "NotFound", f"The gallery image '{resource['name']}' has no versions.",
                       target="imageReference")
    return max(versions, key=lambda v: tuple(int(n) for n in v["name"].split(".")))
