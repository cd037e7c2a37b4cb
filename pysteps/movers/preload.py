"""`pysteps preload SRC... DEST`: fill a local disk from object storage, resumably and exactly.

Every file is written under DEST/.pysteps/partial/ and renamed into place only when all its bytes
are there and its size (and MD5, when the store gives one) checks out, so no partial file is ever
visible in the data tree, even after kill -9. A manifest in DEST/.pysteps remembers
what is complete (size and source version), so a rerun skips it. Large objects are fetched as
byte ranges in parallel into a preallocated file; small ones are pipelined over the pool.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import sqlite3
import sys
import threading
import time
import zlib
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pysteps.engine.errors import PystepsError, UsageError
from pysteps.movers.stores import Entry, Store, open_store

STATE_DIR = ".pysteps"
PARTIALS = "partial"


class TransferFailed(PystepsError):
    exit_code = 1


@dataclass(frozen=True)
class TransferConfig:
    concurrency: int = 32
    chunk_size: int = 64 << 20
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    shard: tuple[int, int] = (0, 1)

    def wants(self, key: str) -> bool:
        if self.include and not any(fnmatch.fnmatch(key, p) for p in self.include):
            return False
        if any(fnmatch.fnmatch(key, p) for p in self.exclude):
            return False
        index, count = self.shard
        return count == 1 or zlib.crc32(key.encode()) % count == index


@dataclass
class Progress:
    """Counts files and bytes; reports as a live line on a terminal, as periodic lines in a log."""

    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    files_skipped: int = 0
    started: float = field(default_factory=time.monotonic)
    stream: object = field(default=sys.stderr)
    interval: float = 10.0
    _last: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_done += nbytes
            self._maybe_report()

    def file_done(self, skipped: bool = False) -> None:
        with self._lock:
            self.files_done += 1
            self.files_skipped += skipped
            self._maybe_report()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.bytes_done / elapsed
        left = (self.bytes_total - self.bytes_done) / rate if rate > 0 else 0
        return (f"{self.files_done}/{self.files_total} files, {_size(self.bytes_done)}/{_size(self.bytes_total)}, "
                f"{_size(rate)}/s, ETA {left:.0f}s")

    def _maybe_report(self) -> None:
        now = time.monotonic()
        terminal = getattr(self.stream, "isatty", lambda: False)()
        if now - self._last < (0.2 if terminal else self.interval):
            return
        self._last = now
        end = "\r" if terminal else "\n"
        print(f"[preload] {self.line()}", end=end, file=self.stream, flush=True)


def _size(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return str(value)


class Manifest:
    """What is complete in DEST: key -> (size, source version), in SQLite.

    Entries are committed in batches, each after the files it names are flushed to disk (sync), so
    the manifest never names a file that a crash could lose; files not yet committed are fetched
    again by the next run.
    """

    BATCH_SECONDS = 2.0

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.partials = path.parent / PARTIALS
        self.partials.mkdir(exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS files (source TEXT, key TEXT, size INTEGER, version TEXT, "
                         "PRIMARY KEY (source, key))")
        self._lock = threading.Lock()
        self._pending: list[tuple] = []
        self._last_commit = time.monotonic()

    def complete(self, source: str, entry: Entry) -> bool:
        """True when `entry` is recorded as complete (committed, or waiting for the next commit)."""
        with self._lock:
            if (source, entry.key, entry.size, entry.version) in self._pending:
                return True
            row = self._db.execute("SELECT size, version FROM files WHERE source=? AND key=?",
                                   (source, entry.key)).fetchone()
        return row == (entry.size, entry.version)

    def partial_path(self, source: str, key: str) -> Path:
        """Where a file is written until complete: named by source and key, so a rerun reuses the name."""
        return self.partials / hashlib.sha256(f"{source}\0{key}".encode()).hexdigest()

    def record(self, source: str, entry: Entry) -> None:
        with self._lock:
            self._pending.append((source, entry.key, entry.size, entry.version))
            if time.monotonic() - self._last_commit >= self.BATCH_SECONDS:
                self._commit()

    def flush(self) -> None:
        with self._lock:
            self._commit()

    def _commit(self) -> None:
        if self._pending:
            os.sync()  # the files first, then the entries that name them
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", self._pending)
            self._db.execute("COMMIT")
            self._pending.clear()
        self._last_commit = time.monotonic()


def safe_target(dest: Path, key: str) -> Path:
    """Where `key` lands under `dest`; a key that would escape `dest` is refused."""
    segments = key.split("/")
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or any(s in ("..", ".") for s in segments) or parts[0] == STATE_DIR:
        raise TransferFailed(f"refusing key {key!r}: it would land outside the destination folder")
    return dest.joinpath(*parts)


def preload(sources: list[str], dest: str, config: TransferConfig | None = None, stream=sys.stderr) -> Progress:
    """Copy every object of `sources` into the folder `dest`; returns the final counts."""
    config = config or TransferConfig()
    dest_path = Path(dest)
    dest_path.mkdir(parents=True, exist_ok=True)
    stores = [open_store(uri) for uri in sources]
    manifest = Manifest(dest_path / STATE_DIR / "preload.sqlite")
    plan: list[tuple[Store, Entry, Path]] = []
    claimed: dict[Path, str] = {}
    for store in stores:
        for entry in store.list():
            if not config.wants(entry.key):
                continue
            target = safe_target(dest_path, entry.key)
            if target in claimed:
                raise UsageError(f"{entry.key!r} is in both {claimed[target]} and {store.uri}: expected sources "
                                 "whose keys do not overlap")
            claimed[target] = store.uri
            plan.append((store, entry, target))
    progress = Progress(files_total=len(plan), bytes_total=sum(e.size for _, e, _ in plan), stream=stream)
    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="preload") as pool:
        futures = [pool.submit(_copy_one, store, entry, target, manifest, config, progress)
                   for store, entry, target in plan]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failure = next((f.exception() for f in done if f.exception()), None)
        if failure is not None:
            for other in futures:
                other.cancel()
    manifest.flush()
    if failure is not None:
        raise failure
    print(f"[preload] done: {progress.line()}; {progress.files_skipped} already complete", file=stream, flush=True)
    return progress


ATTEMPTS = 3


def _copy_one(store: Store, entry: Entry, target: Path, manifest: Manifest, config: TransferConfig,
              progress: Progress) -> None:
    """Copy one object, trying again (from scratch) when the store fails in a way its SDK did not absorb."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _copy_once(store, entry, target, manifest, config, progress)
        except TransferFailed:
            raise
        except Exception as error:
            if attempt == ATTEMPTS:
                raise TransferFailed(f"{store.uri}/{entry.key}: {type(error).__name__}: "
                                     f"{' '.join(str(error).split())[:300]}") from None
            time.sleep(0.5 * 2 ** attempt)


