"""Data movers: preload and sync against the sandbox's real S3 (rclone) and Blob (Azurite) servers."""

from __future__ import annotations

import hashlib
import http.server
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from pysteps.movers.preload import STATE_DIR, Manifest, TransferConfig, TransferFailed, preload, safe_target
from pysteps.movers.stores import Entry
from pysteps.movers.sync import from_blob_name, sync, to_blob_name

AWKWARD = ["plain.txt", "with space/and more.txt", "ünïcødé/😀.bin", "sym+bols%=#?.txt", "trailing/dot.",
           "/".join(["x" * 249] * 4)]  # a 1,000-character key (folders of 249: file names stop at 255 bytes)


# --- units ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [*AWKWARD, "a%25b", "100%", "back\\slash", "dots./in.the/middle.", "..."])
def test_blob_names_map_back_exactly(key):
    name = to_blob_name(key)
    assert from_blob_name(name) == key
    assert not any(segment.endswith(".") for segment in name.split("/"))


@pytest.mark.parametrize("key", ["../escape", "/absolute", "a/../../b", ".pysteps/preload.sqlite", "a/./b"])
def test_keys_that_would_escape_the_destination_are_refused(tmp_path, key):
    with pytest.raises(TransferFailed, match="refusing key"):
        safe_target(tmp_path, key)


def test_shards_split_keys_disjointly_and_completely():
    keys = [f"key-{i}" for i in range(500)]
    shards = [{k for k in keys if TransferConfig(shard=(i, 3)).wants(k)} for i in range(3)]
    assert set().union(*shards) == set(keys) and sum(len(s) for s in shards) == len(keys)
    assert all(len(s) > 100 for s in shards)
    config = TransferConfig(include=("*.csv",), exclude=("tmp/*",))
    assert config.wants("a.csv") and not config.wants("tmp/a.csv") and not config.wants("a.txt")


def test_the_manifest_holds_only_complete_matching_entries(tmp_path):
    manifest = Manifest(tmp_path / "m.sqlite")
    entry = Entry("a", 10, "v1")
    assert not manifest.complete("src", entry)
    manifest.record("src", entry)
    assert manifest.complete("src", entry)
    assert not manifest.complete("src", Entry("a", 10, "v2")) and not manifest.complete("other", entry)


# --- against the sandbox's servers ------------------------------------------------------------



@pytest.fixture
def env(sandbox, monkeypatch):
    for name, value in sandbox.env.items():
        monkeypatch.setenv(name, value)
    return sandbox.env


def make_bucket(objects: dict[str, bytes]) -> str:
    import boto3

    bucket = f"b{uuid.uuid4().hex[:10]}"
    client = boto3.session.Session().client("s3")
    client.create_bucket(Bucket=bucket)
    for key, data in objects.items():
        client.put_object(Bucket=bucket, Key=f"in/{key}", Body=data)
    return bucket


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file() and not p.relative_to(folder).as_posix().startswith(STATE_DIR)}


def expected(objects: dict[str, bytes]) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in objects.items()}


def random_objects(count: int, big: int = 0, seed: int = 1) -> dict[str, bytes]:
    rng = random.Random(seed)
    objects = {f"day={i % 3}/part-{i:04d}.bin": rng.randbytes(rng.choice([0, 10, 4096, 16384])) for i in range(count)}
    objects.update({f"big-{i}.bin": rng.randbytes(3 << 20) for i in range(big)})
    return objects


@pytest.mark.sandbox
def test_preload_from_s3_with_awkward_keys_and_ranges(env, tmp_path):
    objects = {key: os.urandom(100 + i) for i, key in enumerate(AWKWARD)}
    objects["large.bin"] = os.urandom(5 << 20)
    bucket = make_bucket(objects)
    progress = preload([f"s3://{bucket}/in"], str(tmp_path / "disk"), TransferConfig(chunk_size=1 << 20))
    assert digests(tmp_path / "disk") == expected(objects)
    assert progress.files_done == len(objects) and progress.files_skipped == 0
    again = preload([f"s3://{bucket}/in"], str(tmp_path / "disk"))
    assert again.files_skipped == len(objects)  # complete files are not fetched again


@pytest.mark.sandbox
def test_preload_from_blob_and_a_local_folder(env, tmp_path):
    from azure.storage.blob import BlobServiceClient

    container = f"c{uuid.uuid4().hex[:10]}"
    client = BlobServiceClient.from_connection_string(env["AZURE_STORAGE_CONNECTION_STRING"]).create_container(
        container)
    blobs = random_objects(30, big=1, seed=2)
    for name, data in blobs.items():
        client.upload_blob(f"set/{name}", data)
    local = tmp_path / "local"
    for name, data in {"extra/one.txt": b"1", "extra/two.txt": b"22"}.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    preload([f"az://devstoreaccount1/{container}/set", str(local)], str(tmp_path / "disk"),
            TransferConfig(chunk_size=1 << 20))
    assert digests(tmp_path / "disk") == {**expected(blobs), "extra/one.txt": expected({"x": b"1"})["x"],
                                          "extra/two.txt": expected({"x": b"22"})["x"]}


@pytest.mark.sandbox
def test_an_empty_prefix_is_fine(env, tmp_path):
    bucket = make_bucket({})
    assert preload([f"s3://{bucket}/in"], str(tmp_path / "disk")).files_total == 0


