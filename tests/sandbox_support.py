"""Helpers for tests that drive the local sandbox with the real az CLI."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from pysteps.sandbox.control import Sandbox

AZ = str(Path(sys.executable).parent / "az")


class AzError(AssertionError):
    def __init__(self, args, done):
        super().__init__(f"az {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        self.stderr = done.stderr
        self.returncode = done.returncode


@dataclass
class Running:
    """A sandbox that is up, and how to talk to it."""

    sandbox: Sandbox
    env: dict[str, str]
    _tokens: dict = field(default_factory=dict)

    def az(self, *args: str, check: bool = True):
        """Run the real `az` against the sandbox; parsed JSON output (None when it prints nothing)."""
        done = subprocess.run([AZ, *args, "--only-show-errors"], capture_output=True, text=True,
                              env={**os.environ, **self.env}, stdin=subprocess.DEVNULL, timeout=300)
        if check and done.returncode:
            raise AzError(args, done)
        if not check:
            return done
        return json.loads(done.stdout) if done.stdout.strip() else None

    def az_fails(self, *args: str) -> str:
        """Run az expecting failure; its stderr."""
        done = self.az(*args, check=False)
        assert done.returncode != 0, f"az {' '.join(args)} unexpectedly succeeded: {done.stdout[:300]}"
        return done.stderr

    def arm(self, method: str, path: str, *, token: bool | str = True, body=None, base: str | None = None):
        """A raw HTTPS call to the emulator (`token`: the sandbox's ARM token, none, or this one)."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token if isinstance(token, str) else self.token()}"
        request = urllib.request.Request((base or self.env["PYSTEPS_SANDBOX_ARM"]) + path, method=method,
                                         headers=headers, data=None if body is None else json.dumps(body).encode())
        context = ssl.create_default_context(cafile=self.env["REQUESTS_CA_BUNDLE"])
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                raw = response.read()
                return response.status, dict(response.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, dict(error.headers), json.loads(raw) if raw else None

    def token(self, resource: str | None = None) -> str:
        if resource not in self._tokens:
            self._tokens[resource] = self.az("account", "get-access-token",
                                             *(["--resource", resource] if resource else []),
                                             "--query", "accessToken", "--output", "json")
        return self._tokens[resource]

    @property
    def subscription(self) -> str:
        return self.env["AZURE_SUBSCRIPTION_ID"]

    def machine_folder(self, group: str, *names: str) -> Path:
        return self.sandbox.state_dir / "machines" / group.lower() / "/".join(n.lower() for n in names)
