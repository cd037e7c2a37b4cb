"""Long-running operations, as ARM runs them.

A mutating call answers 201 (PUT) or 202 (POST, DELETE) with `Azure-AsyncOperation` (status
polling), `Location` (final result) and `Retry-After`. The effect is applied by `work`, in a
thread, so slow work (a run-command script) never blocks other requests; the operation ends
`Succeeded` with work's result, or `Failed` with the ArmError it raised.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pysteps.sandbox.arm.web import ArmError, Request, Response, Router


def _iso(stamp: float | None) -> str | None:
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z") if stamp else None


@dataclass
class Operation:
    id: str
    started: float = field(default_factory=time.time)
    ends_no_earlier: float = 0.0
    finished: float | None = None
    result: Any = None
    error: ArmError | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def status(self) -> str:
        if not self.done.is_set() or time.time() < self.ends_no_earlier:
            return "InProgress"
        return "Failed" if self.error else "Succeeded"


class Operations:
    """Starts operations and serves their status and result endpoints.

    `work` runs in its own thread without any lock held: work that touches the store takes its lock.
    """

    def __init__(self, subscription: str, *, retry_after: int = 1):
        self.subscription = subscription
        self.retry_after = retry_after
        self._operations: dict[str, Operation] = {}

    def start(self, request: Request, work: Callable[[], Any], *, namespace: str, status: int = 202,
              min_seconds: float = 0.0, fail: ArmError | None = None, body: Any = None) -> Response:
        """Run `work` as an operation; answer `status` with the polling headers (and `body`, for a PUT)."""
        operation = Operation(id=str(uuid.uuid4()), ends_no_earlier=time.time() + min_seconds)
        self._operations[operation.id] = operation

        def run():
            try:
                operation.result = work()
                if fail is not None:
                    raise fail
            except ArmError as error:
                operation.error = error
            except Exception as error:  # a bug in the emulator: report it the way Azure reports its own
                operation.error = ArmError(500, "InternalServerError", f"{type(error).__name__}: {error}")
            finally:
                operation.finished = time.time()
                operation.done.set()

        threading.Thread(target=run, name=f"operation-{operation.id[:8]}", daemon=True).start()
        base = f"{request.base_url}/subscriptions/{self.subscription}/providers/{namespace}/locations/sandbox"
        version = request.api_version or "2024-01-01"
        headers = {
            "Azure-AsyncOperation": f"{base}/operations/{operation.id}?api-version={version}",
            "Location": f"{base}/operationResults/{operation.id}?api-version={version}",
            "Retry-After": str(self.retry_after),
        }
        return Response(status, body, headers)

    def wait(self, operation_id: str, timeout: float | None = None) -> Operation:
        operation = self._operations[operation_id]
        operation.done.wait(timeout)
        return operation

    def register(self, router: Router) -> None:
        router.add("GET", "/subscriptions/{sub}/providers/{namespace}/locations/{location}/operations/{op}",
                   self.status_endpoint)
        router.add("GET", "/subscriptions/{sub}/providers/{namespace}/locations/{location}/operationResults/{op}",
                   self.result_endpoint)

    def _find(self, request: Request) -> Operation:
        operation = self._operations.get(request.params["op"])
        if operation is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{request.params['op']}' was not found.")
        return operation

    def status_endpoint(self, request: Request) -> Response:
        operation = self._find(request)
        body = {"id": request.path, "name": operation.id, "status": operation.status,
                "startTime": _iso(operation.started)}
        if operation.status != "InProgress":
            body["endTime"] = _iso(operation.finished)
        if operation.status == "Failed":
            body["error"] = operation.error.body()["error"]
        headers = {"Retry-After": str(self.retry_after)} if operation.status == "InProgress" else {}
        return Response(200, body, headers)

    def result_endpoint(self, request: Request) -> Response:
        operation = self._find(request)
        if operation.status == "InProgress":
            return Response(202, None, {"Location": f"{request.base_url}{request.path}?api-version="
                                                   f"{request.api_version}", "Retry-After": str(self.retry_after)})
        if operation.error is not None:
            raise operation.error
        if operation.result is None:
            return Response(204, None)
        return Response(200, operation.result)
