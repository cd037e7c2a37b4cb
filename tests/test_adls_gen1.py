"""The ADLS Gen1 legacy adapter, against a small local WebHDFS-style server (the service is retired)."""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from pysteps.movers.adls import AdlsGen1Store
from pysteps.movers.preload import preload
from pysteps.sandbox.certs import make_certificate

FILES = {"/data/2026/a.bin": b"a" * 1000, "/data/2026/sub dir/b ü.bin": bytes(range(256)) * 40, "/data/c.txt": b"",
         "/other/x": b"not listed"}


class WebHdfs(BaseHTTPRequestHandler):
    """LISTSTATUS, GETFILESTATUS and OPEN, as ADLS Gen1 answered them; bearer token required."""

    def log_message(self, *args):
        pass

    def _reply(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if isinstance(body, bytes) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            return self._reply(401, {"RemoteException": {"exception": "AuthenticationFailed"}})
        parts = urlsplit(self.path)
        path = "/" + unquote(parts.path.split("/webhdfs/v1", 1)[1]).strip("/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        op = query.get("OP", query.get("op", "")).upper()
        if op == "OPEN":
            data = FILES.get(path)
            if data is None:
                return self._reply(404, {"RemoteException": {"exception": "FileNotFoundException"}})
            start = int(query.get("offset", 0))
            length = int(query.get("length", len(data)))
            return self._reply(200, data[start:start + length])
        if op in ("LISTSTATUS", "GETFILESTATUS"):
            children = {}
            for name, data in FILES.items():
                if name == path:
                    children[""] = ("FILE", len(data))
                elif name.startswith(path.rstrip("/") + "/"):
                    head = name[len(path.rstrip("/")) + 1:].split("/")
                    children[head[0]] = ("DIRECTORY", 0) if len(head) > 1 else ("FILE", len(data))
            if not children:
                return self._reply(404, {"RemoteException": {"exception": "FileNotFoundException"}})
            statuses = [{"pathSuffix": k, "type": t, "length": n, "modificationTime": 1795694000000,
                         "accessTime": 0, "blockSize": 0, "owner": "o", "group": "g", "permission": "770",
                         "replication": 1} for k, (t, n) in sorted(children.items())]
            if op == "GETFILESTATUS":
                kind = "FILE" if "" in children else "DIRECTORY"
                return self._reply(200, {"FileStatus": {**statuses[0], "pathSuffix": "", "type": kind}})
            return self._reply(200, {"FileStatuses": {"FileStatus": statuses, "continuationToken": ""}})
        return self._reply(400, {"RemoteException": {"exception": "IllegalArgumentException", "message": op}})


class FixedToken:
    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken("sandbox-token", int(time.time()) + 3600)


@pytest.fixture
def gen1(tmp_path, monkeypatch):
    make_certificate(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), WebHdfs)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # https://{store}.{suffix}/ with store "127" and suffix "0.0.1:PORT" is https://127.0.0.1:PORT/
    monkeypatch.setenv("azure_data_lake_store_url_suffix", f"0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "cert.pem"))
    yield
    server.shutdown()


def test_lists_and_reads_through_the_webhdfs_api(gen1):
    store = AdlsGen1Store("adl://127/data", credential=FixedToken())
    entries = {e.key: e.size for e in store.list()}
    assert entries == {"2026/a.bin": 1000, "2026/sub dir/b ü.bin": 10240, "c.txt": 0}
    assert b"".join(store.read("2026/sub dir/b ü.bin", 250, 20)) == (bytes(range(256)) * 40)[250:270]


def test_preload_from_gen1(gen1, tmp_path, monkeypatch):
    import pysteps.movers.preload as preload_module

    monkeypatch.setattr(preload_module, "open_store", lambda uri: AdlsGen1Store(uri, credential=FixedToken()))
    preload(["adl://127/data"], str(tmp_path / "disk"))
    copied = {p.relative_to(tmp_path / "disk").as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in (tmp_path / "disk").rglob("*") if p.is_file() and ".pysteps" not in p.parts}
    assert copied == {k[len("/data/"):]: hashlib.sha256(v).hexdigest() for k, v in FILES.items()
                      if k.startswith("/data/")}
