"""The Jenkinsfiles on Groovy 2.4 with recorded steps, and conventions over every var and Jenkinsfile:
help files, thin vars, constant `sh` scripts, known steps whose plugins are listed, Groovy 2.4 parsing,
and npm-groovy-lint."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from jenkins_harness import EXEC, ROOT, VARS_DIR, calls, check_sources, groovy_env, requests, run_cases

JENKINSFILES = [ROOT / "Jenkinsfile", ROOT / "jenkins" / "sync.Jenkinsfile"]
VARS = sorted(VARS_DIR.glob("*.groovy"))
IMAGE = "/subscriptions/0000/resourceGroups/images/providers/Microsoft.Compute/images/base-image-1"
SCALE_SET = "/subscriptions/0000/resourceGroups/vmss/providers/Microsoft.Compute/virtualMachineScaleSets/ss"
INSTALLED = {"match": "PYSTEPS_INSTALL_SCRIPT", "files": {"$PYSTEPS_INSTALL_OUTPUT": "python=/venv/bin/python\n"}}
BAKED = {"request": '"command":"bake","options":\\{"roll":false', "exports": {"vmss_image": IMAGE, "base_vm_id": "vm"}}
ROLLED = {"request": '"command":"roll"', "exports": {"vmss_id": SCALE_SET}}
HOSTILE_NAME = "ss'; touch CANARY #$(id)`id`"

# Where each step comes from; plugins.txt must list each (core: always there).
STEP_PLUGINS = {
    "sh": "workflow-durable-task-step", "dir": "workflow-durable-task-step",
    "echo": "workflow-basic-steps", "error": "workflow-basic-steps", "withEnv": "workflow-basic-steps",
    "writeFile": "workflow-basic-steps", "readFile": "workflow-basic-steps", "fileExists": "workflow-basic-steps",
    "pwd": "workflow-basic-steps", "deleteDir": "workflow-basic-steps", "timeout": "workflow-basic-steps",
    "wrap": "workflow-basic-steps", "archiveArtifacts": "workflow-basic-steps",
    "withCredentials": "credentials-binding", "string": "credentials-binding",
    "azureServicePrincipal": "azure-credentials", "readJSON": "pipeline-utility-steps",
    "readProperties": "pipeline-utility-steps", "libraryResource": "pipeline-groovy-lib",
    "lock": "lockable-resources", "disableConcurrentBuilds": "workflow-aggregator",
    "buildDiscarder": "core", "logRotator": "core", "cron": "core",
}
BUILD_WRAPPER_PLUGINS = {"MaskPasswordsBuildWrapper": "mask-passwords",
                         "AmazonWebServicesCredentialsBinding": "aws-credentials"}
DECLARATIVE = {"pipeline", "agent", "label", "options", "parameters", "booleanParam", "choice", "environment",
               "stages", "stage", "steps", "when", "expression", "post", "always", "triggers", "script"}
BLOCK_PARAMETERS = {"body"}


def jenkinsfile_case(name: str, **case) -> dict:
    responses = case.pop("responses", [INSTALLED, BAKED, ROLLED])
    return {"name": name, "jenkinsfile": str(ROOT / "Jenkinsfile"), "responses": responses, **case}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    cases = [
        jenkinsfile_case("defaults"),
        jenkinsfile_case("hostile", params={"vmss_name": HOSTILE_NAME, "preload_sources": "$(id)\nx"}),
        jenkinsfile_case("bake-fails", responses=[INSTALLED, {**BAKED, "status": 1}, ROLLED]),
        jenkinsfile_case("roll-fails", responses=[INSTALLED, BAKED, {**ROLLED, "status": 1}]),
        jenkinsfile_case("no-roll", params={"ROLL": False}),
        jenkinsfile_case("setup-fails", responses=[{**INSTALLED, "status": 1}]),
        jenkinsfile_case("service-principal", params={"AZURE_CREDENTIALS_ID": "azure-sp"},
                         credentials={"azure-sp": {"clientId": "c", "clientSecret": "s3cret", "tenantId": "t",
                                                   "subscriptionId": "s"}}),
        {"name": "sync", "jenkinsfile": str(ROOT / "jenkins" / "sync.Jenkinsfile"), "responses": [INSTALLED],
         "credentials": {"aws-landing-reader": {"accessKey": "AK", "secretKey": "SK"}}},
    ]
    return run_cases(cases, tmp_path_factory.mktemp("jenkinsfiles"))


def stage_status(run: dict) -> dict[str, str]:
    return {stage["name"]: stage["status"] for stage in run["model"]["stages"]}


def stage_requests(run: dict, stage: str) -> list[dict]:
    return requests({"calls": [c for c in run["calls"] if c["stage"] == stage]})


def test_the_pipeline_runs_on_an_agent_with_a_timeout_and_no_concurrent_builds(runs):
    model = runs["defaults"]["model"]
    assert model["agent"] == {"kind": "label", "label": "pysteps-azure"}
    options = {option["step"]: option["args"] for option in model["options"]}
    assert options["timeout"] == {"time": 4, "unit": "HOURS"}
    assert "disableConcurrentBuilds" in options


def test_stages_run_in_order_and_exports_arrive_in_env_between_them(runs):
    run = runs["defaults"]
    assert run["result"] == "SUCCESS", run["error"]
    assert list(stage_status(run).items()) == [("Set up pysteps", "SUCCESS"), ("Validate the plan", "SUCCESS"),
                                               ("Bake", "SUCCESS"), ("Roll", "SUCCESS"), ("Report", "SUCCESS")]
    roll = next(stage for stage in run["model"]["stages"] if stage["name"] == "Roll")
    assert roll["envAtStart"]["vmss_image"] == IMAGE
    (request,) = stage_requests(run, "Roll")
    assert request["command"] == "roll" and request["variables"]["vmss_image"] == IMAGE
    assert run["description"] == f"analytics-vmss: {IMAGE}"


def test_the_plan_is_a_dry_run_checked_by_validate(runs):
    dry_run, validate = stage_requests(runs["defaults"], "Validate the plan")
    assert dry_run["command"] == "bake"
    assert dry_run["options"] == {"roll": True, "dry-run": True, "plan-json": ".pysteps/builds/1/plan.json",
                                  "config": None, "keep-on-failure": False, "resume": None}
    assert validate == {"command": "validate", "options": {}, "args": [".pysteps/builds/1/plan.json"],
                        "variables": {}}


def test_settings_are_the_lower_case_parameters(runs):
    run = runs["defaults"]
    (bake,) = stage_requests(run, "Bake")
    lower = {d["name"]: d["default"] for d in run["model"]["parameters"] if d["name"].islower()}
    assert bake["variables"] == lower


def test_the_roll_stage_locks_the_scale_set(runs):
    roll = next(stage for stage in runs["defaults"]["model"]["stages"] if stage["name"] == "Roll")
    assert roll["options"] == [{"step": "lock", "args": {"resource": "scale set pysteps-vmss/analytics-vmss"}}]
    assert calls(runs["defaults"], "lock")[0]["stage"] == "Roll"


def test_azure_stages_run_logged_in_and_validation_does_not(runs):
    run = runs["defaults"]
    logged_in = {call["stage"] for call in calls(run, "withAzureLogin")}
    assert logged_in == {"Bake", "Roll", "post:always"}
    assert calls(run, "withAzureLogin")[0]["args"][0] == {"credentialsId": "", "cloud": "AzureCloud",
                                                          "resourceManager": ""}


def test_post_always_archives_the_reports_and_cleans_up(runs):
    run = runs["defaults"]
    post = [call for call in run["calls"] if call["stage"] == "post:always"]
    archive = next(call for call in post if call["step"] == "archiveArtifacts")
    assert archive["args"] == {"artifacts": ".pysteps/builds/1/runs/*/report.*, .pysteps/builds/1/plan.json",
                               "allowEmptyArchive": True}
    assert [r["command"] for r in requests({"calls": post})] == [["jenkins", "cleanup"], "sweep"]
    assert requests({"calls": post})[0]["args"] == [".pysteps/builds/1/runs"]


@pytest.mark.parametrize("case, failed, skipped", [
    ("bake-fails", "Bake", ["Roll", "Report"]),
    ("roll-fails", "Roll", ["Report"]),
])
def test_a_failed_stage_skips_the_rest_and_post_still_cleans_up(runs, case, failed, skipped):
    run = runs[case]
    assert run["result"] == "FAILURE"
    status = stage_status(run)
    assert status[failed] == "FAILED" and all(status[s] == "SKIPPED_AFTER_FAILURE" for s in skipped)
    post = requests({"calls": [c for c in run["calls"] if c["stage"] == "post:always"]})
    assert [r["command"] for r in post] == [["jenkins", "cleanup"], "sweep"]
    assert run["model"]["post"] == [{"condition": "always", "status": "SUCCESS"}]


def test_roll_false_skips_the_roll(runs):
    run = runs["no-roll"]
    assert run["result"] == "SUCCESS" and stage_status(run)["Roll"] == "SKIPPED_BY_WHEN"
    assert stage_requests(run, "Validate the plan")[0]["options"]["roll"] is False


def test_post_does_not_log_in_when_pysteps_was_never_set_up(runs):
    run = runs["setup-fails"]
    assert run["result"] == "FAILURE"
    assert not calls(run, "withAzureLogin") and calls(run, "archiveArtifacts")


def test_the_azure_credential_parameter_reaches_withAzureLogin(runs):
    run = runs["service-principal"]
    assert run["result"] == "SUCCESS", run["error"]
    bindings = {json.dumps(call["args"]) for call in calls(run, "withCredentials")}
    assert bindings == {json.dumps([{"type": "azureServicePrincipal", "credentialsId": "azure-sp"}])}


def test_hostile_parameters_reach_pysteps_verbatim_and_never_a_script(runs):
    run = runs["hostile"]
    for request in requests(run):
        if request["command"] in ("bake", "roll"):
            assert request["variables"]["vmss_name"] == HOSTILE_NAME
            assert request["variables"]["preload_sources"] == "$(id)\nx"
    scripts = {call["args"]["script"] for call in calls(run, "sh")}
    assert scripts == {'sh "$PYSTEPS_INSTALL_SCRIPT"', '"${PYSTEPS_PYTHON:-python3}" "$PYSTEPS_AZURE_LOGIN"', EXEC}
    lock = calls(run, "lock")[0]["args"]
    assert lock == {"resource": f"scale set pysteps-vmss/{HOSTILE_NAME}"}  # a lock name is data, not a command


def test_the_sync_job_syncs_with_its_credentials(runs):
    run = runs["sync"]
    assert run["result"] == "SUCCESS", run["error"]
    assert run["model"]["triggers"] == [{"step": "cron", "args": "H * * * *"}]
    (request,) = stage_requests(run, "Sync")
    assert request["command"] == "sync"
    assert request["args"] == ["s3://analytics-landing/daily", "az://analyticsdata/landing/daily"]
    assert request["options"]["concurrency"] == "32" and request["options"]["since-last"] is True


# --- conventions over every var and Jenkinsfile ----------------------------------------------------------


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    groovy_files = [*VARS, *JENKINSFILES, *sorted((ROOT / "tests" / "groovy").glob("*.groovy"))]
    return check_sources(groovy_files, tmp_path_factory.mktemp("sources"))


def test_every_groovy_file_parses_with_groovy_2_4(sources):
    failures = {path: report["error"] for path, report in sources.items() if not report["parses"]}
    assert failures == {}
    assert subprocess.run(["groovy", "--version"], capture_output=True, text=True,
                          env=groovy_env()).stdout.startswith("Groovy Version: 2.4.")


@pytest.mark.parametrize("var", VARS, ids=lambda p: p.stem)
def test_each_var_is_thin_documented_and_runs_only_constant_scripts(sources, var):
    report = sources[str(var)]
    assert report["lines"] <= 30, f"{var.name} has {report['lines']} lines: expected a thin var (30 at most)"
    help_file = var.with_suffix(".txt")
    assert help_file.is_file(), f"{var.name} has no help file {help_file.name}"
    assert help_file.read_text().startswith(var.stem + "("), f"{help_file.name}: expected a usage line first"
    dynamic = [call for call in report["sh"] if call["kind"] not in ("constant", "field")]
    assert dynamic == [], f"{var.name}: sh scripts built from values"
    assert re.search(r"^(Map|def|void) call\(", var.read_text(), re.MULTILINE)


def test_jenkinsfiles_run_no_sh_of_their_own(sources):
    for jenkinsfile in JENKINSFILES:
        assert sources[str(jenkinsfile)]["sh"] == [], jenkinsfile


def test_every_step_used_is_known_and_its_plugin_listed(sources):
    listed = {line.strip() for line in (ROOT / "jenkins" / "plugins.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")} | {"core"}
    var_names = {path.stem for path in VARS}
    own_methods = {"settings", "azure"}
    for path in [*VARS, *JENKINSFILES]:
        unknown = set(sources[str(path)]["calls"]) - set(STEP_PLUGINS) - var_names - DECLARATIVE - own_methods \
            - BLOCK_PARAMETERS
        assert unknown == set(), f"{path.name} calls unknown steps"
        missing = {STEP_PLUGINS[c] for c in sources[str(path)]["calls"] if c in STEP_PLUGINS} - listed
        missing |= {plugin for cls, plugin in BUILD_WRAPPER_PLUGINS.items() if cls in path.read_text()} - listed
        assert missing == set(), f"{path.name} needs plugins missing from plugins.txt"


def test_every_plugin_in_plugins_txt_says_why():
    lines = (ROOT / "jenkins" / "plugins.txt").read_text().splitlines()
    plugins = [(index, line) for index, line in enumerate(lines) if line.strip() and not line.startswith("#")]
    for index, line in plugins:
        assert re.fullmatch(r"[a-z0-9-]+(:[\w.-]+)?", line), f"{line!r}: expected a plugin id[:version]"
        assert lines[index - 1].startswith("# "), f"{line}: expected a comment saying why, on the line above"


def test_npm_groovy_lint_reports_no_error_or_warning(tmp_path):
    lint = ROOT / ".venv" / "node" / "node_modules" / ".bin" / "npm-groovy-lint"
    assert lint.exists(), "npm-groovy-lint is not installed: expected ./dev setup to install it into .venv/node"
    files = [str(p.relative_to(ROOT)) for p in [*VARS, *JENKINSFILES]]
    done = subprocess.run([str(lint), "--config", str(ROOT / ".groovylintrc.json"), "--noserver", "--output", "json",
                           "--failon", "warning", *files], capture_output=True, text=True, cwd=ROOT,
                          env=groovy_env(), timeout=600)
    report = json.loads(done.stdout[done.stdout.index("{"):])
    problems = [f"{path}:{e['line']} {e['rule']} {e['msg']}" for path, found in report["files"].items()
                for e in found["errors"] if e["severity"] in ("error", "warning")]
    assert problems == [] and report["summary"]["totalFilesLinted"] == len(files), done.stderr[-2000:]
