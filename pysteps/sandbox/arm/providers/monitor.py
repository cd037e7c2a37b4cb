"""Autoscale settings (Microsoft.Insights/autoscalesettings) and Service Bus (the metric source).

An autoscale setting must target a resource that exists, with minimum <= default <= maximum in
every profile, and every rule's metric must come from a resource that exists, as Azure checks.
"""

from __future__ import annotations

import re

from pysteps.sandbox.arm.context import Emulator
from pysteps.sandbox.arm.providers import generic
from pysteps.sandbox.arm.providers.generic import ResourceType, register_type
from pysteps.sandbox.arm.store import ResourceId
from pysteps.sandbox.arm.web import ArmError, Request

AUTOSCALE_TYPE = "Microsoft.Insights/autoscalesettings"
NAMESPACE_TYPE = "Microsoft.ServiceBus/namespaces"
QUEUE_TYPE = "Microsoft.ServiceBus/namespaces/queues"
NAMESPACE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]$")


def register(emulator: Emulator) -> None:
    register_type(ResourceType(type=AUTOSCALE_TYPE, build=build_autoscale, long_running=False))
    register_type(ResourceType(type=NAMESPACE_TYPE, build=build_namespace))
    register_type(ResourceType(type=QUEUE_TYPE, build=build_queue, long_running=False))


def _bad(message: str, target: str | None = None) -> ArmError:
    return ArmError(400, "BadRequest", message, target=target)


def build_autoscale(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    props = body.get("properties") or {}
    target = props.get("targetResourceUri")
    if not target or emulator.store.find(target) is None:
        raise _bad(f"The target resource '{target}' of autoscale setting '{rid.name}' was not found.",
                   "targetResourceUri")
    profiles = props.get("profiles") or []
    if not profiles:
        raise _bad("An autoscale setting needs at least one profile.", "profiles")
    for profile in profiles:
        capacity = profile.get("capacity") or {}
        try:
            low, default, high = (int(capacity[k]) for k in ("minimum", "default", "maximum"))
        except (KeyError, TypeError, ValueError):
            raise _bad(f"Profile '{profile.get('name')}' needs whole-number minimum, default and maximum capacity.",
                       "capacity") from None
        if not 0 <= low <= default <= high:
            raise _bad(f"Profile '{profile.get('name')}': expected minimum <= default <= maximum, got {low}, "
                       f"{default}, {high}.", "capacity")
        for rule in profile.get("rules") or []:
            source = (rule.get("metricTrigger") or {}).get("metricResourceUri")
            if not source or emulator.store.find(source) is None:
                raise _bad(f"The metric source '{source}' of a rule in profile '{profile.get('name')}' was not found.",
                           "metricResourceUri")
            direction = (rule.get("scaleAction") or {}).get("direction")
            if direction not in ("Increase", "Decrease"):
                raise _bad(f"The scale action direction '{direction}' is invalid: expected Increase or Decrease.",
                           "scaleAction.direction")
    setting = generic.default_build(emulator, rid, body, existing, request)
    setting["properties"].pop("provisioningState", None)  # autoscale settings have none
    setting["properties"].setdefault("enabled", True)
    return setting


def build_namespace(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    if not NAMESPACE_NAME.match(rid.name) or rid.name.endswith("-sb") or rid.name.endswith("-mgmt"):
        raise ArmError(400, "InvalidParameter", f"The namespace name '{rid.name}' is invalid: use 6 to 50 letters, "
                                                "digits and hyphens, starting with a letter and ending with a letter "
                                                "or digit.", target="namespaceName")
    namespace = generic.default_build(emulator, rid, body, existing, request)
    namespace.setdefault("sku", {"name": "Standard", "tier": "Standard"})
    namespace["properties"].update({"status": "Active",
                                    "serviceBusEndpoint": f"https://{rid.name}.servicebus.sandbox.invalid:443/"})
    return namespace


def build_queue(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    queue = generic.default_build(emulator, rid, body, existing, request)
    queue.pop("location", None)
    queue["properties"].update({"status": "Active", "messageCount": 0, "sizeInBytes": 0,
                                "countDetails": {"activeMessageCount": 0, "deadLetterMessageCount": 0,
                                                 "scheduledMessageCount": 0}})
    return queue
