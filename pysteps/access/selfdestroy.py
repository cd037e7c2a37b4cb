"""`pysteps self-destroy`: a scale-set instance deletes itself when its work is done.

It asks the instance metadata service (IMDS) where it runs, gets a token for the machine's managed
identity from IMDS, runs the drain command if one is given, then asks ARM to delete its own
instance: Uniform, the scale-set VM `.../virtualMachineScaleSets/S/virtualMachines/N`; Flexible,
the VM itself. It does not wait for the deletion, which stops the machine it runs on.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from azure.core.credentials import AccessToken

from pysteps.access.arm import Arm, ArmFailed, failure
from pysteps.access.errors import AccessDenied, AuthenticationFailed, DrainFailed, NotOnScaleSet, ServiceFailed
from pysteps.engine.errors import PystepsError, UsageError

IMDS_DEFAULT = "http://169.254.169.254"
IMDS_ENV = "AZURE_POD_IDENTITY_AUTHORITY_HOST"  # set by azure-identity's pod identity, and on sandbox machines
IMDS_API_VERSION = "2021-02-01"
IMDS_TOKEN_API_VERSION = "2018-02-01"
COMPUTE_API_VERSION = "2024-07-01"
IMDS_TIMEOUT = (2, 10)  # connect, read (seconds): off Azure the connection never opens
IMDS_ATTEMPTS = 3
NO_PROXY = {"http": None, "https": None, "all": None}  # IMDS is link-local: never through a proxy
INSTANCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/Microsoft\.Compute/"
    r"(?:virtualMachineScaleSets/(?P<scale_set>[^/]+)/virtualMachines/(?P<instance>[^/]+)"
    r"|virtualMachines/(?P<vm>[^/]+))$", re.IGNORECASE)


@dataclass(frozen=True)
class Instance:
    """The scale-set instance this machine is, from IMDS."""

    resource_id: str
    resource_group: str
    scale_set: str
    mode: str  # Uniform (a scale-set VM) or Flexible (a VM in a scale set)
    name: str  # the instance id (Uniform) or the VM name (Flexible)

    def describe(self) -> str:
        what = f"instance {self.name}" if self.mode == "Uniform" else f"VM {self.name}"
        return f"{what} of {self.mode} scale set {self.scale_set} in resource group {self.resource_group}"


def imds_endpoint(option: str | None, environ: dict[str, str]) -> str:
    """--imds-endpoint, else $AZURE_POD_IDENTITY_AUTHORITY_HOST, else Azure's http://169.254.169.254."""
    where = "--imds-endpoint" if option else IMDS_ENV
    url = option or environ.get(IMDS_ENV) or IMDS_DEFAULT
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{where} {url!r}: expected an http(s) URL such as {IMDS_DEFAULT}")
    return url.rstrip("/")


class Imds:
    """This machine's instance metadata service; also a credential (its managed identity's tokens)."""

    def __init__(self, endpoint: str, client_id: str | None = None):
        self.endpoint = endpoint
        self.client_id = client_id
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def compute(self) -> dict:
        return self._get("/metadata/instance/compute", {"api-version": IMDS_API_VERSION}, NotOnScaleSet)

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        resource = scopes[0].removesuffix("/.default") + "/"
        with self._lock:
            token = self._tokens.get(resource)
            if token is None or token.expires_on - time.time() < 300:
                params = {"api-version": IMDS_TOKEN_API_VERSION, "resource": resource}
                if self.client_id:
                    params["client_id"] = self.client_id
                body = self._get("/metadata/identity/oauth2/token", params, AuthenticationFailed)
                if not body.get("access_token"):
                    raise AuthenticationFailed(f"the instance metadata service at {self.endpoint} gave no "
                                               "access_token")
                expires_on = int(body.get("expires_on") or time.time() + int(body.get("expires_in") or 300))
                token = self._tokens[resource] = AccessToken(body["access_token"], expires_on)
            return token

    def _get(self, path: str, params: dict, error: type[PystepsError]) -> dict:
        url = self.endpoint + path
        for attempt in range(1, IMDS_ATTEMPTS + 1):
            try:
                response = requests.get(url, params=params, headers={"Metadata": "true"}, timeout=IMDS_TIMEOUT,
                                        proxies=NO_PROXY)
            except requests.RequestException as problem:
                raise NotOnScaleSet(f"cannot reach the instance metadata service at {self.endpoint} "
                                    f"({type(problem).__name__}): expected to run on an Azure scale-set instance "
                                    "(or --imds-endpoint)") from None
            if response.status_code == 200:
                return _json_object(response, f"{self.endpoint}{path}")
            transient = response.status_code in (410, 429) or response.status_code >= 500
            if not transient or attempt == IMDS_ATTEMPTS:
                raise error(f"the instance metadata service at {self.endpoint} answered {path} with "
                            f"{response.status_code}: {_imds_message(response)}")
            time.sleep(attempt)
        raise AssertionError("unreachable")


def _json_object(response: requests.Response, where: str) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ServiceFailed(f"{where} answered {response.text[:80]!r}: expected a JSON object")
    return body


def _imds_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return " ".join(response.text.split())[:200] or response.reason
    error = body.get("error")
    if isinstance(error, dict):
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    return " ".join(str(body.get("error_description") or error or body).split())[:200]


