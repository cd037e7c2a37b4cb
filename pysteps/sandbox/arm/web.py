"""A small HTTP(S) application: requests, responses, ARM errors, and path routing."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class ArmError(Exception):
    """An error answered as Azure does: `{"error": {"code": ..., "message": ...}}`."""

    def __init__(self, status: int, code: str, message: str, *, target: str | None = None,
                 headers: dict[str, str] | None = None, details: list[dict] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target
        self.headers = headers or {}
        self.details = details or []

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return {"error": error}


def not_found(resource_type: str, name: str, group: str) -> ArmError:
    return ArmError(404, "ResourceNotFound",
                    f"The Resource '{resource_type}/{name}' under resource group '{group}' was not found. "
                    "For more details please go to https://aka.ms/ARMResourceNotFoundFix")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_body: bytes
    base_url: str
    params: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    _json: Any = None

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")

    def json(self) -> Any:
        if self._json is None and self.raw_body:
            try:
                self._json = json.loads(self.raw_body)
            except json.JSONDecodeError as exc:
                raise ArmError(400, "InvalidRequestContent", f"The request content was invalid: {exc.msg}") from None
        return self._json if self._json is not None else {}


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


class Router:
    """Routes by method and path pattern, first match wins; paths are case-insensitive.

    `{name}` matches one path segment, `{name:path}` one or more.
    """

    def __init__(self):
        self._routes: list[tuple[str, re.Pattern, Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern.rstrip("/"))
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append((method, re.compile(f"^{regex}/?$", re.IGNORECASE), handler))

    def route(self, method: str, pattern: str):
        def register(handler: Handler) -> Handler:
            for verb in method.split("|"):
                self.add(verb, pattern, handler)
            return handler

        return register

    def match(self, request: Request) -> Handler | None:
        path_matched = False
        for method, regex, handler in self._routes:
            found = regex.match(request.path)
            if found:
                path_matched = True
                if method == request.method:
                    request.params = {k: unquote(v) for k, v in found.groupdict().items()}
                    return handler
        if path_matched:
            raise ArmError(405, "MethodNotAllowed", f"The method '{request.method}' is not allowed on this path.")
        return None


class Application:
    """Turns raw requests into `Request`s, runs middleware and the router, and logs every request."""

    def __init__(self, router: Router, *, before: list[Callable[[Request], Response | None]] = (),
                 log: Callable[[dict], None] = lambda entry: None):
        self.router = router
        self.before = list(before)
        self.log = log

    def handle(self, request: Request) -> Response:
        started = time.monotonic()
        try:
            response = None
            for hook in self.before:
                response = hook(request)
                if response is not None:
                    break
            if response is None:
                handler = self.router.match(request)
                if handler is None:
                    raise ArmError(404, "NotFound", f"No route for {request.method} {request.path} in the sandbox.")
                response = handler(request)
        except ArmError as error:
            response = Response(error.status, error.body(), dict(error.headers))
        self.log({
            "ts": time.time(), "method": request.method, "path": request.path, "query": request.query,
            "status": response.status, "ms": round((time.monotonic() - started) * 1000, 1),
            **({"error": response.body["error"]["code"]} if _is_error(response) else {}),
        })
        return response


def _is_error(response: Response) -> bool:
    return response.status >= 400 and isinstance(response.body, dict) and "error" in response.body


def make_handler_class(app: Application, scheme: str, context: dict | None = None):
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # the application keeps its own JSONL log
            pass

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            request = Request(self.command, unquote(parts.path), query,
                              {k.lower(): v for k, v in self.headers.items()}, raw, f"{scheme}://{host}",
                              context=dict(context or {}))
            response = app.handle(request)
            payload = b"" if response.body is None else (
                response.body if isinstance(response.body, bytes) else json.dumps(response.body).encode())
            self.send_response(response.status)
            headers = {"Content-Type": "application/json; charset=utf-8", **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-ms-request-id", request.headers.get("x-ms-client-request-id", "sandbox"))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _serve

    return RequestHandler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
