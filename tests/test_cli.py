"""The `pysteps` command line, end to end, with the real Azure CLI (offline commands only)."""

import json

import pytest
from conftest import error_line

IMAGE = ["image", "create", "-g", "rg", "-n", "img", "--source", "vm1"]


def test_dry_run_records_placeholder_and_next_step_renders_with_it(pysteps, tmp_path):
    first = pysteps("az", "--dry-run", "--export", "id|vmss_image", "--run-dir", "run", "--", *IMAGE, check=0)
    assert "image-create (dry run): az image create -g rg -n img --source vm1" in first.stderr
    assert json.loads((tmp_path / "run/run.json").read_text())["exports"] == {"vmss_image": "<image-create:id>"}
    assert "vmss_image='<image-create:id>'" in (tmp_path / "run/exports.env").read_text()

    second = pysteps("az", "--dry-run", "--run-dir", "run", "--plan-json", "plan.json", "--",
                     "vmss", "create", "-g", "rg", "-n", "ss", "--image", "${vmss_image}",
                     "--orchestration-mode", "Uniform", check=0)
    assert "--image '<image-create:id>'" in second.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan[0]["argv"][7] == "<image-create:id>"


@pytest.mark.parametrize("runner", ["inprocess", "subprocess"])
def test_real_az_exports_to_every_format(pysteps, tmp_path, runner):
    pysteps("az", "--runner", runner, "--quiet", "--run-dir", "run", "--export", "name|cloud_name",
            "--export", "/suffixes/storageEndpoint|storage_suffix", "--export", "isActive|active",
            "--", "cloud", "show", "--name", "AzureCloud", check=0)
    shell = pysteps("env", "--run-dir", "run", check=0).stdout
    assert shell == "active=true\ncloud_name=AzureCloud\nstorage_suffix=core.windows.net\n"
    as_json = json.loads(pysteps("env", "--run-dir", "run", "--format", "json", check=0).stdout)
    assert as_json == {"active": "true", "cloud_name": "AzureCloud", "storage_suffix": "core.windows.net"}
    assert "storage_suffix=core.windows.net" in pysteps("env", "--run-dir", "run", "--format", "properties").stdout


def test_az_output_is_printed_unless_quiet(pysteps):
    done = pysteps("az", "--run-dir", "run", "--", "cloud", "show", "--name", "AzureCloud", "--query", "name",
                   check=0)
    assert json.loads(done.stdout) == "AzureCloud"


@pytest.mark.parametrize("runner", ["inprocess", "subprocess"])
def test_az_errors_arrive_with_az_message(pysteps, tmp_path, runner):
    done = pysteps("az", "--runner", runner, "--run-dir", "run", "--", "group", "show", "--nme", "x")
    assert done.returncode == 1
    assert error_line(done) == ("pysteps: error: step group-show failed: "
                                "the following arguments are required: --name/-n/--resource-group/-g")
    assert not (tmp_path / "run").exists()


def assert_rejected(done, tmp_path, *fragments):
    assert done.returncode != 0
    line = error_line(done)
    for fragment in fragments:
        assert fragment in line
    assert not (tmp_path / "run").exists(), "a failed call must not write outputs"


@pytest.mark.parametrize("args, fragments", [
    (["--export", "id"], ["malformed export spec 'id'", "EXPR|ENV_NAME"]),
    (["--export", "id|vmss-image"], ["invalid variable name 'vmss-image'"]),
    (["--export", "a[|X"], ["malformed export expression 'a['"]),
])
def test_bad_export_specs(pysteps, tmp_path, args, fragments):
    assert_rejected(pysteps("az", "--run-dir", "run", *args, "--", *IMAGE), tmp_path, *fragments)


def test_unknown_variable(pysteps, tmp_path):
    done = pysteps("az", "--run-dir", "run", "--", "vmss", "create", "--image", "${vmss_image}")
    assert_rejected(done, tmp_path, "unknown variable ${vmss_image}", "expected an export of an earlier step")


def test_az_not_installed(pysteps, tmp_path):
    done = pysteps("az", "--runner", "subprocess", "--run-dir", "run", "--", "group", "list",
                   env={"PATH": "/nonexistent"})
    assert_rejected(done, tmp_path, "az not found on PATH", "expected the Azure CLI")


def test_non_json_output_where_json_was_expected(pysteps, tmp_path):
    done = pysteps("az", "--runner", "subprocess", "--run-dir", "run", "--export", "x|X", "--", "--version")
    assert_rejected(done, tmp_path, "printed non-JSON output 'azure-cli", "expected JSON")


def test_missing_exported_field(pysteps, tmp_path):
    done = pysteps("az", "--run-dir", "run", "--export", "endpoint|X", "--", "cloud", "show", "--name", "AzureCloud")
    assert_rejected(done, tmp_path, "export 'endpoint|X' found no value for 'endpoint'",
                    "keys there: endpoints, isActive, name, profile, suffixes")


def test_failed_step_keeps_earlier_outputs_untouched(pysteps, tmp_path):
    pysteps("az", "--run-dir", "run", "--quiet", "--export", "name|cloud_name", "--",
            "cloud", "show", "--name", "AzureCloud", check=0)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    pysteps("az", "--run-dir", "run", "--export", "nothing|X", "--", "cloud", "show", "--name", "AzureCloud", check=1)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def test_json_logs(pysteps):
    done = pysteps("az", "--dry-run", "--log-format", "json", "--run-dir", "run", "--", *IMAGE, check=0)
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert [e["event"] for e in events] == ["step.start", "step.end"]
    assert events[0]["dry_run"] is True and events[0]["step"] == "image-create"


def test_sample_pipeline_dry_run_writes_a_plan(pysteps, tmp_path):
    done = pysteps("run", "sample-bake-and-roll", "--dry-run", "--run-dir", "run", "--plan-json", "plan.json",
                   "--set", "vmss_name=from-set", env={"instance_count": "3"}, check=0)
    plan = json.loads((tmp_path / "plan.json").read_text())
    by_step = {entry["step"]: entry for entry in plan}
    vmss = by_step["vmss-create"]["argv"]
    assert vmss[vmss.index("--name") + 1] == "from-set"
    assert vmss[vmss.index("--instance-count") + 1] == "3"  # the environment overrides a default
    assert vmss[vmss.index("--image") + 1] == "<image-create:id>"
    assert "vm-create (dry run)" in done.stderr


def test_set_values_arrive_verbatim(pysteps, tmp_path):
    hostile = "'; rm -rf / # $(id) `id` ${HOME}\nnext"
    pysteps("run", "sample-bake-and-roll", "--dry-run", "--run-dir", "run", "--plan-json", "plan.json",
            "--set", f"vmss_name={hostile}", check=0)
    plan = json.loads((tmp_path / "plan.json").read_text())
    vmss = next(e for e in plan if e["step"] == "vmss-create")["argv"]
    assert vmss[vmss.index("--name") + 1] == hostile


def test_bad_set_and_pipeline(pysteps, tmp_path):
    assert_rejected(pysteps("run", "sample-bake-and-roll", "--run-dir", "run", "--set", "novalue"), tmp_path,
                    "--set 'novalue': expected NAME=VALUE")
    assert_rejected(pysteps("run", "no-such-pipeline", "--run-dir", "run"), tmp_path,
                    "'no-such-pipeline' is neither a file nor a built-in pipeline")
