"""`pysteps bake` and `pysteps roll` end to end against the sandbox: success, failures, resume, rollout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pysteps.sandbox import demo

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def dataset(blob_storage_env):
    """A data set in the sandbox's Blob storage: (container, prefix)."""
    container = f"data{uuid.uuid4().hex[:8]}"
    demo.seed(container, "set", files=40)
    return container, "set"


@pytest.fixture
def names():
    """Fresh names, so tests do not see each other's resources."""
    tag = uuid.uuid4().hex[:6]
    return {"base_image_resource_group": f"images-{tag}", "vmss_resource_group": f"vmss-{tag}",
            "vmss_name": f"ss-{tag}", "base_vm_resource_group": f"bake-{tag}"}


class Pysteps:
    def __init__(self, sandbox, tmp_path, ssh_key, dataset, names):
        self.sandbox, self.names = sandbox, names
        self.runs = tmp_path / "runs"
        container, prefix = dataset
        self.settings = {**names, "vmss_ssh_key_path": ssh_key, "data_disk_sizes_gb": "8", "instance_count": "2",
                         "preload_sources": f"az://devstoreaccount1/{container}/{prefix}", "temp_ttl_hours": "1"}

    def env(self) -> dict:
        path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
        return {**os.environ, **self.sandbox.env, "PATH": path, "PYSTEPS_RUNS_DIR": str(self.runs),
                "PYSTEPS_RETRY_ATTEMPTS": "3"}

    def argv(self, command: str, *args: str, **settings) -> list[str]:
        merged = {**self.settings, **settings}
        takes_settings = command in ("bake", "roll") and "--resume" not in args
        sets = [f"--set={k}={v}" for k, v in merged.items()] if takes_settings else []
        return [sys.executable, "-m", "pysteps", command, *sets, *args]

    def __call__(self, command: str, *args: str, **settings) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(command, *args, **settings), capture_output=True, text=True, env=self.env(),
                              timeout=600)

    def start(self, command: str, *args: str, **settings) -> subprocess.Popen:
        return subprocess.Popen(self.argv(command, *args, **settings), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env())

    def run_id(self, done) -> str:
        for line in done.stderr.splitlines():
            if " run 2" in line and line.startswith("[pysteps]"):
                return line.split(" run ", 1)[1].split()[0].rstrip(";")
        raise AssertionError(f"no run id in: {done.stderr[-2000:]}")

    def temporary_groups(self) -> list[str]:
        return [g["name"] for g in self.sandbox.sandbox.resources()["groups"]
                if (g.get("tags") or {}).get("pysteps-run")]

    def images(self) -> list[str]:
        group = self.names["base_image_resource_group"].lower()
        return [r["name"] for r in self.sandbox.sandbox.resources()["resources"]
                if r["type"] == "Microsoft.Compute/images" and f"/resourcegroups/{group}/" in r["id"].lower()]


@pytest.fixture
def pysteps_run(sandbox, tmp_path, ssh_key, dataset, names):
    yield Pysteps(sandbox, tmp_path, ssh_key, dataset, names)
    sandbox.sandbox.set_faults([])


def outputs(done) -> dict[str, str]:
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def test_bake_and_roll_puts_the_data_on_every_instance(pysteps_run, sandbox, dataset, names):
    done = pysteps_run("bake", "--roll")
    assert done.returncode == 0, done.stderr[-3000:]
    result = outputs(done)
    assert result["vmss_image"].endswith("/images/" + pysteps_run.images()[0])
    assert pysteps_run.temporary_groups() == []
    source = demo.digests_of_blobs(*dataset)
    for instance in ("0", "1"):
        copy = demo.digests_of_folder(sandbox.machine_folder(names["vmss_resource_group"], names["vmss_name"],
                                                             instance) / "disks/lun0")
        assert copy == source and len(source) == 40
    report = json.loads((pysteps_run.runs / pysteps_run.run_id(done) / "report.json").read_text())
    assert report["status"] == "succeeded"
    assert report["az_calls"] == sum(step["attempts"] for step in report["steps"]) >= 13
    assert [s["step"] for s in report["steps"]][:3] == ["group-create-temporary", "vm-create", "vm-run-script"]
    assert any("(temporary)" in r for r in report["resources_deleted"])
    html = (pysteps_run.runs / pysteps_run.run_id(done) / "report.html").read_text()
    assert "<h1>pysteps bake+roll" in html and "bake:image" in html and "timeline" in html


