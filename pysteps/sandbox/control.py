"""`pysteps sandbox up | down | status | env | resources | faults`: the local Azure, started and stopped.

`up` starts, on 127.0.0.1 only, the ARM emulator (HTTPS, with a certificate made for this sandbox),
Azurite (Blob) and an S3 server; registers the emulator as a custom cloud in a private
AZURE_CONFIG_DIR and logs in with `az login --identity`; then writes an env file that points az,
boto3 and the Azure storage SDKs at the sandbox. Nothing in pysteps' steps knows about the
sandbox: they reach it only through az's configuration and the SDKs' standard settings.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from pysteps.engine.files import write_atomic
from pysteps.sandbox import processes, services
from pysteps.sandbox.certs import make_certificate
from pysteps.sandbox.processes import SandboxError

STATE_ENV = "PYSTEPS_SANDBOX_DIR"
ARM = "arm"
CLOUD_NAME = "pysteps-sandbox"


def default_state_dir() -> Path:
    return Path(os.environ.get(STATE_ENV) or Path.home() / ".pysteps" / "sandbox")


class Sandbox:
    """One sandbox, identified by its state directory."""

    def __init__(self, state_dir: Path | None = None):
        self.state_dir = Path(state_dir or default_state_dir()).absolute()

    @property
    def settings_file(self) -> Path:
        return self.state_dir / "arm.json"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env.json"

    def settings(self) -> dict:
        try:
            return json.loads(self.settings_file.read_text())
        except FileNotFoundError:
            raise SandboxError(f"no sandbox in {self.state_dir}: expected `pysteps sandbox up` first") from None

    def is_up(self) -> bool:
        return self.settings_file.exists() and processes.running(ARM, self.state_dir) is not None

    # --- up ---------------------------------------------------------------------------------

    def up(self, *, retry_after: int = 1, faults: list[dict] | None = None) -> dict[str, str]:
        """Start everything and log az in; returns the environment that points clients at the sandbox."""
        if self.is_up():
            return self.environment()
        if self.state_dir.exists():
            self.down()  # a half-started or crashed sandbox: start clean
        self.state_dir.mkdir(parents=True, mode=0o700)
        try:
            settings = self._write_settings(retry_after, faults or [])
            processes.spawn(ARM, [sys.executable, "-m", "pysteps.sandbox.arm.server", "--state-dir",
                                  str(self.state_dir)], self.state_dir)
            blob = services.start_blob(self.state_dir)
            s3 = services.start_s3(self.state_dir)
            processes.wait_for_port(ARM, settings["port"], self.state_dir)
            env = self._write_environment(settings, blob, s3)
            self._log_in_az(env, settings)
            return env
        except BaseException:
            self.down()
            raise

    def _write_settings(self, retry_after: int, faults: list[dict]) -> dict:
        cert, key = self.state_dir / "cert.pem", self.state_dir / "key.pem"
        make_certificate(cert, key)
        settings = {
            "port": processes.free_port(), "subscription": str(uuid.uuid4()), "tenant": str(uuid.uuid4()),
            "client_id": str(uuid.uuid4()), "key": secrets.token_hex(32), "identity_header": secrets.token_hex(16),
            "cert_file": str(cert), "key_file": str(key), "retry_after": retry_after, "faults": faults,
        }
        write_atomic(self.settings_file, json.dumps(settings, indent=2), mode=0o600)
        return settings

    def _write_environment(self, settings: dict, blob, s3) -> dict[str, str]:
        bundle = self.state_dir / "ca-bundle.pem"
        bundle.write_text(_trusted_roots() + Path(settings["cert_file"]).read_text())
        arm = f"https://127.0.0.1:{settings['port']}"
        env = {
            STATE_ENV: str(self.state_dir),
            "PYSTEPS_SANDBOX_ARM": arm,
            "AZURE_CONFIG_DIR": str(self.state_dir / "azure"),
            "REQUESTS_CA_BUNDLE": str(bundle),
            "IDENTITY_ENDPOINT": f"{arm}/msi/token",
            "IDENTITY_HEADER": settings["identity_header"],
            "AZURE_SUBSCRIPTION_ID": settings["subscription"],
            "AZURE_CORE_COLLECT_TELEMETRY": "no",
            "AZURE_CORE_DISPLAY_REGION_IDENTIFIED": "false",
            **blob.env, **s3.env,
        }
        write_atomic(self.env_file, json.dumps(env, indent=2), mode=0o600)
        return env

    def _log_in_az(self, env: dict[str, str], settings: dict) -> None:
        """Register the emulator as a custom cloud and `az login --identity`, in a private AZURE_CONFIG_DIR."""
        child_env = {**os.environ, **env}
        done = subprocess.run([sys.executable, "-m", "pysteps.sandbox.azsetup", CLOUD_NAME,
                               env["PYSTEPS_SANDBOX_ARM"] + "/"], env=child_env, capture_output=True, text=True,
                              timeout=120)
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SandboxError(f"az could not log in to the sandbox: {last}")

    # --- down, status, env -----------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop every process this sandbox started (by its pid records) and remove its state."""
        stopped = [name for name in processes.names(self.state_dir) if processes.stop(name, self.state_dir)]
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return stopped

    def environment(self) -> dict[str, str]:
        try:
            return json.loads(self.env_file.read_text())
        except FileNotFoundError:
            raise SandboxError(f"no sandbox in {self.state_dir}: expected `pysteps sandbox up` first") from None

    def status(self) -> list[dict]:
        """Each process: its name, pid (or None when it is not running) and where it listens."""
        env = self.environment() if self.env_file.exists() else {}
        where = {ARM: env.get("PYSTEPS_SANDBOX_ARM"), "blob": _blob_endpoint(env),
                 "s3": env.get("AWS_ENDPOINT_URL")}
        return [{"name": name, "pid": processes.running(name, self.state_dir), "url": where.get(name)}
                for name in processes.names(self.state_dir)]

    # --- inspection and faults -------------------------------------------------------------

    def admin(self, path: str, method: str = "GET", body=None):
        settings = self.settings()
        request = urllib.request.Request(
            f"https://127.0.0.1:{settings['port']}/_sandbox/{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"X-Sandbox-Key": settings["key"], "Content-Type": "application/json"})
        context = ssl.create_default_context(cafile=settings["cert_file"])
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = json.loads(error.read() or b"{}").get("error", {}).get("message", error.reason)
            raise SandboxError(f"the sandbox refused {method} {path}: {detail}") from None
        except urllib.error.URLError as error:
            raise SandboxError(f"the sandbox in {self.state_dir} does not answer ({error.reason}): "
                               "expected it to be up") from None

    def resources(self) -> dict:
        return self.admin("resources")

    def set_faults(self, rules: list[dict]) -> list[dict]:
        return self.admin("faults", "PUT", rules)

    def faults(self) -> list[dict]:
        return self.admin("faults")

    def requests_log(self) -> Path:
        return self.state_dir / "requests.jsonl"


def _blob_endpoint(env: dict[str, str]) -> str | None:
    for part in env.get("AZURE_STORAGE_CONNECTION_STRING", "").split(";"):
        if part.startswith("BlobEndpoint="):
            return part.split("=", 1)[1]
    return None


def _trusted_roots() -> str:
    """The CA certificates clients trust already, so that adding ours takes nothing away."""
    for candidate in (os.environ.get("REQUESTS_CA_BUNDLE"), os.environ.get("SSL_CERT_FILE"),
                      ssl.get_default_verify_paths().cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text()
    try:
        import certifi

        return Path(certifi.where()).read_text()
    except ImportError:
        return ""


def format_env(env: dict[str, str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(env, indent=2) + "\n"
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in sorted(env.items()))
