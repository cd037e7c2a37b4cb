"""`pysteps jenkins cleanup RUNS_DIR`: delete the temporary resource groups that runs left behind.

A bake deletes its temporary group itself, on success, failure and SIGTERM. What it cannot delete
(killed with -9, its delete throttled past its retries, a lost agent) stays tagged for `pysteps
sweep`, which waits for the time-to-live. A Jenkins build knows its own runs, so its `post` block
deletes their groups at once: each run's state names its group, and the group is deleted when
`az group exists` says it is still there.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from pysteps.engine.errors import StepFailed, UsageError


def temporary_groups(runs: Path) -> list[str]:
    """The temporary resource groups of the bake runs in `runs`, in run order."""
    if not runs.is_dir():
        return []
    groups = []
    for state_file in sorted(runs.glob("*/state.json")):
        try:
            state = json.loads(state_file.read_text())
        except (OSError, json.JSONDecodeError):
            raise UsageError(f"{state_file} is not a readable run state: expected JSON written by pysteps") from None
        group = (state.get("settings") or {}).get("base_vm_resource_group")
        if "bake" in str(state.get("command", "")) and group and group not in groups:
            groups.append(group)
    return groups


def delete_left_behind(engine, groups: list[str]) -> tuple[list[str], list[str]]:
    """Delete each group that still exists; returns (deleted, failed), trying every group."""
    from pysteps.catalog import get_step

    deleted, failed = [], []
    for group in groups:
        step = replace(get_step("group-delete"), variables={"resource_group": group})
        if engine.probe(step):  # `az group exists` is false: nothing left
            continue
        try:
            engine.run_step(step)
            deleted.append(group)
        except StepFailed as error:
            engine.log.note(f"cleanup: could not delete resource group {group}: {error}")
            failed.append(group)
    return deleted, failed
