"""What every resource provider of the emulator shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pysteps.sandbox.arm.faults import Faults
from pysteps.sandbox.arm.identity import Identity
from pysteps.sandbox.arm.operations import Operations
from pysteps.sandbox.arm.store import Store
from pysteps.sandbox.arm.web import Router


@dataclass
class Emulator:
    subscription: str
    tenant: str
    state_dir: Path
    store: Store
    identity: Identity
    operations: Operations
    faults: Faults
    router: Router = field(default_factory=Router)
    run_command_timeout: float = 5400.0  # Azure's limit for `run-command invoke` is 90 minutes
    group_deleted: list[Callable[[str], None]] = field(default_factory=list)
    # Set by the server: open another HTTPS port whose requests carry `context` (a vault's own URI).
    open_listener: Callable[[dict], int] = field(default=lambda context: _no_listeners())
    close_listener: Callable[[int], None] = field(default=lambda port: None)

    @property
    def machines_dir(self) -> Path:
        """Where each sandbox VM's files live: machines/<group>/<vm>/ (its data disks are sub-folders)."""
        return self.state_dir / "machines"


def _no_listeners() -> int:
    raise RuntimeError("this emulator is not serving: it cannot open more ports")