def _copy_once(store: Store, entry: Entry, target: Path, manifest: Manifest, config: TransferConfig,
               progress: Progress) -> None:
    if manifest.complete(store.uri, entry) and target.is_file() and target.stat().st_size == entry.size:
        progress.add(entry.size)
        progress.file_done(skipped=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = manifest.partial_path(store.uri, entry.key)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if entry.size > config.chunk_size:
            os.posix_fallocate(fd, 0, entry.size)
            _ranges(store, entry, fd, config, progress)
        else:
            _whole(store, entry, fd, progress)
        _verify(partial, entry)
    except BaseException:
        os.close(fd)
        partial.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(partial, target)
    manifest.record(store.uri, entry)
    progress.file_done()


def _whole(store: Store, entry: Entry, fd: int, progress: Progress) -> None:
    offset = 0
    for chunk in store.read(entry.key):
        os.pwrite(fd, chunk, offset)
        offset += len(chunk)
        progress.add(len(chunk))
    if offset != entry.size:
        raise TransferFailed(f"{store.uri}/{entry.key}: got {offset} bytes, expected {entry.size}")


def _ranges(store: Store, entry: Entry, fd: int, config: TransferConfig, progress: Progress) -> None:
    starts = range(0, entry.size, config.chunk_size)
    workers = min(len(starts), max(2, config.concurrency // 4))

    def fetch(start: int) -> None:
        length = min(config.chunk_size, entry.size - start)
        offset = start
        for chunk in store.read(entry.key, start, length):
            os.pwrite(fd, chunk, offset)
            offset += len(chunk)
            progress.add(len(chunk))
        if offset - start != length:
            raise TransferFailed(f"{store.uri}/{entry.key}: range at {start} got {offset - start} bytes, "
                                 f"expected {length}")

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="range") as ranges:
        for future in [ranges.submit(fetch, start) for start in starts]:
            future.result()


def _verify(path: Path, entry: Entry) -> None:
    size = path.stat().st_size
    if size != entry.size:
        raise TransferFailed(f"{entry.key}: wrote {size} bytes, expected {entry.size}")
    if entry.md5:
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        if digest.digest() != entry.md5:
            raise TransferFailed(f"{entry.key}: content MD5 differs from the store's; the copy was discarded")
