"""`pysteps sync SRC DEST --since DATE | --since-last`: copy new objects by date stamp, whatever the layout.

The whole source prefix is listed (folder structure plays no part); an object is copied when its
LastModified is at or after the watermark less a safety overlap (clock skew, multipart uploads
stamped with their start) and the manifest does not already hold it with the same size and
version. With --since-last, the watermark is where the previous run started, and objects missing
from the manifest are copied whatever their date. The manifest (SQLite) records an object only
after the destination has committed it, so a crash never loses or skips one: the next run copies
it again. It lives in the destination (DEST/.pysteps/) or at --manifest PATH.

Keys map to blob names reversibly: '%', '\\' and a '.' ending a path segment (which Azure cannot
hold as-is) are %-escaped. A key that cannot be held (over 1024 characters once escaped) is
counted as failed and named, never silently skipped.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pysteps.engine.errors import UsageError
from pysteps.movers.preload import TransferConfig, TransferFailed
from pysteps.movers.stores import Entry, Store, WritableStore, open_store

MANIFEST_NAME = ".pysteps/sync-manifest"
MAX_BLOB_NAME = 1024
DEFAULT_OVERLAP = timedelta(hours=1)


def to_blob_name(key: str) -> str:
    """A blob name for an object key; `from_blob_name` reverses it exactly."""
    escaped = key.replace("%", "%25").replace("\\", "%5C")
    segments = escaped.split("/")
    return "/".join(s[:-1] + "%2E" if s.endswith(".") else s for s in segments)


def from_blob_name(name: str) -> str:
    out, index = [], 0
    while index < len(name):
        if name[index] == "%" and name[index + 1:index + 3] in ("25", "5C", "2E"):
            out.append({"25": "%", "5C": "\\", "2E": "."}[name[index + 1:index + 3]])
            index += 3
        else:
            out.append(name[index])
            index += 1
    return "".join(out)


@dataclass
class SyncSummary:
    listed: int = 0
    selected: int = 0
    copied: int = 0
    already: int = 0
    older: int = 0
    failed: list[str] = field(default_factory=list)
    bytes_copied: int = 0
    server_side: int = 0

    def line(self) -> str:
        return (f"{self.listed} listed, {self.selected} selected, {self.copied} copied "
                f"({self.bytes_copied} bytes, {self.server_side} server-side), {self.already} already copied, "
                f"{self.older} older than the watermark, {len(self.failed)} failed")


class SyncManifest:
    """What the destination holds: key, size, version, last modified, copied at; and the watermark."""

    def __init__(self, path: Path):
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=DELETE")
        self._db.execute("CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, size INTEGER, version TEXT, "
                         "last_modified TEXT, copied_at TEXT)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
        self._lock = threading.Lock()

    def holds(self, entry: Entry) -> bool:
        with self._lock:
            row = self._db.execute("SELECT size, version FROM objects WHERE key=?", (entry.key,)).fetchone()
        return row == (entry.size, entry.version)

    def knows(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM objects WHERE key=?", (key,)).fetchone() is not None

    def record(self, entry: Entry) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)",
                             (entry.key, entry.size, entry.version,
                              entry.modified.isoformat() if entry.modified else None,
                              datetime.now(UTC).isoformat()))

    def watermark(self) -> datetime | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name='watermark'").fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def set_watermark(self, when: datetime) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('watermark', ?)", (when.isoformat(),))

    def close(self) -> None:
        self._db.close()


class ManifestHome:
    """Where the manifest is kept: a local file, or a blob/file in the destination store."""

    def __init__(self, dest: Store, explicit: str | None, shard: tuple[int, int]):
        self.dest = dest
        suffix = "" if shard[1] == 1 else f"-{shard[0]}of{shard[1]}"
        self.local = Path(explicit) if explicit else None
        self.key = f"{MANIFEST_NAME}{suffix}.sqlite"
        self._scratch = None

    def open(self) -> SyncManifest:
        if self.local is not None:
            self.local.parent.mkdir(parents=True, exist_ok=True)
            return SyncManifest(self.local)
        self._scratch = Path(tempfile.mkdtemp(prefix="pysteps-sync-")) / "manifest.sqlite"
        data = self.dest.fetch(self.key)
        if data is not None:
            self._scratch.write_bytes(data)
        return SyncManifest(self._scratch)

    def save(self) -> None:
        """Commit the manifest to the destination (a no-op for a local manifest, committed per object)."""
        if self._scratch is not None:
            self.dest.store(self.key, self._scratch.read_bytes())


def select(entries: list[Entry], manifest: SyncManifest, cutoff: datetime | None, since_last: bool,
           summary: SyncSummary) -> list[Entry]:
    chosen = []
    for entry in entries:
        summary.listed += 1
        fresh = cutoff is None or (entry.modified is not None and entry.modified >= cutoff)
        if not fresh and not (since_last and not manifest.knows(entry.key)):
            summary.older += 1
            continue
        if manifest.holds(entry):
            summary.already += 1
            continue
        chosen.append(entry)
    summary.selected = len(chosen)
    return chosen


def sync(source: str, dest: str, *, since: datetime | None, since_last: bool, config: TransferConfig | None = None,
         overlap: timedelta = DEFAULT_OVERLAP, manifest_path: str | None = None, dry_run: bool = False,
         stream=sys.stderr) -> SyncSummary:
    """Copy what is new in `source` to `dest`; returns the counts."""
    if since is None and not since_last:
        raise UsageError("sync needs --since DATE or --since-last")
    config = config or TransferConfig()
    source_store, dest_store = open_store(source), open_store(dest)
    if not isinstance(dest_store, WritableStore):
        raise UsageError(f"{dest!r} cannot be written to: expected an az://, https Blob or local destination")
    home = ManifestHome(dest_store, manifest_path, config.shard)
    manifest = home.open()
    started = datetime.now(UTC)
    watermark = since if since is not None else manifest.watermark()
    cutoff = watermark - overlap if watermark is not None else None
    summary = SyncSummary()
    entries = [e for e in source_store.list() if config.wants(e.key)]
    chosen = select(entries, manifest, cutoff, since_last, summary)
    if dry_run:
        for entry in chosen:
            print(f"would copy {entry.key} ({entry.size} bytes)", file=stream)
        print(f"[sync] dry run: {summary.line()}", file=stream)
        return summary
    last_save = time.monotonic()
    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="sync") as pool:
        futures = {pool.submit(_copy, source_store, dest_store, entry): entry for entry in chosen}
        for future in as_completed(futures):
            entry = futures[future]
            try:
                server_side = future.result()
            except TransferFailed as error:
                summary.failed.append(f"{entry.key}: {error}")
                continue
            manifest.record(entry)  # only after the destination committed it
            summary.copied += 1
            summary.bytes_copied += entry.size
            summary.server_side += server_side
            if time.monotonic() - last_save > 30:
                home.save()
                last_save = time.monotonic()
    if not summary.failed:
        manifest.set_watermark(started)
    home.save()
    manifest.close()
    for failure in summary.failed:
        print(f"[sync] failed: {failure}", file=stream)
    print(f"[sync] {summary.line()}", file=stream)
    return summary


def _copy(source: Store, dest: Store, entry: Entry) -> bool:
    """Copy one object; True when the destination copied it server-side."""
    name = to_blob_name(entry.key)
    if len(name) > MAX_BLOB_NAME:
        raise TransferFailed(f"its name is {len(name)} characters once escaped; Azure holds at most {MAX_BLOB_NAME}")
    url = getattr(source, "presigned_url", lambda key: None)(entry.key)
    if url and getattr(dest, "copy_from_url", None) and dest.copy_from_url(name, url, entry.size):
        return True
    dest.write(name, source.read(entry.key), entry.size)
    return False


def parse_since(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since {text!r}: expected a date or time such as 2026-11-26 or "
                         "2026-11-26T08:00:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