class FlakyProxy(http.server.ThreadingHTTPServer):
    """Answers every `every`-th request with 503 (throttling), forwards the others to `upstream`."""

    def __init__(self, upstream: str, every: int):
        self.upstream, self.every, self.count, self.failed = upstream, every, 0, 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                with proxy.lock:
                    proxy.count += 1
                    fail = proxy.count % proxy.every == 0
                    proxy.failed += fail
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if fail:
                    payload = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                # The original Host header goes along: the request is signed with it.
                request = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command,
                                                 headers=dict(self.headers.items()))
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, headers, data = response.status, response.headers, response.read()
                except urllib.error.HTTPError as error:
                    status, headers, data = error.code, error.headers, error.read()
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.mark.sandbox
def test_throttling_and_503s_are_retried(env, tmp_path, monkeypatch):
    objects = random_objects(40, seed=3)
    bucket = make_bucket(objects)
    proxy = FlakyProxy(env["AWS_ENDPOINT_URL"], every=4)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.server_address[1]}")
        preload([f"s3://{bucket}/in"], str(tmp_path / "disk"), TransferConfig(concurrency=4))
    finally:
        proxy.shutdown()
    assert proxy.failed >= 10
    assert digests(tmp_path / "disk") == expected(objects)


def run_and_kill(argv: list[str], env: dict, delay: float) -> None:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    process.kill()
    process.wait()


@pytest.mark.sandbox
def test_preload_survives_kill_9_at_random_points(env, tmp_path):
    objects = random_objects(150, big=2, seed=4)
    bucket = make_bucket(objects)
    disk = tmp_path / "disk"
    argv = [sys.executable, "-m", "pysteps", "preload", f"s3://{bucket}/in", str(disk), "--chunk-size", "1M"]
    rng = random.Random(9)
    for _ in range(10):
        run_and_kill(argv, {**os.environ, **env}, rng.uniform(0.3, 2.0))
        assert all(digests(disk).get(k) in (None, v) for k, v in expected(objects).items()), \
            "a file is visible under its final name with wrong content"
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert digests(disk) == expected(objects)
    manifest = Manifest(disk / STATE_DIR / "preload.sqlite")
    assert all(manifest.complete(f"s3://{bucket}/in", Entry(k, len(v), _etag(bucket, k))) for k, v in objects.items())


def _etag(bucket: str, key: str) -> str:
    import boto3

    return boto3.session.Session().client("s3").head_object(Bucket=bucket, Key=f"in/{key}")["ETag"].strip('"')


def blob_digests(env, container: str, prefix: str) -> dict[str, str]:
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(env["AZURE_STORAGE_CONNECTION_STRING"]).get_container_client(
        container)
    return {from_blob_name(b.name[len(prefix) + 1:]): hashlib.sha256(client.download_blob(b.name).readall()).hexdigest()
            for b in client.list_blobs(name_starts_with=prefix + "/") if "/.pysteps/" not in f"/{b.name}"}


def new_container(env) -> str:
    from azure.storage.blob import BlobServiceClient

    name = f"c{uuid.uuid4().hex[:10]}"
    BlobServiceClient.from_connection_string(env["AZURE_STORAGE_CONNECTION_STRING"]).create_container(name)
    return name


@pytest.mark.sandbox
def test_sync_copies_new_objects_only(env, tmp_path):
    import boto3

    objects = {key: os.urandom(50) for key in AWKWARD}
    bucket = make_bucket(objects)
    container = new_container(env)
    dest = f"az://devstoreaccount1/{container}/landing"
    first = sync(f"s3://{bucket}/in", dest, since=None, since_last=True)
    assert first.copied == len(objects) and not first.failed
    assert blob_digests(env, container, "landing") == expected(objects)
    again = sync(f"s3://{bucket}/in", dest, since=None, since_last=True)
    assert again.copied == 0 and again.already == len(objects)
    boto3.session.Session().client("s3").put_object(Bucket=bucket, Key="in/new/one.bin", Body=b"new")
    third = sync(f"s3://{bucket}/in", dest, since=None, since_last=True)
    assert third.copied == 1
    from datetime import UTC, datetime, timedelta

    future = sync(f"s3://{bucket}/in", dest, since=datetime.now(UTC) + timedelta(days=1), since_last=False,
                  overlap=timedelta(0))
    assert future.copied == 0 and future.older == len(objects) + 1


@pytest.mark.sandbox
def test_sync_dry_run_and_shards(env, tmp_path):
    objects = random_objects(60, seed=5)
    bucket = make_bucket(objects)
    container = new_container(env)
    dest = f"az://devstoreaccount1/{container}/landing"
    dry = sync(f"s3://{bucket}/in", dest, since=None, since_last=True, dry_run=True)
    assert dry.selected == len(objects) and blob_digests(env, container, "landing") == {}
    for index in range(2):
        sync(f"s3://{bucket}/in", dest, since=None, since_last=True, config=TransferConfig(shard=(index, 2)))
    assert blob_digests(env, container, "landing") == expected(objects)


@pytest.mark.sandbox
def test_sync_survives_kill_9_at_random_points(env, tmp_path):
    objects = random_objects(200, seed=6)
    bucket = make_bucket(objects)
    container = new_container(env)
    manifest = tmp_path / "manifest.sqlite"
    argv = [sys.executable, "-m", "pysteps", "sync", f"s3://{bucket}/in", f"az://devstoreaccount1/{container}/l",
            "--since-last", "--manifest", str(manifest), "--concurrency", "8"]
    rng = random.Random(10)
    for _ in range(10):
        run_and_kill(argv, {**os.environ, **env}, rng.uniform(0.3, 2.0))
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert blob_digests(env, container, "l") == expected(objects)
    import sqlite3

    recorded = {row[0] for row in sqlite3.connect(manifest).execute("SELECT key FROM objects")}
    assert recorded == set(objects)  # the manifest agrees with the destination
