"""Helpers for the `pysteps secret` and `pysteps self-destroy` tests: a clean environment to run
pysteps in, secrets planted through the Key Vault data plane, a stand-in for Entra ID's token
endpoint (service principals), and a watcher of every process's argv."""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pysteps.sandbox.arm.identity import Identity

# Variables that would choose another identity than the one a test means.
IDENTITY_VARS = ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST",
                 "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT", "IMDS_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                 "PYSTEPS_ARM_ENDPOINT", "AZURE_CLOUD_NAME")


def clean_env(*overlays: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in IDENTITY_VARS}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for overlay in overlays:
        env.update(overlay)
    for name in drop:
        env.pop(name, None)
    return env


def run_pysteps(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pysteps", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, stdin=subprocess.DEVNULL, timeout=timeout)


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("pysteps: error:")]


def vault_resource(uri: str) -> str:
    """The audience the vault's challenge names (the parent domain of its host)."""
    return "https://" + uri.split("//", 1)[1].split(".", 1)[1].rstrip("/")


def put_secret(sandbox, uri: str, name: str, value: str) -> str:
    """Plant a secret through the data plane; returns its version."""
    status, _, body = sandbox.arm("PUT", f"secrets/{name}?api-version=7.4", base=uri,
                                  token=sandbox.token(vault_resource(uri)), body={"value": value})
    assert status == 200, body
    return body["id"].rsplit("/", 1)[1]


def create_vault(sandbox, group: str, name: str, *, rbac: bool, readers: tuple[str, ...] = ()) -> str:
    """A vault made through ARM (RBAC, or access policies granting secrets get/list to `readers`); its URI."""
    settings = sandbox.sandbox.settings()
    policies = [{"tenantId": settings["tenant"], "objectId": oid, "permissions": {"secrets": ["get", "list"]}}
                for oid in readers]
    body = {"location": "westeurope", "properties": {
        "tenantId": settings["tenant"], "sku": {"family": "A", "name": "standard"},
        "enableRbacAuthorization": rbac, "accessPolicies": policies}}
    path = (f"/subscriptions/{sandbox.subscription}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/"
            f"{name}?api-version=2023-07-01")
    status, _, created = sandbox.arm("PUT", path, body=body)
    assert status in (200, 201), created
    return created["properties"]["vaultUri"]


class FakeEntraId:
    """Entra ID's token endpoint for service principals (client credentials), minting sandbox tokens.

    Point azure-identity at it with AZURE_AUTHORITY_HOST. Only `client_id` with `secret` gets a token,
    whose object id is `object_id`.
    """

    def __init__(self, sandbox, client_id: str, secret: str, object_id: str):
        settings = sandbox.sandbox.settings()
        self.identity = Identity(settings["key"], settings["tenant"], settings["subscription"], client_id,
                                 settings["identity_header"])
        self.client_id, self.secret, self.object_id = client_id, secret, object_id
        self.token_requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(settings["cert_file"], settings["key_file"])
        self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeEntraId:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # OpenID configuration of the tenant
                tenant = self.path.strip("/").split("/")[0]
                base = f"{fake.url}/{tenant}"
                self._send(200, {"token_endpoint": f"{base}/oauth2/v2.0/token", "issuer": f"{base}/v2.0",
                                 "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                 "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode"})

            def do_POST(self):  # the client-credentials grant
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("content-length", 0))).decode())
                fake.token_requests.append({k: v[0] for k, v in form.items() if k != "client_secret"})
                if form.get("client_id") != [fake.client_id] or form.get("client_secret") != [fake.secret]:
                    self._send(401, {"error": "invalid_client",
                                     "error_description": "AADSTS7000215: Invalid client secret provided."})
                    return
                scope = form["scope"][0].split()[0].removesuffix("/.default")
                self._send(200, {"access_token": fake.identity.mint(scope, principal=fake.object_id),
                                 "token_type": "Bearer", "expires_in": 3600})

        return Handler


class ArgvWatcher:
    """Records the argv of every process seen while it runs (polling /proc)."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.seen: set[tuple[int, bytes]] = set()  # (pid, NUL-separated argv)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ArgvWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    with contextlib.suppress(OSError):
                        argv = Path(entry.path, "cmdline").read_bytes()
                        if argv:
                            self.seen.add((int(entry.name), argv))
            time.sleep(self.interval)
