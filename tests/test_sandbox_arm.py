"""The ARM emulator, driven through the real az CLI (from PyPI) against `pysteps sandbox up`."""

from __future__ import annotations

import json
import time
import uuid

import pytest

pytestmark = pytest.mark.sandbox


def group_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def group(sandbox):
    name = group_name("rg")
    sandbox.az("group", "create", "--name", name, "--location", "westeurope")
    yield name
    sandbox.az("group", "delete", "--name", name, "--yes", check=False)


def create_vm(sandbox, group: str, ssh_key: str, name: str = "vm1", *extra: str) -> dict:
    return sandbox.az("vm", "create", "--resource-group", group, "--name", name, "--image", "Ubuntu2204",
                      "--admin-username", "azureuser", "--ssh-key-values", ssh_key, "--data-disk-sizes-gb", "10",
                      "--public-ip-address", "", "--nsg", "", *extra)


def capture_image(sandbox, group: str, vm: str, image: str) -> dict:
    sandbox.az("vm", "deallocate", "--resource-group", group, "--name", vm)
    sandbox.az("vm", "generalize", "--resource-group", group, "--name", vm)
    return sandbox.az("image", "create", "--resource-group", group, "--name", image, "--source", vm,
                      "--hyper-v-generation", "V2")


MOUNT_DATA_DISK = ("mkfs.ext4 -q -L data /dev/disk/azure/scsi1/lun0 && "
                   "echo 'LABEL=data /data ext4 defaults,nofail 0 2' >> /etc/fstab && mount -a")


def run_script(sandbox, group: str, vm: str, script: str) -> str:
    result = sandbox.az("vm", "run-command", "invoke", "--resource-group", group, "--name", vm,
                        "--command-id", "RunShellScript", "--scripts", script)
    return result["value"][0]["message"]


# --- resource groups ----------------------------------------------------------------------------

def test_resource_groups(sandbox):
    name = group_name("groups")
    created = sandbox.az("group", "create", "--name", name, "--location", "westeurope", "--tags", "team=data")
    assert set(created) == {"id", "location", "managedBy", "name", "properties", "tags", "type"}
    assert created["properties"]["provisioningState"] == "Succeeded" and created["tags"] == {"team": "data"}
    assert sandbox.az("group", "exists", "--name", name) is True
    tagged = sandbox.az("group", "list", "--tag", "team=data", "--query", "[].name")
    assert name in tagged
    assert "InvalidResourceGroupLocation" in sandbox.az_fails("group", "create", "--name", name, "--location",
                                                              "eastus")
    sandbox.az("group", "delete", "--name", name, "--yes")
    assert sandbox.az("group", "exists", "--name", name) is False
    assert "(ResourceGroupNotFound) Resource group '" in sandbox.az_fails("group", "show", "--name", name)


@pytest.mark.parametrize("bad", ["has space", "x" * 91, "ends-with-period."])
def test_bad_group_names(sandbox, bad):
    assert "InvalidResourceGroup" in sandbox.az_fails("group", "create", "--name", bad, "--location", "westeurope")


# --- the bake-and-roll flow, with Azure's output shapes -------------------------------------------

