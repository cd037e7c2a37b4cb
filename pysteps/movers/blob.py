"""Azure Blob Storage (and ADLS Gen2 accounts, through the Blob API) with azure-storage-blob."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

from pysteps.engine.errors import UsageError
from pysteps.movers.stores import Entry, WritableStore


def _connection_account(connection_string: str) -> str | None:
    fields = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
    return fields.get("AccountName")


def _is_path_style(host: str) -> bool:
    name = host.split(":")[0]
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class BlobStore(WritableStore):
    def __init__(self, uri: str):
        from azure.storage.blob import ContainerClient

        parts = urlsplit(uri)
        self.uri = uri.split("?", 1)[0]
        segments = [s for s in parts.path.split("/") if s]
        if parts.scheme == "az":
            account = parts.netloc
            if not account or not segments:
                raise UsageError(f"Azure URI {uri!r}: expected az://account/container/prefix")
            container, prefix = segments[0], "/".join(segments[1:])
            connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
            if connection and _connection_account(connection) == account:
                self.client = ContainerClient.from_connection_string(connection, container)
            else:
                from azure.identity import DefaultAzureCredential

                self.client = ContainerClient(f"https://{account}.blob.core.windows.net", container,
                                              credential=DefaultAzureCredential())
        else:
            path_style = _is_path_style(parts.netloc)
            skip = 1 if path_style else 0
            if len(segments) <= skip:
                raise UsageError(f"Blob URL {uri.split('?')[0]!r} names no container")
            base = f"{parts.scheme}://{parts.netloc}" + (f"/{segments[0]}" if path_style else "")
            container, prefix = segments[skip], "/".join(segments[skip + 1:])
            credential = parts.query or None
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            self.client = ContainerClient(base, container, credential=credential)
        self.prefix = prefix + "/" if prefix and not prefix.endswith("/") else prefix
        self._server_copy_failed = False

    def list(self) -> Iterator[Entry]:
        for blob in self.client.list_blobs(name_starts_with=self.prefix or None):
            key = blob.name[len(self.prefix):]
            if not key or key.endswith("/"):
                continue
            md5 = blob.content_settings.content_md5 if blob.content_settings else None
            yield Entry(key, blob.size, (blob.etag or "").strip('"'), blob.last_modified,
                        bytes(md5) if md5 else None)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        ranged = bool(start) or length is not None
        downloader = self.client.download_blob(self.prefix + key, offset=start if ranged else None,
                                               length=length, max_concurrency=1)
        yield from downloader.chunks()

    def write(self, key: str, chunks: Iterator[bytes], size: int) -> None:
        self.client.upload_blob(self.prefix + key, data=chunks, length=size, overwrite=True, max_concurrency=4)

    def fetch(self, key: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.client.download_blob(self.prefix + key).readall()
        except ResourceNotFoundError:
            return None

    def store(self, key: str, data: bytes) -> None:
        self.client.upload_blob(self.prefix + key, data=data, overwrite=True)

    def copy_from_url(self, key: str, url: str, size: int) -> bool:
        """Let the service fetch the object itself (Put Blob From URL); False when it cannot."""
        from azure.core.exceptions import HttpResponseError

        if self._server_copy_failed or size > 5000 * (1 << 20):
            return False
        try:
            self.client.get_blob_client(self.prefix + key).upload_blob_from_url(url, overwrite=True)
            return True
        except HttpResponseError:
            self._server_copy_failed = True  # e.g. the service cannot reach the source: stream instead
            return False
