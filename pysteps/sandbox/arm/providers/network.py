"""Microsoft.Network: virtual networks and subnets, NICs, NSGs, public IPs and load balancers.

Stored as given, with what Azure fills in: subnets as child resources, a private IP and a MAC
address for each NIC, an address for each public IP.
"""

from __future__ import annotations

import itertools
import threading

from pysteps.sandbox.arm.context import Emulator
from pysteps.sandbox.arm.providers import generic
from pysteps.sandbox.arm.providers.generic import ResourceType, register_type
from pysteps.sandbox.arm.store import ResourceId
from pysteps.sandbox.arm.web import Request

_counter = itertools.count(4)
_counter_lock = threading.Lock()


def _next_host() -> int:
    with _counter_lock:
        return next(_counter)


def register(emulator: Emulator) -> None:
    register_type(ResourceType(type="Microsoft.Network/virtualNetworks", build=build_vnet))
    register_type(ResourceType(type="Microsoft.Network/networkInterfaces", build=build_nic))
    register_type(ResourceType(type="Microsoft.Network/publicIPAddresses", build=build_public_ip))


def build_vnet(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    vnet = generic.default_build(emulator, rid, body, existing, request)
    subnets = []
    for subnet in vnet["properties"].get("subnets") or []:
        child = rid.child("subnets", subnet["name"])
        stored = {"id": str(child), "name": subnet["name"], "type": "Microsoft.Network/virtualNetworks/subnets",
                  "properties": {**(subnet.get("properties") or {}), "provisioningState": "Succeeded"}}
        emulator.store.put(stored)
        subnets.append(stored)
    vnet["properties"]["subnets"] = subnets
    return vnet


def build_nic(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    nic = generic.default_build(emulator, rid, body, existing, request)
    host = _next_host()
    for config in nic["properties"].get("ipConfigurations") or []:
        config.setdefault("properties", {}).setdefault("privateIPAddress", f"10.0.{host // 250}.{host % 250 + 4}")
        config["properties"]["provisioningState"] = "Succeeded"
        config["id"] = str(rid.child("ipConfigurations", config.get("name", "ipconfig1")))
    mac = f"00-0D-3A-{host >> 16 & 255:02X}-{host >> 8 & 255:02X}-{host & 255:02X}"
    nic["properties"].setdefault("macAddress", mac)
    nic["properties"]["primary"] = True
    return nic


def build_public_ip(emulator: Emulator, rid: ResourceId, body: dict, existing: dict | None, request: Request) -> dict:
    address = generic.default_build(emulator, rid, body, existing, request)
    host = _next_host()
    address["properties"].setdefault("ipAddress", f"203.0.113.{host % 250 + 1}")  # documentation range
    return address