def test_vm_to_image_to_scale_set(sandbox, group, ssh_key):
    vm = create_vm(sandbox, group, ssh_key)
    assert {"id", "resourceGroup", "powerState", "publicIpAddress", "fqdns", "privateIpAddress", "macAddress",
            "location"} <= set(vm)
    assert vm["powerState"] == "VM running" and vm["privateIpAddress"].startswith("10.")

    stderr = sandbox.az_fails("vm", "generalize", "--resource-group", group, "--name", "vm1")
    assert "(OperationNotAllowed)" in stderr and "running" in stderr

    message = run_script(sandbox, group, "vm1", f"{MOUNT_DATA_DISK} && echo preloaded > /data/data.txt && ls /data")
    assert message.startswith("Enable succeeded:") and "[stdout]\ndata.txt\n" in message
    assert (sandbox.machine_folder(group, "vm1") / "disks/lun0/data.txt").read_text() == "preloaded\n"
    again = run_script(sandbox, group, "vm1", "cat /data/data.txt")  # mounted at "boot" from /etc/fstab
    assert "[stdout]\npreloaded\n" in again

    image = capture_image(sandbox, group, "vm1", "img1")
    assert image["storageProfile"]["osDisk"]["osState"] == "Generalized"
    assert image["hyperVGeneration"] == "V2" and len(image["storageProfile"]["dataDisks"]) == 1
    assert image["sourceVirtualMachine"]["id"].lower() == vm["id"].lower()

    created = sandbox.az("vmss", "create", "--resource-group", group, "--name", "ss1", "--image", image["id"],
                         "--orchestration-mode", "Uniform", "--disable-overprovision", "--instance-count", "2",
                         "--vm-sku", "Standard_F8s", "--admin-username", "azureuser", "--ssh-key-values", ssh_key,
                         "--upgrade-policy-mode", "Manual")
    assert set(created) == {"vmss"} and "id" not in created["vmss"]
    assert created["vmss"]["orchestrationMode"] == "Uniform" and created["vmss"]["overprovision"] is False
    instances = sandbox.az("vmss", "list-instances", "--resource-group", group, "--name", "ss1")
    assert [i["instanceId"] for i in instances] == ["0", "1"]
    for instance in ("0", "1"):
        data = sandbox.machine_folder(group, "ss1", instance) / "disks/lun0/data.txt"
        assert data.read_text() == "preloaded\n"

    updated = sandbox.az("vmss", "update", "--resource-group", group, "--name", "ss1", "--set", "tags.stage=blue")
    assert updated["tags"] == {"stage": "blue"}
    sandbox.az("vmss", "update-instances", "--resource-group", group, "--name", "ss1", "--instance-ids", "*")
    sandbox.az("vmss", "delete-instances", "--resource-group", group, "--name", "ss1", "--instance-ids", "1")
    assert sandbox.az("vmss", "show", "--resource-group", group, "--name", "ss1", "--query", "sku.capacity") == 1

    sandbox.az("group", "delete", "--name", group, "--yes")
    assert not any(group.lower() in r["id"].lower() for r in sandbox.sandbox.resources()["resources"])
    assert not sandbox.machine_folder(group).exists()


def test_image_needs_a_generalized_vm_of_the_same_generation(sandbox, group, ssh_key):
    create_vm(sandbox, group, ssh_key)
    stderr = sandbox.az_fails("image", "create", "--resource-group", group, "--name", "img", "--source", "vm1",
                              "--hyper-v-generation", "V2")
    assert "(OperationNotAllowed)" in stderr and "not generalized" in stderr
    sandbox.az("vm", "deallocate", "--resource-group", group, "--name", "vm1")
    sandbox.az("vm", "generalize", "--resource-group", group, "--name", "vm1")
    stderr = sandbox.az_fails("image", "create", "--resource-group", group, "--name", "img", "--source", "vm1")
    assert "(InvalidParameter)" in stderr and "generation V2" in stderr
    assert "(OperationNotAllowed)" in sandbox.az_fails("vm", "start", "--resource-group", group, "--name", "vm1")


def test_power_states(sandbox, group, ssh_key):
    create_vm(sandbox, group, ssh_key)

    def power():
        return sandbox.az("vm", "get-instance-view", "--resource-group", group, "--name", "vm1", "--query",
                          "instanceView.statuses[?starts_with(code, 'PowerState/')].code | [0]")

    sandbox.az("vm", "stop", "--resource-group", group, "--name", "vm1")
    assert power() == "PowerState/stopped"
    assert "(OperationNotAllowed)" in sandbox.az_fails("vm", "run-command", "invoke", "--resource-group", group,
                                                       "--name", "vm1", "--command-id", "RunShellScript",
                                                       "--scripts", "true")
    sandbox.az("vm", "start", "--resource-group", group, "--name", "vm1")
    assert power() == "PowerState/running"
    sandbox.az("vm", "deallocate", "--resource-group", group, "--name", "vm1")
    assert power() == "PowerState/deallocated"


def test_run_command_output_shape_failures_and_truncation(sandbox, group, ssh_key):
    create_vm(sandbox, group, ssh_key)
    failed = sandbox.az("vm", "run-command", "invoke", "--resource-group", group, "--name", "vm1",
                        "--command-id", "RunShellScript", "--scripts", "echo out; echo err >&2; exit 3")
    status = failed["value"][0]
    assert status["code"] == "ProvisioningState/failed"
    assert "exit status=3" in status["message"] and "[stdout]\nout\n" in status["message"]
    assert "[stderr]\nerr\n" in status["message"]
    long = run_script(sandbox, group, "vm1", "head -c 10000 /dev/zero | tr '\\0' x; echo END")
    assert long.count("x") <= 4096 and "END" in long


