"""Data-mover figures against peers measured in the same run: `./dev bench movers [--small N] [--large N]`.

Starts a sandbox (rclone's S3 server and Azurite on loopback), generates the data sets, then times:
thousands of 16 KiB objects to disk, a few 512 MiB objects to disk (pysteps preload against
`rclone copy`), the disk's write limit (dd with fdatasync), and S3-to-Blob first copy and no-op
rerun (pysteps sync against `rclone copy`). Prints each figure and its ratio to the peer.

Targets (issue 6): small files >= 1.5x rclone's files/s; large files >= rclone's MB/s and >= 70% of
the disk limit; no-op sync rerun <= half rclone's time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def disk_limit(folder: Path, size_mib: int = 1024) -> float:
    """MB/s of a sequential write with fdatasync, as dd measures it."""
    target = folder / "dd.bin"
    started = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=4M", f"count={size_mib // 4}", "conv=fdatasync"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    target.unlink()
    return size_mib * 1.048576 / seconds


def rclone_env(env: dict, work: Path) -> tuple[dict, list[str]]:
    """rclone configured through environment variables for the sandbox's S3 and Blob endpoints."""
    from pysteps.sandbox.services import rclone_executable

    blob = dict(p.split("=", 1) for p in env["AZURE_STORAGE_CONNECTION_STRING"].split(";") if "=" in p)
    config = {
        "RCLONE_CONFIG": str(work / "rclone.conf"),
        "RCLONE_CONFIG_S3_TYPE": "s3", "RCLONE_CONFIG_S3_PROVIDER": "Other",
        "RCLONE_CONFIG_S3_ENDPOINT": env["AWS_ENDPOINT_URL"],
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"], "RCLONE_CONFIG_S3_REGION": "us-east-1",
        "RCLONE_CONFIG_AZ_TYPE": "azureblob", "RCLONE_CONFIG_AZ_ACCOUNT": blob["AccountName"],
        "RCLONE_CONFIG_AZ_KEY": blob["AccountKey"], "RCLONE_CONFIG_AZ_ENDPOINT": blob["BlobEndpoint"],
    }
    (work / "rclone.conf").write_text("")
    clean = {k: v for k, v in {**os.environ, **env, **config}.items() if k != "AWS_CA_BUNDLE"}
    return clean, [rclone_executable(), "--transfers", "32", "--checkers", "32"]


def upload(bucket: str, objects: dict[str, int], seed: int) -> None:
    import boto3

    client = boto3.session.Session().client("s3")
    client.create_bucket(Bucket=bucket)
    block = os.urandom(1 << 20)

    def put(item):
        key, size = item
        body = (block * (size // len(block) + 1))[:size] if size > len(block) else os.urandom(size)
        if size > 64 << 20:
            from boto3.s3.transfer import TransferConfig

            client.upload_fileobj(_Repeat(block, size), bucket, key, Config=TransferConfig(use_threads=True))
        else:
            client.put_object(Bucket=bucket, Key=key, Body=body)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, objects.items()))


class _Repeat:
    def __init__(self, block: bytes, size: int):
        self.block, self.left = block, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return (self.block * (n // len(self.block) + 1))[:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=3000, help="number of 16 KiB objects (default 3000)")
    parser.add_argument("--large", type=int, default=2, help="number of 512 MiB objects (default 2)")
    args = parser.parse_args()
    from pysteps.sandbox.control import Sandbox

    work = Path(tempfile.mkdtemp(prefix="pysteps-bench-"))
    box = Sandbox(work / "sandbox")
    env = box.up()
    os.environ.update(env)
    py = [sys.executable, "-m", "pysteps"]
    base = {**os.environ, **env}
    try:
        r_env, rclone = rclone_env(env, work)
        upload("small", {f"s/{i // 100:03d}/obj-{i:05d}": 16 << 10 for i in range(args.small)}, 1)
        upload("large", {f"l/big-{i}": 512 << 20 for i in range(args.large)}, 2)
        rows = []

        def compare(label, ours, peer, unit, higher_is_better=True):
            ratio = ours / peer if higher_is_better else peer / ours
            rows.append(f"  {label:<34} pysteps {ours:10.1f} {unit:<8} rclone {peer:10.1f} {unit:<8} "
                        f"ratio {ratio:5.2f}x")

        for name in ("a", "b"):
            shutil.rmtree(work / name, ignore_errors=True)
        ours = timed([*py, "preload", "s3://small/s", str(work / "a")], base)
        peer = timed([*rclone, "copy", "s3:small/s", str(work / "b")], r_env)
        compare(f"{args.small} x 16 KiB to disk", args.small / ours, args.small / peer, "files/s")
        limit = disk_limit(work)
        total_mb = args.large * 512 * 1.048576
        ours = timed([*py, "preload", "s3://large/l", str(work / "c")], base)
        peer = timed([*rclone, "copy", "s3:large/l", str(work / "d"), "--multi-thread-streams", "8"], r_env)
        compare(f"{args.large} x 512 MiB to disk", total_mb / ours, total_mb / peer, "MB/s")
        rows.append(f"  disk write limit (dd, fdatasync)   {limit:10.1f} MB/s; pysteps at "
                    f"{100 * total_mb / ours / limit:.0f}% of it")
        container = "landing"
        from azure.storage.blob import BlobServiceClient

        BlobServiceClient.from_connection_string(env["AZURE_STORAGE_CONNECTION_STRING"]).create_container(container)
        ours = timed([*py, "sync", "s3://small/s", f"az://devstoreaccount1/{container}/p", "--since-last"], base)
        peer = timed([*rclone, "copy", "s3:small/s", f"az:{container}/r"], r_env)
        compare("S3 -> Blob first copy", ours, peer, "s", higher_is_better=False)
        ours = timed([*py, "sync", "s3://small/s", f"az://devstoreaccount1/{container}/p", "--since-last"], base)
        peer = timed([*rclone, "copy", "s3:small/s", f"az:{container}/r"], r_env)
        compare("S3 -> Blob no-op rerun", ours, peer, "s", higher_is_better=False)
        print(f"pysteps data movers vs rclone, same machine, same run ({os.cpu_count()} cores); "
              "ratio > 1 means pysteps is better")
        print("\n".join(rows))
    finally:
        box.down()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
