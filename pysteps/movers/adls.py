"""Azure Data Lake Storage Gen1, read-only: a legacy adapter (the service was retired on 2024-02-29).

`adl://store/path` with azure-datalake-store, which calls https://{store}.{suffix}/webhdfs/v1/...;
the suffix comes from `azure_data_lake_store_url_suffix` (default azuredatalakestore.net), the
token from azure-identity. New data belongs in ADLS Gen2, which the Blob backend reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pysteps.engine.errors import UsageError
from pysteps.movers.stores import Entry, Store, read_chunks


class _Scoped:
    """azure-datalake-store asks for tokens with the old resource URL; azure-identity wants a scope."""

    def __init__(self, credential):
        self.credential = credential

    def get_token(self, *scopes, **kwargs):
        return self.credential.get_token(*scopes, **kwargs)


class AdlsGen1Store(Store):
    def __init__(self, uri: str, credential=None):
        from azure.datalake.store import core

        parts = urlsplit(uri)
        if not parts.netloc:
            raise UsageError(f"ADLS Gen1 URI {uri!r} has no store: expected adl://store/path")
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self.uri = uri
        self.root = "/" + parts.path.strip("/")
        suffix = os.environ.get("azure_data_lake_store_url_suffix") or "azuredatalakestore.net"  # noqa: SIM112 (its name)
        self.fs = core.AzureDLFileSystem(token_credential=_Scoped(credential), store_name=parts.netloc,
                                         url_suffix=suffix)

    def list(self) -> Iterator[Entry]:
        pending = [self.root]
        while pending:
            folder = pending.pop()
            for item in self.fs.ls(folder, detail=True, invalidate_cache=True):
                name = "/" + item["name"].lstrip("/")
                if item["type"] == "DIRECTORY":
                    pending.append(name)
                    continue
                key = name[len(self.root):].lstrip("/") if self.root != "/" else name.lstrip("/")
                modified = datetime.fromtimestamp(item["modificationTime"] / 1000, UTC)
                yield Entry(key, item["length"], f"{item['modificationTime']}-{item['length']}", modified)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        with self.fs.open(f"{self.root.rstrip('/')}/{key}", "rb") as handle:
            yield from read_chunks(handle, start, length, chunk=1 << 22)