def test_a_throttling_storm_is_weathered_and_leaves_nothing(pysteps_run, sandbox):
    sandbox.sandbox.set_faults([{"method": "*", "path": "/providers/", "status": 429, "retry_after": 1,
                                 "probability": 0.3, "seed": 11, "times": 12}])
    done = pysteps_run("bake")
    assert done.returncode == 0, done.stderr[-3000:]
    assert sandbox.sandbox.faults()[0]["fired"] >= 5
    assert pysteps_run.temporary_groups() == []


@pytest.mark.parametrize("fault, failing_step", [
    ({"method": "PUT", "path": "/images/", "status": 500}, "image-create"),
    ({"method": "PUT", "path": "/deployments/", "lro": "Failed"}, "vm-create"),
    ({"method": "POST", "path": "/generalize$", "status": 500}, "vm-generalize"),
])
def test_a_failure_leaves_no_temporary_group_and_resume_completes(pysteps_run, sandbox, fault, failing_step):
    sandbox.sandbox.set_faults([fault])
    failed = pysteps_run("bake")
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert f"step {failing_step} failed" in failed.stderr
    assert pysteps_run.temporary_groups() == []
    sandbox.sandbox.set_faults([])
    resumed = pysteps_run("bake", "--resume", pysteps_run.run_id(failed))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(pysteps_run.images()) == 1  # the same name as the failed run: no duplicate
    assert pysteps_run.temporary_groups() == []


def test_keep_on_failure_then_resume_continues_where_it_stopped(pysteps_run, sandbox):
    sandbox.sandbox.set_faults([{"method": "PUT", "path": "/images/", "status": 500}])
    failed = pysteps_run("bake", "--keep-on-failure")
    assert failed.returncode == 1
    assert pysteps_run.temporary_groups() == [pysteps_run.names["base_vm_resource_group"]]
    sandbox.sandbox.set_faults([])
    resumed = pysteps_run("bake", "--resume", pysteps_run.run_id(failed))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "vm-create: skipped, its effect is already in place" in resumed.stderr
    assert "vm-generalize: skipped, its effect is already in place" in resumed.stderr
    assert resumed.stderr.count("vm-run-script: done in") == 0  # the preload was not redone
    assert len(pysteps_run.images()) == 1 and pysteps_run.temporary_groups() == []


def _wait_for_line(process: subprocess.Popen, fragment: str) -> list[str]:
    """Read the process's stderr until a line holds `fragment`; the lines read."""
    lines = []
    for line in process.stderr:
        lines.append(line)
        if fragment in line:
            return lines
    raise AssertionError(f"the process ended before printing {fragment!r}: {''.join(lines)[-2000:]}")


def _slow_preload(sandbox) -> None:
    """The preload's run-command request takes a while to be accepted: time to interrupt the run."""
    sandbox.sandbox.set_faults([{"method": "POST", "path": "/runCommand$", "delay": 6.0}])


def test_sigterm_during_preload_deletes_the_temporary_group(pysteps_run, sandbox):
    _slow_preload(sandbox)
    process = pysteps_run.start("bake")
    _wait_for_line(process, "vm-run-script: az vm run-command invoke")
    time.sleep(1)
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 143, rest[-3000:]
    assert "group-delete: done" in rest
    assert pysteps_run.temporary_groups() == []


def test_kill_9_leaves_a_group_that_sweep_removes(pysteps_run, sandbox, names):
    _slow_preload(sandbox)
    process = pysteps_run.start("bake", temp_ttl_hours="0.0003")
    _wait_for_line(process, "vm-run-script: az vm run-command invoke")
    process.kill()
    process.communicate()
    assert names["base_vm_resource_group"] in pysteps_run.temporary_groups()
    time.sleep(1.5)  # past its time-to-live
    swept = pysteps_run("sweep")
    assert swept.returncode == 0 and names["base_vm_resource_group"] in swept.stderr
    assert pysteps_run.temporary_groups() == []


