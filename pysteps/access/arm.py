"""A small Azure Resource Manager client: GET, paged lists and DELETE, with bearer tokens and retries.

Built on azure-core's pipeline: transient failures (429 honouring Retry-After, 5xx, connection
resets) are retried with backoff; TLS trust follows REQUESTS_CA_BUNDLE as for the az CLI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from azure.core import PipelineClient
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy, UserAgentPolicy
from azure.core.rest import HttpRequest

from pysteps import __version__


class ArmFailed(Exception):
    """ARM answered with an error (`status`, `code`), or could not be reached (`status` None)."""

    def __init__(self, message: str, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class Arm:
    """Calls the ARM endpoint with tokens from `credential` for that endpoint's audience."""

    def __init__(self, endpoint: str, credential):
        self.endpoint = endpoint.rstrip("/")
        policies = [UserAgentPolicy(f"pysteps/{__version__}"), RetryPolicy(),
                    BearerTokenCredentialPolicy(credential, f"{self.endpoint}/.default")]
        self._client = PipelineClient(self.endpoint, policies=policies)

    def get(self, path: str, api_version: str) -> dict:
        status, body = self._send("GET", path, api_version)
        if status >= 400:
            raise failure(status, body, f"GET {path}")
        return body or {}

    def pages(self, path: str, api_version: str) -> Iterator[dict]:
        """The items of a list, following nextLink."""
        url: str | None = path
        version: str | None = api_version
        while url:
            status, body = self._send("GET", url, version)
            if status >= 400:
                raise failure(status, body, f"GET {path}")
            yield from (body or {}).get("value") or []
            url, version = (body or {}).get("nextLink"), None  # nextLink carries its own query

    def delete(self, path: str, api_version: str) -> tuple[int, dict | None]:
        """Start deleting; returns ARM's status and body, errors included (the caller decides what is done)."""
        return self._send("DELETE", path, api_version)

    def _send(self, method: str, path_or_url: str, api_version: str | None) -> tuple[int, Any]:
        url = path_or_url if path_or_url.startswith("https://") else self.endpoint + path_or_url
        request = HttpRequest(method, url, params={"api-version": api_version} if api_version else None)
        try:
            response = self._client.send_request(request)
        except (ServiceRequestError, ServiceResponseError) as error:
            raise ArmFailed(f"cannot reach {self.endpoint} ({_first_line(error)})") from None
        text = response.content.decode("utf-8", errors="replace")  # no charset detection: nothing to import
        try:
            body = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            body = {"error": {"code": "", "message": text[:200]}}
        return response.status_code, body


def failure(status: int, body: Any, what: str) -> ArmFailed:
    """An ArmFailed from ARM's error response: `{"error": {"code", "message"}}`."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") or ""
    message = " ".join(str(error.get("message") or "").split()) or f"HTTP {status}"
    return ArmFailed(f"{what}: {code + ': ' if code else ''}{message}", status=status, code=code)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
