"""`pysteps sweep`: delete temporary resource groups whose time-to-live has passed.

For runs that could not clean up after themselves (killed with -9, a lost agent): every temporary
group carries `created-by=pysteps` and `pysteps-expires=<UTC time>` tags from the moment it exists.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from pysteps.catalog import get_step
from pysteps.engine.engine import Engine


def expired_groups(groups: list[dict], now: datetime) -> list[str]:
    """Names of the groups whose `pysteps-expires` tag is in the past (groups without one are never touched)."""
    names = []
    for group in groups:
        expires = (group.get("tags") or {}).get("pysteps-expires")
        if not expires:
            continue
        try:
            when = datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            continue
        if when <= now:
            names.append(group["name"])
    return sorted(names)


def sweep(engine: Engine, now: datetime, *, dry_run: bool = False) -> list[str]:
    engine.run_step(get_step("groups-list-pysteps"))
    if not engine.runner.executes:
        return []
    doomed = expired_groups(json.loads(engine.lookup().get("pysteps_groups") or "[]"), now)
    for name in doomed:
        if dry_run:
            engine.log.note(f"sweep: would delete resource group {name}")
            continue
        engine.run_step(replace(get_step("group-delete"), variables={"resource_group": name}))
    return doomed
