"""One small interface over S3, Azure Blob (and ADLS Gen2 through the Blob API) and local folders.

A store lists entries under a prefix and reads an entry whole or by byte range; transfers know
nothing else about it. `open_store(uri)` picks the backend from the URI:

    s3://bucket/prefix                                    boto3, standard AWS settings (AWS_ENDPOINT_URL, ...)
    az://account/container/prefix                         azure-storage-blob: AZURE_STORAGE_CONNECTION_STRING
                                                          for that account, else azure-identity
    https://account.blob.core.windows.net/container/p?SAS the same, with a SAS in the URL
    http://127.0.0.1:10000/devstoreaccount1/container/p   path-style (Azurite), SAS optional
    adl://store/path                                      ADLS Gen1 (retired; legacy, read-only)
    /some/folder                                          a local folder
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from pysteps.engine.errors import UsageError


@dataclass(frozen=True)
class Entry:
    """An object: its key relative to the store's prefix, size, version (ETag or version id), and hash."""

    key: str
    size: int
    version: str = ""
    modified: datetime | None = None
    md5: bytes | None = None


class Store:
    """The interface every backend implements."""

    uri: str

    def list(self) -> Iterator[Entry]:
        raise NotImplementedError

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """The bytes of `key` from `start` (all of them, or `length`), as chunks."""
        raise NotImplementedError


class WritableStore(Store):
    """A store sync can write to: streamed objects, and small state objects (its manifest)."""

    def write(self, key: str, chunks: Iterator[bytes], size: int) -> None:
        raise NotImplementedError

    def fetch(self, key: str) -> bytes | None:
        """A small object whole, or None when it does not exist."""
        raise NotImplementedError

    def store(self, key: str, data: bytes) -> None:
        raise NotImplementedError


def read_chunks(handle, start: int, length: int | None, chunk: int = 1 << 20) -> Iterator[bytes]:
    """`length` bytes (or all) from `start` of a file-like object, as chunks."""
    handle.seek(start)
    remaining = length
    while remaining is None or remaining > 0:
        data = handle.read(chunk if remaining is None else min(chunk, remaining))
        if not data:
            return
        if remaining is not None:
            remaining -= len(data)
        yield data


def open_store(uri: str) -> Store:
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        from pysteps.movers.s3 import S3Store

        return S3Store(uri)
    if parts.scheme in ("az", "http", "https"):
        from pysteps.movers.blob import BlobStore

        return BlobStore(uri)
    if parts.scheme == "adl":
        from pysteps.movers.adls import AdlsGen1Store

        return AdlsGen1Store(uri)
    if parts.scheme in ("", "file"):
        return LocalStore(parts.path if parts.scheme == "file" else uri)
    raise UsageError(f"unsupported storage URI {uri!r}: expected s3://bucket/prefix, az://account/container/prefix, "
                     "an https Blob URL, adl://store/path (ADLS Gen1, legacy) or a local path")


class LocalStore(WritableStore):
    def __init__(self, path: str):
        self.uri = path
        self.root = Path(path)
        if not self.root.is_dir():
            raise UsageError(f"local folder {path!r} does not exist")

    def list(self) -> Iterator[Entry]:
        for folder, _, files in os.walk(self.root):
            for name in files:
                path = Path(folder, name)
                stat = path.stat()
                key = path.relative_to(self.root).as_posix()
                yield Entry(key, stat.st_size, f"{stat.st_mtime_ns}-{stat.st_size}",
                            datetime.fromtimestamp(stat.st_mtime))

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        with open(self.root / key, "rb") as handle:
            yield from read_chunks(handle, start, length)

    def write(self, key: str, chunks: Iterator[bytes], size: int) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.pysteps-partial")
        with open(partial, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)

    def fetch(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def store(self, key: str, data: bytes) -> None:
        self.write(key, iter([data]), len(data))
