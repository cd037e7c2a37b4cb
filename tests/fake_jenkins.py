"""A small Jenkins on 127.0.0.1 that speaks the endpoints python-jenkins and `pysteps jenkins` use.

Crumb issuer, job exists/create/config, build and buildWithParameters (answering with a queue item's
Location), queue items (waiting, then started, or cancelled), build info, and the progressive console
(`logText/progressiveText?start=N`: the text from byte N, X-Text-Size, X-More-Data while building).
A build's console is a list of chunks, released one per console request; a chunk can wait for a gate
(a threading.Event) so that a test can prove output is shown before the build ends.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

CRUMB_FIELD, CRUMB = "Jenkins-Crumb", "crumb-7f3a"


@dataclass
class Script:
    """How builds of a job go: console chunks, result, queue polls before starting, or a cancel."""

    chunks: list[str] = field(default_factory=lambda: ["Started\n", "Finished: SUCCESS\n"])
    result: str = "SUCCESS"
    queue_polls: int = 1
    cancelled: bool = False
    gates: dict[int, threading.Event] = field(default_factory=dict)  # chunk index -> released once set


@dataclass
class Build:
    job: str
    number: int
    script: Script
    released: int = 0

    @property
    def done(self) -> bool:
        return self.released >= len(self.script.chunks)

    def text(self) -> bytes:
        return "".join(self.script.chunks[:self.released]).encode("utf-8")


class FakeJenkins:
    def __init__(self, user: str | None = None, token: str | None = None):
        self.jobs: dict[str, str] = {}
        self.scripts: dict[str, Script] = {}
        self.queue: dict[int, dict] = {}
        self.builds: dict[tuple[str, int], Build] = {}
        self.requests: list[dict] = []
        self.auth = f"Basic {base64.b64encode(f'{user}:{token}'.encode()).decode()}" if user else None
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeJenkins:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST"]

    # --- routing ----------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict, headers, body: bytes):
        self.requests.append({"method": method, "path": path, "query": query, "body": body,
                              "crumb": headers.get(CRUMB_FIELD), "authorization": headers.get("Authorization")})
        if self.auth and headers.get("Authorization") != self.auth:
            return 401, {}, b"Unauthorized"
        if method == "POST" and headers.get(CRUMB_FIELD) != CRUMB:
            return 403, {}, b"No valid crumb was included in the request"
        if path == "/crumbIssuer/api/json":
            return self.json({"crumb": CRUMB, "crumbRequestField": CRUMB_FIELD})
        if path == "/createItem" and method == "POST":
            return self.create(query["name"], body)
        if match := re.fullmatch(r"/queue/item/(\d+)/api/json", path):
            return self.queue_item(int(match[1]))
        match = re.fullmatch(r"/job/([^/]+)(/.*)?", path)
        if not match:
            return 404, {}, b"Not Found"
        job, rest = unquote(match[1]), match[2] or ""
        return self.job(method, job, rest, query, body)

    def job(self, method: str, job: str, rest: str, query: dict, body: bytes):
        if job not in self.jobs:
            return 404, {}, b"Not Found"
        if rest == "/api/json":
            return self.json({"name": job})
        if rest == "/config.xml":
            if method == "POST":
                self.jobs[job] = body.decode()
                return 200, {}, b""
            return 200, {"Content-Type": "application/xml"}, self.jobs[job].encode()
        if rest in ("/build", "/buildWithParameters") and method == "POST":
            return self.trigger(job, query)
        if match := re.fullmatch(r"/(\d+)/api/json", rest):
            return self.build_info(job, int(match[1]))
        if match := re.fullmatch(r"/(\d+)/logText/progressiveText", rest):
            return self.console(job, int(match[1]), int(query.get("start", 0)))
        return 404, {}, b"Not Found"

    # --- endpoints --------------------------------------------------------------------------------

    def json(self, data) -> tuple:
        return 200, {"Content-Type": "application/json"}, json.dumps(data).encode()

    def create(self, name: str, body: bytes) -> tuple:
        if name in self.jobs:
            return 400, {}, b"A job already exists with the name"
        self.jobs[name] = body.decode()
        return 200, {}, b""

    def trigger(self, job: str, query: dict) -> tuple:
        with self.lock:
            item = len(self.queue) + 100
            self.queue[item] = {"job": job, "parameters": query, "polls": 0}
        return 201, {"Location": f"{self.url}queue/item/{item}/"}, b""

    def queue_item(self, number: int) -> tuple:
        entry = self.queue.get(number)
        if entry is None:
            return 404, {}, b"Not Found"
        script = self.scripts.get(entry["job"], Script())
        entry["polls"] += 1
        if script.cancelled:
            return self.json({"id": number, "cancelled": True, "executable": None})
        if entry["polls"] <= script.queue_polls:
            return self.json({"id": number, "why": "Waiting for next available executor", "executable": None})
        if "number" not in entry:
            with self.lock:
                entry["number"] = 1 + sum(1 for key in self.builds if key[0] == entry["job"])
                self.builds[(entry["job"], entry["number"])] = Build(entry["job"], entry["number"], script)
        url = f"{self.url}job/{entry['job']}/{entry['number']}/"
        return self.json({"id": number, "executable": {"number": entry["number"], "url": url}})

    def build_info(self, job: str, number: int) -> tuple:
        build = self.builds.get((job, number))
        if build is None:
            return 404, {}, b"Not Found"
        return self.json({"number": number, "building": not build.done,
                          "result": build.script.result if build.done else None})

    def console(self, job: str, number: int, start: int) -> tuple:
        build = self.builds[(job, number)]
        if not build.done:
            gate = build.script.gates.get(build.released)
            if gate is not None:
                gate.wait(30)
            build.released += 1
        text = build.text()
        headers = {"Content-Type": "text/plain;charset=UTF-8", "X-Text-Size": str(len(text))}
        if not build.done:
            headers["X-More-Data"] = "true"
        return 200, headers, text[start:]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                status, headers, payload = fake.handle(self.command, parts.path, query, self.headers, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        return Handler
