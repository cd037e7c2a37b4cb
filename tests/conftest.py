"""Test isolation: a private, logged-out Azure CLI config, and no way to reach the internet."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_CONFIG_DIR = tempfile.mkdtemp(prefix="pysteps-tests-azcfg-")
# Set before anything imports azure.cli.core, which reads AZURE_CONFIG_DIR once, at import.
os.environ["AZURE_CONFIG_DIR"] = _CONFIG_DIR
os.environ["AZURE_CORE_COLLECT_TELEMETRY"] = "no"
os.environ["AZURE_CORE_NO_COLOR"] = "true"
os.environ.pop("PYSTEPS_RUNNER", None)
os.environ.pop("PYSTEPS_RUN_DIR", None)
os.environ.pop("PYSTEPS_LOG_FORMAT", None)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CONFIG_DIR, ignore_errors=True)


@pytest.fixture
def pysteps(tmp_path):
    """Run the real `pysteps` command line in a subprocess, from `tmp_path`."""

    def run(*args, env=None, check=None, input=None):
        # The venv's own `az` first, as after `pip install pysteps[az]`.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        full_env = {**os.environ, "PATH": path, **(env or {})}
        done = subprocess.run([sys.executable, "-m", "pysteps", *args], capture_output=True, text=True,
                              cwd=tmp_path, env=full_env, input=input)
        if check is not None:
            assert done.returncode == check, done.stderr
        return done

    return run


def error_line(done) -> str:
    """The `pysteps: error:` line of a failed run, asserting there is exactly one."""
    lines = [line for line in done.stderr.splitlines() if line.startswith("pysteps: error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """One sandbox for the whole test session (tests use their own resource groups)."""
    from sandbox_support import Running

    from pysteps.sandbox.control import Sandbox

    box = Sandbox(tmp_path_factory.mktemp("sandbox") / "state")
    env = box.up(retry_after=1)
    try:
        yield Running(box, env)
    finally:
        box.down()


@pytest.fixture(scope="session")
def blob_storage_env(sandbox):
    """AZURE_STORAGE_CONNECTION_STRING of the session's sandbox in this process (demo data helpers read it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AZURE_STORAGE_CONNECTION_STRING", sandbox.env["AZURE_STORAGE_CONNECTION_STRING"])
        yield


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory) -> str:
    """An SSH public key file for the VMs tests create."""
    folder = tmp_path_factory.mktemp("ssh")
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(folder / "id_rsa")],
                   check=True)
    return str(folder / "id_rsa.pub")
