"""`pysteps self-destroy` on sandbox scale-set instances (Uniform and Flexible), and its decisions.

Flexible instances are VMs: the command runs on them through `az vm run-command invoke`, finding IMDS
through AZURE_POD_IDENTITY_AUTHORITY_HOST as a script on Azure would find 169.254.169.254. Uniform
instances have no run-command in the sandbox: the command runs here with --imds-endpoint (or that
variable) pointing at the instance's own IMDS, whose key the sandbox's admin listing shows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from access_support import clean_env, error_lines, run_pysteps

from pysteps.access.arm import ArmFailed
from pysteps.access.errors import AccessDenied, NotOnScaleSet, ServiceFailed
from pysteps.access.selfdestroy import Instance, Options, _delete, instance_from, self_destroy

SUB = "00000000-0000-0000-0000-000000000001"
UNIFORM_ID = (f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/"
              "virtualMachines/3")
FLEXIBLE_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/ss_1a2b3c"


# --- on sandbox instances ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def image(sandbox, ssh_key):
    """A resource group with a plain VM (`plainvm`, kept running) and an image to make scale sets from."""
    group = f"selfdestroy-{uuid.uuid4().hex[:6]}"
    sandbox.az("group", "create", "--name", group, "--location", "westeurope")
    common = ["--resource-group", group, "--image", "Ubuntu2204", "--admin-username", "azureuser",
              "--ssh-key-values", ssh_key, "--public-ip-address", "", "--nsg", ""]
    sandbox.az("vm", "create", "--name", "basevm", *common)
    sandbox.az("vm", "create", "--name", "plainvm", *common)
    sandbox.az("vm", "deallocate", "--resource-group", group, "--name", "basevm")
    sandbox.az("vm", "generalize", "--resource-group", group, "--name", "basevm")
    created = sandbox.az("image", "create", "--resource-group", group, "--name", "img", "--source", "basevm",
                         "--hyper-v-generation", "V2")
    yield {"group": group, "image": created["id"], "ssh_key": ssh_key}
    sandbox.az("group", "delete", "--name", group, "--yes", check=False)


def scale_set(sandbox, image, name: str, mode: str, count: int) -> None:
    extra = ["--orchestration-mode", "Uniform", "--upgrade-policy-mode", "Manual"] if mode == "Uniform" else []
    sandbox.az("vmss", "create", "--resource-group", image["group"], "--name", name, "--image", image["image"],
               "--instance-count", str(count), "--vm-sku", "Standard_F8s", "--admin-username", "azureuser",
               "--ssh-key-values", image["ssh_key"], *extra)


def uniform_instances(sandbox, image, name: str) -> list[str]:
    return sandbox.az("vmss", "list-instances", "--resource-group", image["group"], "--name", name,
                      "--query", "[].instanceId")


def imds_of(sandbox, resource_id_suffix: str) -> str:
    """The IMDS endpoint of a sandbox machine (its key is in the admin listing only)."""
    for resource in sandbox.sandbox.resources()["resources"]:
        if resource["id"].lower().endswith(resource_id_suffix.lower()) and resource.get("_imds_key"):
            return f"{sandbox.env['PYSTEPS_SANDBOX_ARM']}/imds/{resource['_imds_key']}"
    raise AssertionError(f"no machine {resource_id_suffix}")


def on_machine(sandbox, image, vm: str, script: str) -> tuple[str, str]:
    """Run a script on a sandbox VM; its stdout and stderr."""
    result = sandbox.az("vm", "run-command", "invoke", "--resource-group", image["group"], "--name", vm,
                        "--command-id", "RunShellScript", "--scripts", script)
    message = result["value"][0]["message"]
    stdout = message.split("[stdout]\n", 1)[1].split("\n[stderr]\n", 1)[0]
    return stdout, message.split("\n[stderr]\n", 1)[1]


@pytest.mark.sandbox
def test_a_uniform_instance_deletes_itself(sandbox, image, tmp_path):
    scale_set(sandbox, image, "uni", "Uniform", 3)
    imds = imds_of(sandbox, "/virtualMachineScaleSets/uni/virtualMachines/1")
    env = clean_env(sandbox.env)  # az's configured cloud (the sandbox) gives the ARM endpoint
    marker = tmp_path / "drained"

    dry = run_pysteps("self-destroy", "--imds-endpoint", imds, "--dry-run", "--drain-cmd", f"touch {marker}",
                      env=env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(f"self-destroy: dry run: would delete instance 1 of Uniform scale set uni in "
                                 f"resource group {image['group']} (/subscriptions/")
    assert "after running the drain command" in dry.stdout and "provisioning state is Succeeded" in dry.stdout
    assert not marker.exists() and uniform_instances(sandbox, image, "uni") == ["0", "1", "2"]

    failing = run_pysteps("self-destroy", "--imds-endpoint", imds, "--drain-cmd", "echo handing back; exit 3",
                          env=env, cwd=tmp_path)
    assert failing.returncode == 7 and "handing back" in failing.stdout
    assert error_lines(failing) == ["pysteps: error: drain command 'echo handing back; exit 3' exited with 3: "
                                    f"instance 1 of Uniform scale set uni in resource group {image['group']} was "
                                    "not deleted"]
    slow = run_pysteps("self-destroy", "--imds-endpoint", imds, "--drain-cmd", "sleep 30", "--drain-timeout", "0.5",
                       env=env, cwd=tmp_path)
    assert slow.returncode == 7 and "did not finish within 0.5s" in error_lines(slow)[0]
    assert uniform_instances(sandbox, image, "uni") == ["0", "1", "2"]

    done = run_pysteps("self-destroy", "--imds-endpoint", imds, "--drain-cmd", f"touch {marker}", env=env,
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert marker.exists()
    assert done.stdout.splitlines()[-1].startswith("self-destroy: deleting instance 1 of Uniform scale set uni")
    assert uniform_instances(sandbox, image, "uni") == ["0", "2"]
    assert sandbox.az("vmss", "show", "--resource-group", image["group"], "--name", "uni",
                      "--query", "sku.capacity") == 2

    gone = run_pysteps("self-destroy", "--imds-endpoint", imds, env=env, cwd=tmp_path)
    assert gone.returncode == 8  # the sandbox's IMDS of a deleted machine answers 404

    # IMDS from the environment, as scripts on machines find it; the ARM endpoint from PYSTEPS_ARM_ENDPOINT
    other = clean_env(sandbox.env, {"AZURE_POD_IDENTITY_AUTHORITY_HOST": imds_of(
        sandbox, "/virtualMachineScaleSets/uni/virtualMachines/2"), "AZURE_CONFIG_DIR": str(tmp_path / "no-az"),
        "PYSTEPS_ARM_ENDPOINT": sandbox.env["PYSTEPS_SANDBOX_ARM"]})
    done = run_pysteps("self-destroy", env=other, cwd=tmp_path)
    assert done.returncode == 0 and "deleting instance 2 of Uniform scale set uni" in done.stdout, done.stderr
    assert uniform_instances(sandbox, image, "uni") == ["0"]


@pytest.mark.sandbox
def test_a_flexible_instance_deletes_itself_through_run_command(sandbox, image):
    scale_set(sandbox, image, "flex", "Flexible", 2)
    members = sandbox.az("vm", "list", "--resource-group", image["group"], "--query",
                         "[?virtualMachineScaleSet != null && contains(virtualMachineScaleSet.id, '/flex')].name")
    assert len(members) == 2
    arm = sandbox.env["PYSTEPS_SANDBOX_ARM"]

    stdout, _ = on_machine(sandbox, image, members[0], f"pysteps self-destroy --arm-endpoint {arm} --dry-run; "
                                                       "echo exit=$?")
    assert f"would delete VM {members[0]} of Flexible scale set flex" in stdout and "exit=0" in stdout

    stdout, stderr = on_machine(sandbox, image, members[0], f"PYSTEPS_ARM_ENDPOINT={arm} pysteps self-destroy "
                                                            "--drain-cmd 'echo drained'; echo exit=$?")
    assert stdout.splitlines() == [
        "drained", "self-destroy: drain command 'echo drained' succeeded",
        f"self-destroy: deleting VM {members[0]} of Flexible scale set flex in resource group {image['group']} "
        f"(/subscriptions/{sandbox.subscription}/resourceGroups/{image['group']}/providers/Microsoft.Compute/"
        f"virtualMachines/{members[0]}): accepted by ARM",
        "exit=0"], stderr
    left = sandbox.az("vm", "list", "--resource-group", image["group"], "--query",
                      "[?virtualMachineScaleSet != null && contains(virtualMachineScaleSet.id, '/flex')].name")
    assert left == [members[1]]


@pytest.mark.sandbox
def test_refuses_when_not_on_a_scale_set_instance(sandbox, image, tmp_path):
    arm = sandbox.env["PYSTEPS_SANDBOX_ARM"]
    stdout, stderr = on_machine(sandbox, image, "plainvm", f"pysteps self-destroy --arm-endpoint {arm}; echo exit=$?")
    assert "exit=8" in stdout
    assert ("pysteps: error: this machine (VM 'plainvm' in resource group "
            f"'{image['group']}') is not a scale-set instance") in stderr
    assert sandbox.az("vm", "show", "--resource-group", image["group"], "--name", "plainvm", "--query", "name")

    unreachable = run_pysteps("self-destroy", "--imds-endpoint", "http://127.0.0.1:9", env=clean_env(sandbox.env),
                              cwd=tmp_path)
    assert unreachable.returncode == 8
    assert error_lines(unreachable) == ["pysteps: error: cannot reach the instance metadata service at "
                                        "http://127.0.0.1:9 (ConnectionError): expected to run on an Azure "
                                        "scale-set instance (or --imds-endpoint)"]
    bad = run_pysteps("self-destroy", "--imds-endpoint", "169.254.169.254", env=clean_env(sandbox.env), cwd=tmp_path)
    assert bad.returncode == 2 and "expected an http(s) URL" in error_lines(bad)[0]


@pytest.mark.sandbox
def test_two_deletions_at_once_both_succeed(sandbox, image, tmp_path):
    scale_set(sandbox, image, "twice", "Uniform", 2)
    imds = imds_of(sandbox, "/virtualMachineScaleSets/twice/virtualMachines/0")
    sandbox.sandbox.set_faults([{"method": "DELETE", "path": "/virtualMachineScaleSets/twice/virtualMachines/0",
                                 "delay": 3}])
    try:
        command = [sys.executable, "-m", "pysteps", "self-destroy", "--imds-endpoint", imds]
        env = clean_env(sandbox.env)
        first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        time.sleep(0.3)
        second = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        first_out, first_err = first.communicate(timeout=60)
    finally:
        sandbox.sandbox.set_faults([])
    assert first.returncode == 0 and second.returncode == 0, first_err + second.stderr
    outcomes = sorted(["accepted" if "accepted by ARM" in out else "already" if "already deleted" in out else out
                       for out in (first_out, second.stdout)])
    assert outcomes == ["accepted", "already"]
    assert uniform_instances(sandbox, image, "twice") == ["1"]


class FakeImds:
    """An IMDS whose machine has no managed identity: the token endpoint answers as Azure's does."""

    def __init__(self, compute: dict):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.startswith("/metadata/instance/compute"):
                    status, body = 200, compute
                else:
                    status, body = 400, {"error": "invalid_request", "error_description": "Identity not found"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.sandbox
def test_without_a_managed_identity_nothing_is_drained_or_deleted(sandbox, image, tmp_path):
    scale_set(sandbox, image, "noid", "Uniform", 1)
    real = imds_of(sandbox, "/virtualMachineScaleSets/noid/virtualMachines/0")
    compute = json.loads(subprocess.run(["curl", "-s", "--cacert", sandbox.env["REQUESTS_CA_BUNDLE"], "-H",
                                         "Metadata: true", f"{real}/metadata/instance/compute?api-version=2021-02-01"],
                                        capture_output=True, text=True, check=True).stdout)
    fake = FakeImds(compute)
    marker = tmp_path / "drained"
    try:
        done = run_pysteps("self-destroy", "--imds-endpoint", fake.url, "--drain-cmd", f"touch {marker}",
                           env=clean_env(sandbox.env), cwd=tmp_path)
    finally:
        fake.server.shutdown()
    assert done.returncode == 6 and not marker.exists()
    assert error_lines(done) == [f"pysteps: error: the instance metadata service at {fake.url} answered "
                                 "/metadata/identity/oauth2/token with 400: Identity not found; expected a managed "
                                 "identity on the scale set (--client-id for a user-assigned one)"]
    assert uniform_instances(sandbox, image, "noid") == ["0"]


# --- decisions --------------------------------------------------------------------------------------

def compute(resource_id: str, scale_set: str = "ss", name: str = "ss_3") -> dict:
    return {"subscriptionId": SUB, "resourceGroupName": "rg", "vmScaleSetName": scale_set, "name": name,
            "resourceId": resource_id}


def test_instances_from_imds():
    assert instance_from(compute(UNIFORM_ID), "imds") == Instance(UNIFORM_ID, "rg", "ss", "Uniform", "3")
    assert instance_from(compute(FLEXIBLE_ID), "imds") == Instance(FLEXIBLE_ID, "rg", "ss", "Flexible", "ss_1a2b3c")
    with pytest.raises(NotOnScaleSet, match="gives no vmScaleSetName"):
        instance_from(compute(FLEXIBLE_ID, scale_set=""), "imds")
    with pytest.raises(ServiceFailed, match="is not in scale set 'other'"):
        instance_from(compute(UNIFORM_ID, scale_set="other"), "imds")
    with pytest.raises(ServiceFailed, match="expected the id of a VM"):
        instance_from(compute("/subscriptions/x/resourceGroups/rg"), "imds")


class FakeArm:
    endpoint = "https://arm.example"

    def __init__(self, delete_status: int, states: list):
        self.delete_status, self.states, self.deleted = delete_status, list(states), 0

    def get(self, path, api_version):
        state = self.states.pop(0)
        if isinstance(state, ArmFailed):
            raise state
        return {"properties": {"provisioningState": state}}

    def delete(self, path, api_version):
        self.deleted += 1
        return self.delete_status, {"error": {"code": "Conflict", "message": "busy"}}


class Machine:
    endpoint = "imds"

    def compute(self):
        return compute(UNIFORM_ID)

    def get_token(self, *scopes, **kwargs):
        return None


def test_a_deletion_under_way_is_success():
    said = []
    arm = FakeArm(202, ["Deleting"])
    self_destroy(Machine(), Options("https://arm.example", drain_cmd="exit 1"), said.append, arm=arm)
    assert said == ["instance 3 of Uniform scale set ss in resource group rg is already being deleted: nothing to do"]
    assert arm.deleted == 0  # nor drained: the drain command would have failed

    instance = instance_from(compute(UNIFORM_ID), "imds")
    conflict = FakeArm(409, ["Deleting"])
    assert _delete(conflict, instance).endswith("is already being deleted")
    assert _delete(FakeArm(404, []), instance).endswith("is already deleted (ARM answered 404)")
    with pytest.raises(ServiceFailed, match="Conflict: busy"):
        _delete(FakeArm(409, ["Succeeded"]), instance)
    with pytest.raises(AccessDenied, match=r"may not delete instance 3 .* Virtual Machine Contributor"):
        _delete(FakeArm(403, []), instance)