def test_machines_are_isolated_from_the_host(sandbox, group, ssh_key, tmp_path):
    create_vm(sandbox, group, ssh_key)
    (tmp_path / "host-file").write_text("host")
    script = ("echo machine >> /etc/hosts; touch /usr/evil 2>/dev/null || echo usr-read-only; "
              f"test -e {tmp_path}/host-file || echo host-invisible; cat /etc/hostname")
    message = run_script(sandbox, group, "vm1", script)
    assert "[stdout]\nusr-read-only\nhost-invisible\nvm1\n" in message
    with open("/etc/hosts") as hosts:
        assert "machine" not in hosts.read()
    assert (sandbox.machine_folder(group, "vm1") / "root/etc/hosts").read_text().endswith("machine\n")


def test_run_command_is_bounded_in_time(tmp_path):
    from pysteps.sandbox.arm.providers.compute import run_script as run_on_machine

    started = time.monotonic()
    result = run_on_machine("echo started; sleep 30", tmp_path / "vm", timeout=1, parameters=[])
    status = result["value"][0]
    assert status["code"] == "ProvisioningState/failed" and "timed out" in status["message"]
    assert "[stdout]\nstarted" in status["message"] and time.monotonic() - started < 10


def test_bad_names_and_sizes(sandbox, group, ssh_key):
    # A template deployment that fails reports its resources' errors as details, as in Azure.
    assert '"code": "InvalidParameter"' in sandbox.az_fails(
        "vm", "create", "--resource-group", group, "--name", "bad_name-", "--image", "Ubuntu2204",
        "--ssh-key-values", ssh_key, "--public-ip-address", "", "--nsg", "")
    assert "SkuNotAvailable" in sandbox.az_fails(
        "vm", "create", "--resource-group", group, "--name", "vm2", "--image", "Ubuntu2204", "--size",
        "Standard_Nope", "--ssh-key-values", ssh_key, "--public-ip-address", "", "--nsg", "")


# --- scale sets ---------------------------------------------------------------------------------

@pytest.fixture
def two_images(sandbox, group, ssh_key):
    """A healthy image and one whose machines report unhealthy."""
    ids = []
    for name, marker in (("good", ""), ("bad", "touch .sandbox-unhealthy")):
        create_vm(sandbox, group, ssh_key, f"{name}vm")
        run_script(sandbox, group, f"{name}vm", f"{MOUNT_DATA_DISK} && cd /data && echo {name} > which.txt; {marker}")
        ids.append(capture_image(sandbox, group, f"{name}vm", f"{name}img")["id"])
    return ids


def test_manual_upgrade_policy(sandbox, group, ssh_key, two_images):
    good, bad = two_images
    sandbox.az("vmss", "create", "--resource-group", group, "--name", "ss", "--image", good,
               "--orchestration-mode", "Uniform", "--instance-count", "2", "--vm-sku", "Standard_F8s",
               "--admin-username", "azureuser", "--ssh-key-values", ssh_key, "--upgrade-policy-mode", "Manual")
    sandbox.az("vmss", "update", "--resource-group", group, "--name", "ss", "--set",
               f"virtualMachineProfile.storageProfile.imageReference.id={bad}")
    latest = sandbox.az("vmss", "list-instances", "--resource-group", group, "--name", "ss",
                        "--query", "[].latestModelApplied")
    assert latest == [False, False]
    assert (sandbox.machine_folder(group, "ss", "0") / "disks/lun0/which.txt").read_text() == "good\n"
    sandbox.az("vmss", "update-instances", "--resource-group", group, "--name", "ss", "--instance-ids", "0")
    latest = sandbox.az("vmss", "list-instances", "--resource-group", group, "--name", "ss",
                        "--query", "[].latestModelApplied")
    assert latest == [True, False]
    assert (sandbox.machine_folder(group, "ss", "0") / "disks/lun0/which.txt").read_text() == "bad\n"
    health = sandbox.az("vmss", "get-instance-view", "--resource-group", group, "--name", "ss", "--instance-id",
                        "0", "--query", "vmHealth.status.code")
    assert health == "HealthState/unhealthy"


