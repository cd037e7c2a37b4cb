"""The real Jenkinsfile, end to end, on Groovy 2.4, with every `sh` run for real against the local sandbox.

The harness plays Jenkins; the agent is this machine with the sandbox's environment (its identity
endpoint stands in for the VM's managed identity), and pysteps comes from this venv (PYSTEPS_VENV).
The Jenkinsfile logs az in itself (withAzureLogin, managed identity, the sandbox registered as a custom
cloud), bakes, rolls, and cleans up in `post`, including after a failed roll.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from jenkins_harness import ROOT, calls, requests, run_case

from pysteps.sandbox import demo

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def dataset(blob_storage_env):
    container = f"jenkins{uuid.uuid4().hex[:8]}"
    demo.seed(container, "set", files=12)
    return container, "set"


@pytest.fixture
def build(sandbox, ssh_key, dataset, tmp_path):
    """Run the Jenkinsfile with these parameters (and agent environment); its recording."""
    tag = uuid.uuid4().hex[:6]
    container, prefix = dataset
    params = {"vmss_resource_group": f"vmss-{tag}", "vmss_name": f"ss-{tag}",
              "base_image_resource_group": f"images-{tag}", "vmss_ssh_key_path": ssh_key, "data_disk_sizes_gb": "8",
              "instance_count": "2", "preload_sources": f"az://devstoreaccount1/{container}/{prefix}",
              "temp_ttl_hours": "1", "AZURE_CLOUD": "pysteps-sandbox-agent",
              "AZURE_RESOURCE_MANAGER": sandbox.env["PYSTEPS_SANDBOX_ARM"] + "/"}
    empty_config = tmp_path / "no-az-login"
    empty_config.mkdir()

    def run(*, agent_env: dict | None = None) -> dict:
        env = {**os.environ, **sandbox.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               "PYSTEPS_VENV": sys.prefix, "AZURE_CONFIG_DIR": str(empty_config), **(agent_env or {})}
        return run_case({"name": "build", "jenkinsfile": str(ROOT / "Jenkinsfile"), "sh": "real", "params": params,
                         "env": env}, tmp_path)

    run.params = params
    run.workspace = tmp_path / "build" / "workspace"
    yield run
    sandbox.sandbox.set_faults([])


def temporary_groups(sandbox) -> list[str]:
    return [g["name"] for g in sandbox.sandbox.resources()["groups"] if (g.get("tags") or {}).get("pysteps-run")]


def stages(recording: dict) -> dict[str, str]:
    return {stage["name"]: stage["status"] for stage in recording["model"]["stages"]}


def log_of(recording: dict) -> str:
    return "\n".join(recording["log"])


def test_the_jenkinsfile_bakes_and_rolls_with_exports_flowing_between_stages(build, sandbox, dataset):
    recording = build()
    assert recording["result"] == "SUCCESS", log_of(recording)[-6000:]
    assert set(stages(recording).values()) == {"SUCCESS"}
    roll = next(stage for stage in recording["model"]["stages"] if stage["name"] == "Roll")
    image = roll["envAtStart"]["vmss_image"]
    assert image.lower().startswith(f"/subscriptions/{sandbox.subscription}/resourcegroups/images-")
    roll_request = next(r for r in requests(recording) if r["command"] == "roll")
    assert roll_request["variables"]["vmss_image"] == image
    group, name = build.params["vmss_resource_group"], build.params["vmss_name"]
    model = sandbox.az("vmss", "show", "--resource-group", group, "--name", name, "--query",
                       "virtualMachineProfile.storageProfile.imageReference.id")
    assert model.lower() == image.lower() and recording["env"]["vmss_id"].lower().endswith(f"/{name}".lower())
    copy = demo.digests_of_folder(sandbox.machine_folder(group, name, "0") / "disks/lun0")
    assert copy == demo.digests_of_blobs(*dataset)
    archived = calls(recording, "archiveArtifacts")[0]["archived"]
    assert sorted(Path(p).name for p in archived) == ["plan.json", "report.html", "report.html", "report.json",
                                                      "report.json"]
    assert temporary_groups(sandbox) == []


def test_a_failed_roll_still_cleans_up_what_the_bake_left_behind(build, sandbox):
    # The bake's own delete of its temporary group fails (az tries a DELETE 4 times; pysteps once here), so the
    # group is left; then the roll fails. `post { always }` must find the group and delete it.
    sandbox.sandbox.set_faults([
        {"method": "DELETE", "path": "/resourcegroups/pysteps-bake-[^/]+$", "status": 500, "times": 4},
        {"method": "PUT", "path": f"/resourcegroups/{build.params['vmss_resource_group']}$", "status": 500},
    ])
    recording = build(agent_env={"PYSTEPS_RETRY_ATTEMPTS": "1"})
    log = log_of(recording)
    assert recording["result"] == "FAILURE", log[-6000:]
    assert stages(recording) == {"Set up pysteps": "SUCCESS", "Validate the plan": "SUCCESS", "Bake": "SUCCESS",
                                 "Roll": "FAILED", "Report": "SKIPPED_AFTER_FAILURE"}
    assert sandbox.sandbox.faults()[0]["fired"] == 4
    assert "could not delete temporary resource group pysteps-bake-" in log
    roll = next(stage for stage in recording["model"]["stages"] if stage["name"] == "Roll")
    assert roll["envAtStart"]["vmss_image"] and roll["error"] == "pysteps roll failed with exit code 1"
    assert recording["model"]["post"] == [{"condition": "always", "status": "SUCCESS"}]
    assert "cleanup: 1 temporary group(s) checked, deleted: pysteps-bake-" in log
    assert temporary_groups(sandbox) == []
    reports = [json.loads((build.workspace / p).read_text())
               for p in calls(recording, "archiveArtifacts")[0]["archived"] if p.endswith("report.json")]
    assert sorted(r["status"] for r in reports) == ["failed", "succeeded"]