def test_rollout_stops_on_unhealthy_instances_and_rollback_restores(pysteps_run, sandbox, names, dataset, ssh_key):
    first = pysteps_run("bake", "--roll")
    assert first.returncode == 0, first.stderr[-3000:]
    good = outputs(first)["vmss_image"]
    # An image whose machines report unhealthy: its data disk carries the sandbox's marker.
    container, _ = dataset
    client = demo.container_client(container)
    client.upload_blob("bad/.sandbox-unhealthy", b"", overwrite=True)
    client.upload_blob("bad/data.bin", b"x" * 100, overwrite=True)
    bad = pysteps_run("bake", "--roll", preload_sources=f"az://devstoreaccount1/{container}/bad",
                      base_image_name="bad-image")
    assert bad.returncode == 1
    assert "are unhealthy after the update; the rollout stopped" in bad.stderr
    instances = sandbox.az("vmss", "list-instances", "--resource-group", names["vmss_resource_group"], "--name",
                           names["vmss_name"], "--query", "[].latestModelApplied")
    assert instances == [True, False]  # batch size 1: only the first instance got the bad image
    rollback = pysteps_run("roll", "--rollback", "--run", pysteps_run.run_id(bad))
    assert rollback.returncode == 0, rollback.stderr[-3000:]
    model = sandbox.az("vmss", "show", "--resource-group", names["vmss_resource_group"], "--name",
                       names["vmss_name"], "--query", "virtualMachineProfile.storageProfile.imageReference.id")
    assert model.lower() == good.lower()
    health = sandbox.az("vmss", "list-instances", "--resource-group", names["vmss_resource_group"], "--name",
                        names["vmss_name"], "--expand", "instanceView", "--query",
                        "[].instanceView.vmHealth.status.code")
    assert health == ["HealthState/healthy", "HealthState/healthy"]


def test_gallery_autoscale_and_image_retention(pysteps_run, sandbox, names):
    group = names["vmss_resource_group"]
    sandbox.az("group", "create", "--name", group, "--location", "westeurope")
    bus = sandbox.az("servicebus", "namespace", "create", "--resource-group", group, "--name",
                     f"bus{uuid.uuid4().hex[:8]}")
    sandbox.az("servicebus", "queue", "create", "--resource-group", group, "--namespace-name", bus["name"],
               "--name", "work")
    assert pysteps_run("bake", base_image_name="old-1").returncode == 0
    published = pysteps_run("bake", base_image_name="old-2", gallery_name="pysteps_gallery",
                            gallery_image_version="1.0.7", gallery_replication_regions="westeurope,northeurope")
    assert published.returncode == 0, published.stderr[-3000:]
    version = sandbox.az("sig", "image-version", "show", "--resource-group", names["base_image_resource_group"],
                         "--gallery-name", "pysteps_gallery", "--gallery-image-definition", "analytics",
                         "--gallery-image-version", "1.0.7")
    assert outputs(published)["gallery_image_version"] == version["id"]
    assert {r["name"] for r in version["publishingProfile"]["targetRegions"]} == {"westeurope", "northeurope"}
    done = pysteps_run("bake", "--roll", base_image_name="current", image_retention="1",
                       autoscale_servicebus_namespace_id=bus["id"], autoscale_max="4")
    assert done.returncode == 0, done.stderr[-3000:]
    assert pysteps_run.images() == ["current"]
    setting = sandbox.az("monitor", "autoscale", "show", "--resource-group", group, "--name",
                         f"{names['vmss_name']}-autoscale")
    assert setting["profiles"][0]["capacity"]["maximum"] == "4"
    assert [r["scaleAction"]["direction"] for r in setting["profiles"][0]["rules"]] == ["Increase", "Decrease"]


def test_the_dry_run_plan_passes_validate(pysteps_run, tmp_path):
    plan = tmp_path / "plan.json"
    done = pysteps_run("bake", "--roll", "--dry-run", "--plan-json", str(plan), gallery_name="gallery1",
                       gallery_replication_regions="westeurope,northeurope", image_retention="2",
                       autoscale_servicebus_namespace_id="/subscriptions/0/resourceGroups/r/providers/"
                                                         "Microsoft.ServiceBus/namespaces/bus")
    assert done.returncode == 0, done.stderr[-3000:]
    steps = [entry["step"] for entry in json.loads(plan.read_text())]
    assert steps[0] == "group-create-temporary" and "gallery-version-create" in steps and "vmss-create" in steps
    assert "<image-create:id>" in json.dumps(json.loads(plan.read_text()))
    assert not pysteps_run.runs.exists() or not any(pysteps_run.runs.iterdir())  # a dry run calls and keeps nothing
    validated = subprocess.run([sys.executable, "-m", "pysteps", "validate", str(plan)], capture_output=True,
                               text=True)
    assert validated.returncode == 0, validated.stderr
