"""The emulator's process: `python -m pysteps.sandbox.arm.server --state-dir DIR`.

Reads its settings (port, ids, keys, certificate) from DIR/arm.json, written by `pysteps sandbox up`,
serves HTTPS on 127.0.0.1 only, and logs every request as a JSON line in DIR/requests.jsonl.
"""

from __future__ import annotations

import argparse
import hmac
import json
import ssl
import threading
from pathlib import Path

from pysteps.sandbox.arm import web
from pysteps.sandbox.arm.context import Emulator
from pysteps.sandbox.arm.faults import FaultRule, Faults
from pysteps.sandbox.arm.identity import Identity
from pysteps.sandbox.arm.operations import Operations
from pysteps.sandbox.arm.providers import (
    compute,
    deployments,
    generic,
    imds,
    keyvault,
    monitor,
    network,
    resources,
)
from pysteps.sandbox.arm.store import Store
from pysteps.sandbox.arm.web import ArmError, Request, Response

IDENTITY_PATH = "/msi/token"
ADMIN_PREFIX = "/_sandbox/"
OPEN_PATHS = ("/metadata/endpoints", IDENTITY_PATH, "/sandbox/", imds.PREFIX)


def build(settings: dict, state_dir: Path) -> tuple[Emulator, web.Application]:
    """The emulator and its HTTP application, from the settings `sandbox up` wrote."""
    store = Store()
    identity = Identity(settings["key"], settings["tenant"], settings["subscription"], settings["client_id"],
                        settings["identity_header"])
    operations = Operations(settings["subscription"], retry_after=settings.get("retry_after", 1))
    faults = Faults([FaultRule.from_json(rule) for rule in settings.get("faults", [])])
    emulator = Emulator(settings["subscription"], settings["tenant"], state_dir, store, identity, operations, faults)
    router = emulator.router
    operations.register(router)
    router.add("GET", "/metadata/endpoints", lambda r: Response(200, cloud_metadata(r.base_url)))
    router.add("GET", IDENTITY_PATH, identity.managed_identity_endpoint)
    _register_admin(emulator, settings["key"])
    resources.register(emulator)
    deployments.register(emulator)
    compute.register(emulator)
    network.register(emulator)
    keyvault.register(emulator)
    monitor.register(emulator)
    imds.register(emulator)
    generic.register(emulator)  # last: it matches any provider path under a resource group

    log_lock = threading.Lock()
    log_path = state_dir / "requests.jsonl"

    def log(entry: dict) -> None:
        with log_lock, open(log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def gate(request: Request) -> Response | None:
        """What Azure checks before any handler: api-version, throttling and faults, authentication."""
        if request.path.startswith(ADMIN_PREFIX) or request.path.startswith(OPEN_PATHS):
            return None
        if "vault" in request.context:  # a vault's data plane checks its own tokens
            return None
        if not request.api_version:
            raise ArmError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        emulator.identity.check_bearer(request)
        response, lro_failure = faults.check(request)
        if lro_failure is not None:
            request.context["lro_failure"] = lro_failure
        return response

    return emulator, web.Application(router, before=[gate], log=log)


def cloud_metadata(base_url: str) -> dict:
    """What `az cloud register --endpoint-resource-manager` reads to fill in the other endpoints."""
    root = base_url + "/"
    return {
        "name": "PystepsSandbox",
        "resourceManager": root,
        "portal": root + "portal",
        "authentication": {"loginEndpoint": root + "login", "audiences": [root], "tenant": "common",
                           "identityProvider": "AAD"},
        "gallery": root + "gallery",
        "graph": root + "graph",
        "graphAudience": root + "graph",
        "microsoftGraphResourceId": root + "graph",
        "activeDirectoryDataLake": root + "datalake",
        "batch": root + "batch",
        "media": root + "media",
        "sqlManagement": root + "sql",
        "vmImageAliasDoc": root + "sandbox/vm-image-aliases.json",
        "suffixes": {"keyVaultDns": "vault.sandbox.invalid", "storage": "core.windows.net",
                     "acrLoginServer": "azurecr.sandbox.invalid", "sqlServerHostname": "database.sandbox.invalid",
                     "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
                     "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net"},
    }


def _register_admin(emulator: Emulator, key: str) -> None:
    """Inspection and fault control for `pysteps sandbox` and tests; needs the sandbox key."""

    def guarded(handler):
        def check(request: Request) -> Response:
            if not hmac.compare_digest(request.headers.get("x-sandbox-key", ""), key):
                raise ArmError(403, "Forbidden", "The sandbox admin key is missing or wrong.")
            return handler(request)
        return check

    def resources_view(request: Request) -> Response:
        with emulator.store.lock:
            return Response(200, {"groups": emulator.store.groups(), "resources": emulator.store.all()})

    def faults_view(request: Request) -> Response:
        if request.method == "PUT":
            try:
                rules = [FaultRule.from_json(rule) for rule in request.json()]
            except (TypeError, ValueError) as error:
                raise ArmError(400, "InvalidFaults", str(error)) from None
            emulator.faults.replace(rules)
        return Response(200, [rule.to_json() for rule in emulator.faults.rules])

    emulator.router.add("GET", ADMIN_PREFIX + "health", lambda r: Response(200, {"status": "ok"}))
    emulator.router.add("GET", ADMIN_PREFIX + "resources", guarded(resources_view))
    emulator.router.add("GET", ADMIN_PREFIX + "faults", guarded(faults_view))
    emulator.router.add("PUT", ADMIN_PREFIX + "faults", guarded(faults_view))


def serve(state_dir: Path) -> None:
    settings = json.loads((state_dir / "arm.json").read_text())
    emulator, app = build(settings, state_dir)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(settings["cert_file"], settings["key_file"])
    listeners: dict[int, web.Server] = {}

    def listen(port: int, context: dict | None = None) -> web.Server:
        server = web.Server(("127.0.0.1", port), web.make_handler_class(app, "https", context))
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        return server

    def open_listener(context: dict) -> int:
        server = listen(0, context)
        port = server.server_address[1]
        listeners[port] = server
        threading.Thread(target=server.serve_forever, name=f"listener-{port}", daemon=True).start()
        return port

    def close_listener(port: int) -> None:
        server = listeners.pop(port, None)
        if server is not None:
            threading.Thread(target=server.shutdown, daemon=True).start()

    emulator.open_listener, emulator.close_listener = open_listener, close_listener
    listen(settings["port"]).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="The pysteps sandbox's Azure Resource Manager emulator.")
    parser.add_argument("--state-dir", required=True, type=Path)
    serve(parser.parse_args().state_dir)


if __name__ == "__main__":
    main()
