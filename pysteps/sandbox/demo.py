"""A demo data set in the sandbox's Blob storage, and checking a machine's copy of it.

    python -m pysteps.sandbox.demo seed [--files N] [--container C] [--prefix P]
    python -m pysteps.sandbox.demo verify FOLDER [--container C] [--prefix P]

Uses AZURE_STORAGE_CONNECTION_STRING, as `pysteps sandbox env` sets it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
from pathlib import Path


def container_client(name: str):
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    client = service.get_container_client(name)
    if not client.exists():
        client.create_container()
    return client


def seed(container: str, prefix: str, files: int, seed_value: int = 20261126) -> int:
    """Upload `files` objects of varied sizes and awkward names; the same seed gives the same data."""
    rng = random.Random(seed_value)
    client = container_client(container)
    total = 0
    for index in range(files):
        size = rng.choice([0, 1, 517, 4096, 16384, 65536, 300_000])
        name = f"{prefix}/day={index % 7:02d}/part {index:04d}+ü.bin" if index % 5 else f"{prefix}/top-{index}.csv"
        client.upload_blob(name, rng.randbytes(size), overwrite=True)
        total += size
    return total


def digests_of_blobs(container: str, prefix: str) -> dict[str, str]:
    client = container_client(container)
    found = {}
    for blob in client.list_blobs(name_starts_with=prefix + "/"):
        data = client.download_blob(blob.name).readall()
        found[blob.name[len(prefix) + 1:]] = hashlib.sha256(data).hexdigest()
    return found


def digests_of_folder(folder: Path) -> dict[str, str]:
    found = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and not relative.startswith(".pysteps/"):
            found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("seed", "verify"))
    parser.add_argument("folder", nargs="?", type=Path, help="with verify: the machine's copy")
    parser.add_argument("--container", default="datasets")
    parser.add_argument("--prefix", default="demo")
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    if args.action == "seed":
        total = seed(args.container, args.prefix, args.files)
        print(f"demo data set: {args.files} objects, {total} bytes in {args.container}/{args.prefix}")
        return 0
    if args.folder is None:
        parser.error("verify needs the folder holding the machine's copy")
    source, copy = digests_of_blobs(args.container, args.prefix), digests_of_folder(args.folder)
    if source != copy:
        missing, extra = sorted(set(source) - set(copy)), sorted(set(copy) - set(source))
        differ = sorted(k for k in set(source) & set(copy) if source[k] != copy[k])
        print(f"MISMATCH in {args.folder}: missing {missing[:5]}, extra {extra[:5]}, different {differ[:5]}",
              file=sys.stderr)
        return 1
    print(f"{args.folder}: all {len(source)} files byte-identical to {args.container}/{args.prefix} (sha256)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
