"""Resource storage: resources by id (case-insensitive, as in ARM), grouped by resource group."""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass

from pysteps.sandbox.arm.web import ArmError, not_found

_ID = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<group>[^/]+)"
                 r"/providers/(?P<namespace>[^/]+)/(?P<rest>.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class ResourceId:
    """`/subscriptions/S/resourceGroups/G/providers/NS/type/name[/subtype/subname...]`."""

    subscription: str
    group: str
    namespace: str
    types: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> ResourceId:
        found = _ID.match(text.rstrip("/"))
        parts = found.group("rest").split("/") if found else []
        if not found or len(parts) % 2:
            raise ArmError(400, "InvalidResourceId", f"The resource id '{text}' is not valid.")
        return cls(found.group("sub"), found.group("group"), found.group("namespace"),
                   tuple(parts[0::2]), tuple(parts[1::2]))

    @property
    def type(self) -> str:
        return "/".join([self.namespace, *self.types])

    @property
    def name(self) -> str:
        return self.names[-1]

    @property
    def group_id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.group}"

    def __str__(self) -> str:
        pairs = "/".join(f"{t}/{n}" for t, n in zip(self.types, self.names, strict=True))
        return f"{self.group_id}/providers/{self.namespace}/{pairs}"

    def child(self, type_: str, name: str) -> ResourceId:
        return ResourceId(self.subscription, self.group, self.namespace, (*self.types, type_), (*self.names, name))

    @property
    def parent(self) -> ResourceId | None:
        if len(self.types) == 1:
            return None
        return ResourceId(self.subscription, self.group, self.namespace, self.types[:-1], self.names[:-1])


def resource_id(subscription: str, group: str, type_: str, *names: str) -> str:
    """The id of a resource of `type_` ('Microsoft.Compute/virtualMachines[/extensions]') and its names."""
    namespace, *types = type_.split("/")
    return str(ResourceId(subscription, group, namespace, tuple(types), tuple(names)))


class Store:
    """All resource groups and resources. Callers hold `lock` around read-modify-write sequences."""

    def __init__(self):
        self.lock = threading.RLock()
        self._groups: dict[str, dict] = {}
        self._resources: dict[str, dict] = {}

    # resource groups
    def groups(self) -> list[dict]:
        return [copy.deepcopy(g) for g in self._groups.values()]

    def find_group(self, subscription: str, name: str) -> dict | None:
        group = self._groups.get(_group_key(subscription, name))
        return copy.deepcopy(group) if group else None

    def group(self, subscription: str, name: str) -> dict:
        group = self.find_group(subscription, name)
        if group is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return group

    def put_group(self, subscription: str, group: dict) -> None:
        self._groups[_group_key(subscription, group["name"])] = copy.deepcopy(group)

    def delete_group(self, subscription: str, name: str) -> list[str]:
        """Remove a group and everything in it; returns the ids of the resources removed."""
        prefix = f"/subscriptions/{subscription}/resourcegroups/{name}/".lower()
        removed = [r["id"] for key, r in self._resources.items() if key.startswith(prefix)]
        for rid in removed:
            self._resources.pop(rid.lower(), None)
        self._groups.pop(_group_key(subscription, name), None)
        return removed

    # resources
    def find(self, rid: str) -> dict | None:
        found = self._resources.get(rid.lower())
        return copy.deepcopy(found) if found else None

    def get(self, rid: str) -> dict:
        found = self.find(rid)
        if found is None:
            parsed = ResourceId.parse(rid)
            raise not_found(parsed.type, "/".join(parsed.names), parsed.group)
        return found

    def put(self, resource: dict) -> dict:
        self._resources[resource["id"].lower()] = copy.deepcopy(resource)
        return copy.deepcopy(resource)

    def delete(self, rid: str) -> bool:
        """Remove a resource and its child resources."""
        key = rid.lower()
        children = [k for k in self._resources if k.startswith(key + "/")]
        for child in children:
            del self._resources[child]
        return self._resources.pop(key, None) is not None

    def list(self, *, subscription: str, type_: str, group: str | None = None, parent: str | None = None) -> list[dict]:
        """Resources of one type in a subscription, optionally in one group or under one parent."""
        found = []
        for resource in self._resources.values():
            parsed = ResourceId.parse(resource["id"])
            if parsed.subscription.lower() != subscription.lower() or parsed.type.lower() != type_.lower():
                continue
            if group is not None and parsed.group.lower() != group.lower():
                continue
            if parent is not None and not resource["id"].lower().startswith(parent.lower() + "/"):
                continue
            found.append(copy.deepcopy(resource))
        return sorted(found, key=lambda r: r["id"].lower())

    def list_group(self, subscription: str, group: str) -> list[dict]:
        prefix = f"/subscriptions/{subscription}/resourcegroups/{group}/".lower()
        return sorted((copy.deepcopy(r) for k, r in self._resources.items() if k.startswith(prefix)),
                      key=lambda r: r["id"].lower())

    def all(self) -> list[dict]:
        return sorted((copy.deepcopy(r) for r in self._resources.values()), key=lambda r: r["id"].lower())


def _group_key(subscription: str, name: str) -> str:
    return f"{subscription}/{name}".lower()
