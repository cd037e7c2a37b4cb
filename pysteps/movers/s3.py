"""S3 through boto3, configured the standard way (AWS_ENDPOINT_URL, the credential chain, AWS_REGION)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from pysteps.engine.errors import UsageError
from pysteps.movers.stores import Entry, Store


class S3Store(Store):
    def __init__(self, uri: str):
        import boto3
        from botocore.config import Config

        parts = urlsplit(uri)
        if not parts.netloc:
            raise UsageError(f"S3 URI {uri!r} has no bucket: expected s3://bucket/prefix")
        self.uri = uri
        self.bucket = parts.netloc
        self.prefix = parts.path.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        # Ranged reads must not be checked against a whole-object checksum that some servers send anyway.
        config = Config(max_pool_connections=64, retries={"mode": "adaptive", "max_attempts": 8},
                        response_checksum_validation="when_required")
        # A session of its own: boto3's default session keeps the first credentials it ever resolved.
        self.client = boto3.session.Session().client("s3", config=config)

    def list(self) -> Iterator[Entry]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix):]
                if key and not key.endswith("/"):
                    yield Entry(key, item["Size"], item["ETag"].strip('"'), item.get("LastModified"))

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        extra = {}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            extra["Range"] = f"bytes={start}-{end}"
        body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key, **extra)["Body"]
        try:
            yield from body.iter_chunks(1 << 20)
        finally:
            body.close()

    def presigned_url(self, key: str, seconds: int = 3600) -> str:
        """A URL another service can read the object from, for a server-side copy."""
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket,
                                                                        "Key": self.prefix + key},
                                                  ExpiresIn=seconds)