def instance_from(compute: dict, imds: str) -> Instance:
    """The instance IMDS describes; refuses a machine that is not in a scale set."""
    scale_set = compute.get("vmScaleSetName") or ""
    name = compute.get("name") or "?"
    if not scale_set:
        raise NotOnScaleSet(f"this machine (VM {name!r} in resource group {compute.get('resourceGroupName')!r}) "
                            f"is not a scale-set instance: IMDS at {imds} gives no vmScaleSetName; self-destroy "
                            "deletes only scale-set instances")
    resource_id = compute.get("resourceId") or ""
    match = INSTANCE_ID.match(resource_id)
    if not match:
        raise ServiceFailed(f"IMDS at {imds}: compute.resourceId {resource_id!r}: expected the id of a VM or a "
                            "scale-set VM")
    if match["scale_set"]:
        if match["scale_set"].lower() != scale_set.lower():
            raise ServiceFailed(f"IMDS at {imds}: compute.resourceId {resource_id!r} is not in scale set "
                                f"{scale_set!r} (compute.vmScaleSetName)")
        return Instance(resource_id, match["group"], scale_set, "Uniform", match["instance"])
    return Instance(resource_id, match["group"], scale_set, "Flexible", match["vm"])


@dataclass
class Options:
    arm_endpoint: str
    drain_cmd: str | None = None
    drain_timeout: float | None = None
    dry_run: bool = False


def self_destroy(imds: Imds, options: Options, say=print, arm: Arm | None = None) -> None:
    """Delete the instance this runs on (after draining it); `say` reports each decision in one line."""
    instance = instance_from(imds.compute(), imds.endpoint)
    arm = arm or Arm(options.arm_endpoint, imds)
    _token_or_fail(imds, arm)  # before draining: a machine that cannot delete itself must keep its work
    # Reading the instance first also loads every module the DELETE needs: once it is accepted, the
    # machine (in the sandbox: its file system) may vanish under this process.
    state = _state(arm, instance)
    if state in GONE:
        say(f"{instance.describe()} is {GONE[state]}: nothing to do")
        return
    if options.dry_run:
        drain = f", after running the drain command {options.drain_cmd!r}" if options.drain_cmd else ""
        say(f"dry run: would delete {instance.describe()} ({instance.resource_id}){drain}; its provisioning "
            f"state is {state}")
        return
    if options.drain_cmd:
        _drain(options.drain_cmd, options.drain_timeout, instance)
        say(f"drain command {options.drain_cmd!r} succeeded")
    say(_delete(arm, instance))


GONE = {"": "already deleted", "Deleting": "already being deleted"}


def _token_or_fail(imds: Imds, arm: Arm) -> None:
    try:
        imds.get_token(f"{arm.endpoint}/.default")
    except AuthenticationFailed as problem:
        raise AuthenticationFailed(f"{problem}; expected a managed identity on the scale set (--client-id for a "
                                   "user-assigned one)") from None


def _drain(command: str, timeout: float | None, instance: Instance) -> None:
    kept = f"{instance.describe()} was not deleted"
    # Its own process group, so that a timeout (or Ctrl-C) stops the command's children too.
    process = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        code = process.wait(timeout=timeout)
    except BaseException as stopped:
        _stop_group(process)
        if isinstance(stopped, subprocess.TimeoutExpired):
            raise DrainFailed(f"drain command {command!r} did not finish within {timeout:g}s: {kept}") from None
        raise
    if code < 0:
        raise DrainFailed(f"drain command {command!r} was killed by signal {-code}: {kept}")
    if code:
        raise DrainFailed(f"drain command {command!r} exited with {code}: {kept}")


def _stop_group(process: subprocess.Popen, grace: float = 5) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _state(arm: Arm, instance: Instance) -> str:
    """The instance's provisioningState; "" when it no longer exists."""
    try:
        resource = arm.get(instance.resource_id, COMPUTE_API_VERSION)
    except ArmFailed as problem:
        if problem.status == 404:
            return ""
        raise _arm_error(problem, instance, "read") from None
    return (resource.get("properties") or {}).get("provisioningState") or "unknown"


def _delete(arm: Arm, instance: Instance) -> str:
    """Ask ARM to delete the instance; a deletion already done or under way is success."""
    try:
        status, body = arm.delete(instance.resource_id, COMPUTE_API_VERSION)
    except ArmFailed as problem:
        raise ServiceFailed(f"deleting {instance.describe()}: {problem.message}") from None
    if status in (200, 201, 202):
        return f"deleting {instance.describe()} ({instance.resource_id}): accepted by ARM"
    if status in (204, 404):
        return f"{instance.describe()} is already deleted (ARM answered {status})"
    if status == 409 and _state(arm, instance) in GONE:  # a deletion under way may conflict with ours
        return f"{instance.describe()} is already being deleted"
    raise _arm_error(failure(status, body, f"DELETE {instance.resource_id}"), instance, "delete")


def _arm_error(problem: ArmFailed, instance: Instance, verb: str) -> PystepsError:
    if problem.status == 401:
        return AuthenticationFailed(f"ARM refused the managed identity's token: {problem.message}")
    if problem.status == 403:
        return AccessDenied(f"the managed identity may not {verb} {instance.describe()}: {problem.message}; "
                            "expected a role such as Virtual Machine Contributor on the scale set")
    return ServiceFailed(f"{verb} {instance.describe()} failed: {problem.message}")