def test_rolling_upgrade_stops_on_unhealthy_instances(sandbox, group, ssh_key, two_images):
    good, bad = two_images
    sandbox.az("vmss", "create", "--resource-group", group, "--name", "rs", "--image", good,
               "--orchestration-mode", "Uniform", "--instance-count", "3", "--vm-sku", "Standard_F8s",
               "--admin-username", "azureuser", "--ssh-key-values", ssh_key, "--upgrade-policy-mode", "Rolling")
    model = sandbox.az("vmss", "show", "--resource-group", group, "--name", "rs")
    extensions = model["virtualMachineProfile"]["extensionProfile"]["extensions"]
    assert any(e["type"] == "ApplicationHealthLinux" for e in extensions)  # az adds it for Rolling
    stderr = sandbox.az_fails("vmss", "update", "--resource-group", group, "--name", "rs", "--set",
                              f"virtualMachineProfile.storageProfile.imageReference.id={bad}")
    assert "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade" in stderr
    status = sandbox.az("vmss", "rolling-upgrade", "get-latest", "--resource-group", group, "--name", "rs")
    assert status["runningStatus"]["code"] == "Faulted" and status["progress"]["failedInstanceCount"] >= 1
    assert status["progress"]["pendingInstanceCount"] >= 1  # it stopped before touching the rest

    sandbox.az("vmss", "update", "--resource-group", group, "--name", "rs", "--set",
               f"virtualMachineProfile.storageProfile.imageReference.id={good}")
    status = sandbox.az("vmss", "rolling-upgrade", "get-latest", "--resource-group", group, "--name", "rs")
    assert status["runningStatus"]["code"] == "Completed"


def test_rolling_needs_a_health_signal(sandbox, group, two_images):
    good, _ = two_images
    model = {"location": "westeurope", "sku": {"name": "Standard_F8s", "capacity": 1}, "properties": {
        "orchestrationMode": "Uniform", "upgradePolicy": {"mode": "Rolling"},
        "virtualMachineProfile": {"storageProfile": {"imageReference": {"id": good}},
                                  "osProfile": {"computerNamePrefix": "x", "adminUsername": "azureuser"}}}}
    path = (f"/subscriptions/{sandbox.subscription}/resourceGroups/{group}/providers/Microsoft.Compute/"
            "virtualMachineScaleSets/nohealth?api-version=2024-11-01")
    status, _, body = sandbox.arm("PUT", path, body=model)
    assert status == 400 and "health probe or health extension" in body["error"]["message"]


def test_flexible_scale_sets(sandbox, group, ssh_key, two_images):
    good, _ = two_images
    stderr = sandbox.az_fails("vmss", "create", "--resource-group", group, "--name", "flex", "--image", good,
                              "--disable-overprovision", "--ssh-key-values", ssh_key)
    assert "not supported for Flex mode" in stderr
    sandbox.az("vmss", "create", "--resource-group", group, "--name", "flex", "--image", good, "--instance-count",
               "2", "--vm-sku", "Standard_F8s", "--admin-username", "azureuser", "--ssh-key-values", ssh_key)
    machines = sandbox.az("vm", "list", "--resource-group", group, "--query",
                          "[?virtualMachineScaleSet != null].name")
    assert len(machines) == 2 and all(m.startswith("flex_") for m in machines)
    sandbox.az("vm", "delete", "--resource-group", group, "--name", machines[0], "--yes")
    assert len(sandbox.az("vm", "list", "--resource-group", group, "--query",
                          "[?virtualMachineScaleSet != null].name")) == 1


# --- galleries ----------------------------------------------------------------------------------

