"""`pysteps sandbox` itself: start, inspect, inject faults, stop without leaving anything behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from pysteps.sandbox import processes
from pysteps.sandbox.control import Sandbox

pytestmark = pytest.mark.sandbox


@pytest.fixture
def faults(sandbox):
    """Set fault rules on the shared sandbox for one test, and always clear them after."""
    yield sandbox.sandbox.set_faults
    sandbox.sandbox.set_faults([])


def test_throttling_is_retried_by_az_honouring_retry_after(sandbox, faults):
    name = f"throttled-{uuid.uuid4().hex[:6]}"
    faults([{"method": "PUT", "path": f"/resourcegroups/{name}$", "status": 429, "retry_after": 1, "times": 2}])
    started = time.monotonic()
    sandbox.az("group", "create", "--name", name, "--location", "westeurope")
    assert time.monotonic() - started >= 2  # two Retry-After waits
    assert sandbox.sandbox.faults()[0]["fired"] == 2
    assert sandbox.az("group", "exists", "--name", name) is True
    sandbox.az("group", "delete", "--name", name, "--yes")


def test_server_errors_on_chosen_operations(sandbox, faults):
    name = f"broken-{uuid.uuid4().hex[:6]}"
    faults([{"method": "PUT", "path": f"/resourcegroups/{name}$", "status": 503}])
    stderr = sandbox.az_fails("group", "create", "--name", name, "--location", "westeurope")
    assert "ServiceUnavailable" in stderr or "503" in stderr
    assert sandbox.az("group", "exists", "--name", name) is False


def test_a_long_running_operation_that_ends_failed(sandbox, faults):
    group = f"lro-{uuid.uuid4().hex[:6]}"
    sandbox.az("group", "create", "--name", group, "--location", "westeurope")
    try:
        faults([{"method": "PUT", "path": "/publicIPAddresses/", "lro": "Failed"}])
        stderr = sandbox.az_fails("network", "public-ip", "create", "--resource-group", group, "--name", "ip1")
        assert "InternalOperationError" in stderr
    finally:
        sandbox.az("group", "delete", "--name", group, "--yes")


def test_every_nth_and_seeded_random_faults_are_reproducible(sandbox, faults):
    def pattern(rule: dict, calls: int) -> list[int]:
        faults([{"method": "GET", "path": "/resourcegroups$", "status": 500, **rule}])
        codes = [sandbox.arm("GET", f"/subscriptions/{sandbox.subscription}/resourcegroups?api-version=2024-11-01")[0]
                 for _ in range(calls)]
        return codes

    assert pattern({"every": 3}, 6) == [200, 200, 500, 200, 200, 500]
    first = pattern({"probability": 0.5, "seed": 7}, 12)
    assert first == pattern({"probability": 0.5, "seed": 7}, 12)
    assert 500 in first and 200 in first
    assert first != pattern({"probability": 0.5, "seed": 8}, 12)


def test_slow_operations(sandbox, faults):
    faults([{"method": "GET", "path": "/resourcegroups$", "delay": 1.0}])
    started = time.monotonic()
    status, _, _ = sandbox.arm("GET", f"/subscriptions/{sandbox.subscription}/resourcegroups?api-version=2024-11-01")
    assert status == 200 and time.monotonic() - started >= 1.0


def test_bad_fault_rules_are_refused(sandbox):
    from pysteps.sandbox.processes import SandboxError

    with pytest.raises(SandboxError, match="fault status 418"):
        sandbox.sandbox.set_faults([{"status": 418}])


def test_every_request_is_logged(sandbox):
    sandbox.az("group", "list")
    entries = [json.loads(line) for line in sandbox.sandbox.requests_log().read_text().splitlines()]
    assert any(e["method"] == "GET" and e["path"].endswith("/resourcegroups") for e in entries)
    assert all({"ts", "method", "path", "status", "ms"} <= set(e) for e in entries)
    assert not any("authorization" in json.dumps(e).lower() for e in entries)


def pysteps_sandbox(state_dir, *args):
    path = f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"
    return subprocess.run([sys.executable, "-m", "pysteps", "sandbox", "--state-dir", str(state_dir), *args],
                          capture_output=True, text=True, env={**os.environ, "PATH": path})


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_up_status_env_resources_down_leave_nothing_behind(tmp_path):
    state = tmp_path / "box"
    up = pysteps_sandbox(state, "up")
    assert up.returncode == 0, up.stderr
    try:
        pids = {name: processes.running(name, state) for name in processes.names(state)}
        assert set(pids) == {"arm", "blob", "s3"} and all(pids.values())
        status = pysteps_sandbox(state, "status")
        assert status.returncode == 0 and status.stdout.count("running (pid") == 3
        env = json.loads(pysteps_sandbox(state, "env", "--format", "json").stdout)
        shell = pysteps_sandbox(state, "env").stdout
        assert f"export AZURE_CONFIG_DIR={state / 'azure'}" in shell
        account = subprocess.run([os.path.join(os.path.dirname(sys.executable), "az"), "account", "show"],
                                 capture_output=True, text=True, env={**os.environ, **env})
        assert json.loads(account.stdout)["id"] == env["AZURE_SUBSCRIPTION_ID"]
        assert pysteps_sandbox(state, "up").returncode == 0  # idempotent
        assert pysteps_sandbox(state, "resources").stdout.strip() == "no resource groups"
        ports = [int(env["PYSTEPS_SANDBOX_ARM"].rsplit(":", 1)[1]), int(env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])]
    finally:
        down = pysteps_sandbox(state, "down")
    assert down.returncode == 0
    assert all(gone(pid) for pid in pids.values())
    assert not any(processes.accepts_connections(port) for port in ports)
    assert not state.exists()


def test_commands_need_a_sandbox(tmp_path):
    done = pysteps_sandbox(tmp_path / "none", "env")
    assert done.returncode == 1 and "no sandbox in" in done.stderr and "pysteps sandbox up" in done.stderr
    assert pysteps_sandbox(tmp_path / "none", "status").returncode == 3


def test_sandbox_ignores_nothing_but_its_own_processes(tmp_path):
    box = Sandbox(tmp_path / "other")
    assert box.down() == []  # nothing recorded: nothing stopped, no error