def test_gallery_publish_and_use(sandbox, group, ssh_key, two_images):
    good, _ = two_images
    sandbox.az("sig", "create", "--resource-group", group, "--gallery-name", "pystepsgallery")
    common = ["--resource-group", group, "--gallery-name", "pystepsgallery"]
    sandbox.az("sig", "image-definition", "create", *common, "--gallery-image-definition", "analytics",
               "--publisher", "pysteps", "--offer", "analytics", "--sku", "data", "--os-type", "Linux",
               "--os-state", "Generalized", "--hyper-v-generation", "V2")
    sandbox.az("sig", "image-definition", "create", *common, "--gallery-image-definition", "gen1",
               "--publisher", "pysteps", "--offer", "analytics", "--sku", "gen1", "--os-type", "Linux",
               "--os-state", "Generalized", "--hyper-v-generation", "V1")
    version = sandbox.az("sig", "image-version", "create", *common, "--gallery-image-definition", "analytics",
                         "--gallery-image-version", "1.0.0", "--managed-image", good,
                         "--target-regions", "westeurope", "northeurope")
    assert version["replicationStatus"]["aggregatedState"] == "Completed"
    assert {r["name"] for r in version["publishingProfile"]["targetRegions"]} >= {"westeurope", "northeurope"}
    stderr = sandbox.az_fails("sig", "image-version", "create", *common, "--gallery-image-definition", "gen1",
                              "--gallery-image-version", "1.0.0", "--managed-image", good)
    assert "(InvalidParameter)" in stderr and "generation" in stderr
    assert "(InvalidParameter)" in sandbox.az_fails(
        "sig", "image-version", "create", *common, "--gallery-image-definition", "analytics",
        "--gallery-image-version", "one", "--managed-image", good)
    create_vm_from = sandbox.az("vm", "create", "--resource-group", group, "--name", "fromgallery", "--image",
                                version["id"], "--admin-username", "azureuser", "--ssh-key-values", ssh_key,
                                "--public-ip-address", "", "--nsg", "", "--security-type", "Standard")
    assert create_vm_from["powerState"] == "VM running"
    assert (sandbox.machine_folder(group, "fromgallery") / "disks/lun0/which.txt").read_text() == "good\n"


# --- key vault, autoscale, service bus, IMDS ---------------------------------------------------

def test_key_vault_secrets(sandbox, group):
    vault = sandbox.az("keyvault", "create", "--resource-group", group, "--name", f"kv{uuid.uuid4().hex[:8]}",
                       "--location", "westeurope")
    uri = vault["properties"]["vaultUri"]
    resource = "https://" + uri.split("//", 1)[1].split(".", 1)[1].rstrip("/")
    token = sandbox.token(resource)
    status, _, _ = sandbox.arm("PUT", "secrets/db-password?api-version=7.4", base=uri, token=False,
                               body={"value": "hunter2"})
    assert status == 401  # the Key Vault challenge comes first
    status, _, body = sandbox.arm("PUT", "secrets/db-password?api-version=7.4", base=uri, token=token,
                                  body={"value": "hunter2"})
    assert status == 200 and body["value"] == "hunter2"
    shown = sandbox.az("keyvault", "secret", "show", "--id", f"{uri}secrets/db-password")
    assert shown["value"] == "hunter2"
    stderr = sandbox.az_fails("keyvault", "secret", "show", "--id", f"{uri}secrets/missing")
    assert "SecretNotFound" in stderr
    names = sandbox.az("keyvault", "secret", "list", "--id", uri, "--query", "[].name", check=False)
    assert names.returncode == 0 or "--vault-name" in names.stderr


def test_key_vault_denies_without_an_access_policy(sandbox, group):
    name = f"kv{uuid.uuid4().hex[:8]}"
    vault = sandbox.az("keyvault", "create", "--resource-group", group, "--name", name, "--location", "westeurope",
                       "--enable-rbac-authorization", "false", "--no-self-perms")
    stderr = sandbox.az_fails("keyvault", "secret", "show", "--id", f"{vault['properties']['vaultUri']}secrets/x")
    assert "Forbidden" in stderr and "does not have secrets get permission" in stderr


def test_autoscale_on_a_service_bus_queue(sandbox, group, ssh_key, two_images):
    good, _ = two_images
    sandbox.az("vmss", "create", "--resource-group", group, "--name", "auto", "--image", good,
               "--orchestration-mode", "Uniform", "--instance-count", "1", "--vm-sku", "Standard_F8s",
               "--admin-username", "azureuser", "--ssh-key-values", ssh_key, "--upgrade-policy-mode", "Manual")
    scale_set = sandbox.az("vmss", "show", "--resource-group", group, "--name", "auto", "--query", "id")
    namespace = sandbox.az("servicebus", "namespace", "create", "--resource-group", group, "--name",
                           f"bus{uuid.uuid4().hex[:8]}")
    sandbox.az("servicebus", "queue", "create", "--resource-group", group, "--namespace-name", namespace["name"],
               "--name", "work")
    sandbox.az("monitor", "autoscale", "create", "--resource-group", group, "--resource", scale_set,
               "--name", "auto-scale", "--min-count", "1", "--max-count", "5", "--count", "1")
    for direction, condition in (("out", "ActiveMessages > 100 avg 5m"), ("in", "ActiveMessages < 10 avg 5m")):
        sandbox.az("monitor", "autoscale", "rule", "create", "--resource-group", group, "--autoscale-name",
                   "auto-scale", "--resource", namespace["id"], "--condition", condition, "--scale", direction, "1")
    setting = sandbox.az("monitor", "autoscale", "show", "--resource-group", group, "--name", "auto-scale")
    assert setting["profiles"][0]["capacity"] == {"minimum": "1", "maximum": "5", "default": "1"}
    assert [r["scaleAction"]["direction"] for r in setting["profiles"][0]["rules"]] == ["Increase", "Decrease"]
    assert "BadRequest" in sandbox.az_fails("monitor", "autoscale", "update", "--resource-group", group,
                                            "--name", "auto-scale", "--min-count", "6")


def test_imds_from_a_script_on_a_machine(sandbox, group, ssh_key):
    create_vm(sandbox, group, ssh_key, "imdsvm")
    script = ('curl -s --cacert "$REQUESTS_CA_BUNDLE" -H Metadata:true '
              '"$AZURE_POD_IDENTITY_AUTHORITY_HOST/metadata/instance?api-version=2021-02-01"')
    message = run_script(sandbox, group, "imdsvm", script)
    document = json.loads(message.split("[stdout]\n", 1)[1].split("\n[stderr]", 1)[0])
    assert document["compute"]["name"] == "imdsvm" and document["compute"]["resourceGroupName"] == group
    assert document["compute"]["subscriptionId"] == sandbox.subscription
    token_script = ('curl -s -H Metadata:true "$AZURE_POD_IDENTITY_AUTHORITY_HOST/metadata/identity/oauth2/token'
                    '?api-version=2018-02-01&resource=$0"')
    arm = sandbox.env["PYSTEPS_SANDBOX_ARM"] + "/"
    message = run_script(sandbox, group, "imdsvm", f"bash -c '{token_script}' {arm}")
    token = json.loads(message.split("[stdout]\n", 1)[1].split("\n[stderr]", 1)[0])
    status, _, _ = sandbox.arm("GET", f"/subscriptions/{sandbox.subscription}/resourcegroups?api-version=2024-11-01",
                               token=token["access_token"])
    assert status == 200  # the machine's identity is accepted by ARM
    assert "Required metadata header" in run_script(
        sandbox, group, "imdsvm", 'curl -s "$AZURE_POD_IDENTITY_AUTHORITY_HOST/metadata/instance?api-version=1"')


# --- protocol and rules --------------------------------------------------------------------------

def test_api_version_and_authentication_are_required(sandbox):
    path = f"/subscriptions/{sandbox.subscription}/resourcegroups"
    status, _, body = sandbox.arm("GET", path)
    assert status == 400 and body["error"]["code"] == "MissingApiVersionParameter"
    status, headers, body = sandbox.arm("GET", path + "?api-version=2024-11-01", token=False)
    assert status == 401 and body["error"]["code"] == "AuthenticationFailed" and "WWW-Authenticate" in headers


def test_long_running_operations_answer_with_polling_headers(sandbox, group):
    path = (f"/subscriptions/{sandbox.subscription}/resourceGroups/{group}/providers/Microsoft.Network/"
            "publicIPAddresses/ip1?api-version=2024-05-01")
    status, headers, body = sandbox.arm("PUT", path, body={"location": "westeurope"})
    assert status == 201 and headers["Retry-After"] == "1"
    assert body["name"] == "ip1" and body["properties"]["ipAddress"]
    assert "/operations/" in headers["Azure-AsyncOperation"] and "/operationResults/" in headers["Location"]
    operation = headers["Azure-AsyncOperation"].split(sandbox.env["PYSTEPS_SANDBOX_ARM"], 1)[1]
    _, _, polled = sandbox.arm("GET", operation)
    assert polled["status"] in ("InProgress", "Succeeded")
