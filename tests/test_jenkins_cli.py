"""`pysteps jenkins deploy | build | exec | cleanup` and the az login helper, without a Jenkins or Azure:
against a small local Jenkins (tests/fake_jenkins.py), fake az and azure-cli stand-ins."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import error_line
from fake_jenkins import CRUMB, FakeJenkins, Script
from jenkins_harness import ROOT

from pysteps.cli import main
from pysteps.engine.errors import UsageError
from pysteps.jenkins.cleanup import temporary_groups
from pysteps.jenkins.jobs import render_jobs, same_config
from pysteps.jenkins.request import build_argv, variables

JOB = "pysteps-bake-and-roll"


@pytest.fixture
def jenkins(monkeypatch):
    with FakeJenkins(user="deployer", token="api-token") as server:
        monkeypatch.setenv("JENKINS_URL", server.url)
        monkeypatch.setenv("JENKINS_USER", "deployer")
        monkeypatch.setenv("JENKINS_API_TOKEN", "api-token")
        yield server


def build(*args: str) -> int:
    return main(["jenkins", "build", *args, "--poll-interval", "0.01"])


# --- deploy ------------------------------------------------------------------------------------------------


def test_deploy_creates_the_jobs_then_leaves_them_unchanged_then_updates_a_changed_one(jenkins, capsys,
                                                                                      monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["jenkins", "deploy"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{JOB}: created", "pysteps-sync-s3-to-azure: created"]
    assert jenkins.jobs == render_jobs([ROOT / "jenkins" / "jobs"])
    assert main(["jenkins", "deploy"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{JOB}: unchanged", "pysteps-sync-s3-to-azure: unchanged"]
    jenkins.jobs[JOB] = jenkins.jobs[JOB].replace("analytics-vmss", "edited-by-hand")
    assert main(["jenkins", "deploy", "--job", "*-bake-*"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{JOB}: updated"]
    assert same_config(jenkins.jobs[JOB], render_jobs([ROOT / "jenkins" / "jobs"])[JOB])


def test_every_change_carries_the_crumb_and_the_api_token(jenkins, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["jenkins", "deploy"]) == 0
    posts = jenkins.posts()
    assert [p["path"] for p in posts] == ["/createItem", "/createItem"]
    assert all(p["crumb"] == CRUMB for p in posts)
    assert {r["authorization"] for r in jenkins.requests} == {jenkins.auth}


def test_deploy_dry_run_renders_without_a_jenkins(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("JENKINS_URL", raising=False)
    assert main(["jenkins", "deploy", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{JOB}: would create or update",
                                                    "pysteps-sync-s3-to-azure: would create or update"]


def test_deploy_names_a_missing_definition_or_an_unknown_job(capsys, tmp_path, monkeypatch):
    assert main(["jenkins", "deploy", "--dry-run", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml do not exist: expected Jenkins Job Builder YAML" in capsys.readouterr().err
    monkeypatch.chdir(ROOT)
    assert main(["jenkins", "deploy", "--dry-run", "--job", "nightly-*"]) == 2
    assert "--job nightly-*: no job matches" in capsys.readouterr().err


def test_same_config_ignores_whitespace_only():
    assert same_config("<a>\n  <b>x</b>\n</a>", "<?xml version='1.1'?><a><b> x </b></a>")
    assert not same_config("<a><b>x</b></a>", "<a><b>y</b></a>")


# --- build -------------------------------------------------------------------------------------------------


@pytest.fixture
def job(jenkins):
    jenkins.jobs[JOB] = "<flow-definition/>"
    return jenkins


@pytest.mark.parametrize("result, code", [("SUCCESS", 0), ("FAILURE", 1), ("UNSTABLE", 3), ("ABORTED", 4),
                                          ("NOT_BUILT", 5)])
def test_the_exit_code_is_the_build_result(job, capsys, result, code):
    job.scripts[JOB] = Script(chunks=["[Pipeline] stage\n", "Bake ü\n", f"Finished: {result}\n"], result=result)
    assert build(JOB, "--follow") == code
    captured = capsys.readouterr()
    assert captured.out == f"[Pipeline] stage\nBake ü\nFinished: {result}\n"
    assert f"{JOB} #1: {result}" in captured.err


def test_parameters_are_passed_verbatim(job):
    hostile = "'; rm -rf / # $(id) `id` & x=y\nü"
    assert build(JOB, "-p", f"vmss_name={hostile}", "-p", "ROLL=false", "-p", "empty=") == 0
    (trigger,) = job.posts()
    assert trigger["path"] == f"/job/{JOB}/buildWithParameters"
    assert trigger["query"] == {"vmss_name": hostile, "ROLL": "false", "empty": ""}


def test_without_follow_it_returns_once_the_build_started(job, capsys):
    job.scripts[JOB] = Script(queue_polls=3, result="FAILURE")
    assert build(JOB) == 0
    err = capsys.readouterr().err
    assert "queued: Waiting for next available executor" in err and f"{JOB} #1 started {job.url}job/{JOB}/1/" in err
    assert not [r for r in job.requests if "progressiveText" in r["path"]]


def test_a_build_cancelled_in_the_queue_is_not_built(job, capsys):
    job.scripts[JOB] = Script(cancelled=True)
    assert build(JOB, "--follow") == 5
    assert "cancelled: NOT_BUILT" in capsys.readouterr().err


def test_an_unknown_job_is_bad_input(jenkins, capsys):
    assert build("no-such-job") == 2
    assert "job 'no-such-job' does not exist" in capsys.readouterr().err


def test_an_unreachable_jenkins_has_its_own_exit_code(monkeypatch, capsys):
    monkeypatch.setenv("JENKINS_URL", "http://127.0.0.1:9/")
    monkeypatch.delenv("JENKINS_USER", raising=False)
    monkeypatch.delenv("JENKINS_API_TOKEN", raising=False)
    assert build(JOB) == 6
    assert "refused to build" in capsys.readouterr().err


def test_a_user_without_a_token_is_refused_before_any_request(monkeypatch, capsys):
    monkeypatch.setenv("JENKINS_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("JENKINS_USER", "someone")
    monkeypatch.delenv("JENKINS_API_TOKEN", raising=False)
    assert build(JOB) == 2
    assert "$JENKINS_API_TOKEN" in capsys.readouterr().err


def test_the_console_is_shown_as_it_grows(job):
    """Line 2 of the console exists only after the test has seen line 1 on pysteps' stdout."""
    gate = threading.Event()
    job.scripts[JOB] = Script(chunks=["line 1\n", "line 2\n", "Finished: FAILURE\n"], result="FAILURE",
                              gates={1: gate})
    process = subprocess.Popen([sys.executable, "-m", "pysteps", "jenkins", "build", JOB, "--follow",
                                "--poll-interval", "0.01"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=os.environ.copy())
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=30) == "line 1\n"
        assert job.builds[(JOB, 1)].released == 1  # the build has not gone further
        gate.set()
        assert lines.get(timeout=30) == "line 2\n"
        assert process.wait(timeout=30) == 1
    finally:
        gate.set()
        process.kill()


# --- exec: the vars' request files -------------------------------------------------------------------------


def test_a_request_becomes_an_argv_that_no_value_can_bend():
    argv = build_argv({"command": "bake", "options": {"roll": True, "dry-run": False, "plan-json": "--help",
                                                      "resume": None, "config": "", "export": ["a|b", "c|d"]},
                       "args": ["--version", "x"]})
    assert argv == ["bake", "--roll", "--plan-json=--help", "--export=a|b", "--export=c|d", "--", "--version", "x"]
    request = {"command": ["jenkins", "cleanup"], "args": ["runs"]}
    assert build_argv(request) == ["jenkins", "cleanup", "--", "runs"]
    assert request["command"] == ["jenkins", "cleanup"]


def test_request_variables_are_text_and_lists_join_with_commas():
    assert variables({"variables": {"a": "x y", "b": ["8", 16], "c": None, "d": True}}) == {
        "a": "x y", "b": "8,16", "d": "true"}


@pytest.mark.parametrize("request_, message", [
    ({"command": "rm -rf /"}, "request command 'rm -rf /': expected pysteps command words"),
    ({"command": "az", "options": {"--x": 1}}, "request option '--x': expected an option name"),
    ({"command": "az", "args": [{"a": 1}]}, "request args: {'a': 1} is not text"),
    ({"command": "az", "variables": {"1X": "v"}}, "1X"),
])
def test_a_bad_request_names_the_bad_value(request_, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("[", r"\[").replace("{", r"\{")):
        build_argv(request_) and variables(request_)


def test_exec_runs_an_az_step_and_leaves_its_exports_beside_the_request(pysteps, tmp_path):
    request = tmp_path / "call" / "request.json"
    request.parent.mkdir()
    request.write_text(json.dumps({"command": "az", "options": {"dry-run": True, "export": ["id|group_id"]},
                                   "args": ["group", "create", "--name", "${group}", "--location", "westeurope"],
                                   "variables": {"group": "rg-$(id)"}}))
    done = pysteps("jenkins", "exec", str(request))
    assert done.returncode == 0, done.stderr
    run = json.loads((request.parent / "run.json").read_text())
    assert run["steps"][0]["argv"][:4] == ["group", "create", "--name", "rg-$(id)"]
    assert (request.parent / "exports.properties").read_text() == "group_id=<group-create\\:id>\n"
    result = json.loads((request.parent / "result.json").read_text())
    assert result["exit_code"] == 0 and result["argv"][0] == "az"


def test_exec_reports_a_failing_command_and_still_leaves_an_exports_file(pysteps, tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"command": "validate", "args": ["missing.json"]}))
    done = pysteps("jenkins", "exec", str(request))
    assert done.returncode == 2
    assert (tmp_path / "exports.properties").read_text() == ""
    assert json.loads((tmp_path / "result.json").read_text())["exit_code"] == 2


def test_exec_of_a_missing_or_bad_request_is_bad_input_and_still_leaves_the_outputs(pysteps, tmp_path):
    done = pysteps("jenkins", "exec", str(tmp_path / "nope.json"))
    assert done.returncode == 2
    assert "nope.json' does not exist: expected the JSON a Jenkins var wrote" in error_line(done)
    assert json.loads((tmp_path / "result.json").read_text())["exit_code"] == 2
    (tmp_path / "bad.json").write_text(json.dumps({"command": "az", "extra": 1}))
    done = pysteps("jenkins", "exec", str(tmp_path / "bad.json"))
    assert done.returncode == 2 and "request field(s) extra: expected command" in error_line(done)
    assert (tmp_path / "exports.properties").read_text() == ""
    assert pysteps("jenkins", "exec", str(tmp_path / "no" / "such" / "request.json")).returncode == 2


# --- cleanup -----------------------------------------------------------------------------------------------


def test_cleanup_finds_the_temporary_groups_of_bake_runs(tmp_path):
    for run_id, command, group in [("1", "bake", "tmp-a"), ("2", "roll", "not-mine"), ("3", "bake+roll", "tmp-b")]:
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "state.json").write_text(json.dumps({
            "command": command, "settings": {"base_vm_resource_group": group}}))
    assert temporary_groups(tmp_path) == ["tmp-a", "tmp-b"]
    assert temporary_groups(tmp_path / "none") == []


def test_cleanup_of_a_folder_without_runs_does_nothing(pysteps, tmp_path):
    done = pysteps("jenkins", "cleanup", str(tmp_path / "runs"))
    assert done.returncode == 0 and "no bake runs in" in done.stderr


# --- the az login helper (resources/pysteps/azure-login.py) ------------------------------------------------

FAKE_AZURE_CLI = '''
import json, os

class _Cli:
    def invoke(self, args, out_file=None):
        with open(os.environ["FAKE_AZ_LOG"], "a") as log:
            log.write(json.dumps(args) + "\\n")
        return int(os.environ.get("FAKE_AZ_EXIT", "0"))

def get_default_cli():
    return _Cli()
'''


def login(tmp_path: Path, **env) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    package = tmp_path / "fake" / "azure" / "cli" / "core"
    package.mkdir(parents=True, exist_ok=True)
    for folder in (package.parent.parent, package.parent):
        (folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text(FAKE_AZURE_CLI)
    log = tmp_path / "az.log"
    log.unlink(missing_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "PYSTEPS_AZURE"))}
    done = subprocess.run([sys.executable, str(ROOT / "resources" / "pysteps" / "azure-login.py")],
                          capture_output=True, text=True,
                          env={**clean, "PYTHONPATH": str(tmp_path / "fake"), "FAKE_AZ_LOG": str(log), **env})
    invoked = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, invoked


def test_the_login_helper_passes_the_secret_to_azure_cli_in_process(tmp_path):
    done, invoked = login(tmp_path, AZURE_CLIENT_ID="app", AZURE_CLIENT_SECRET="-s3cret $(x)", AZURE_TENANT_ID="t",
                          AZURE_SUBSCRIPTION_ID="sub")
    assert done.returncode == 0, done.stderr
    flags = ["--only-show-errors", "--output", "none"]
    assert invoked == [["cloud", "set", "--name", "AzureCloud", *flags],
                       ["login", "--service-principal", "--username", "app", "--password=-s3cret $(x)", "--tenant",
                        "t", *flags],
                       ["account", "set", "--subscription", "sub", *flags]]
    assert "-s3cret" not in done.stdout + done.stderr


def test_the_login_helper_uses_the_managed_identity_and_registers_a_custom_cloud(tmp_path):
    done, invoked = login(tmp_path, PYSTEPS_AZURE_CLOUD="AzureStackUser",
                          PYSTEPS_AZURE_RESOURCE_MANAGER="https://management.local/",
                          PYSTEPS_AZURE_IDENTITY_CLIENT_ID="mi")
    assert done.returncode == 0, done.stderr
    assert [args[:-3] for args in invoked] == [
        ["cloud", "register", "--name", "AzureStackUser", "--endpoint-resource-manager", "https://management.local/"],
        ["cloud", "set", "--name", "AzureStackUser"], ["login", "--identity", "--client-id", "mi"]]


def test_the_login_helper_stops_at_the_first_failure(tmp_path):
    done, invoked = login(tmp_path, FAKE_AZ_EXIT="1")
    assert done.returncode == 1 and len(invoked) == 1
    assert "az cloud set failed (exit 1)" in done.stderr


def test_the_login_helper_refuses_a_service_principal_without_its_secret(tmp_path):
    done, invoked = login(tmp_path, AZURE_CLIENT_ID="app")
    assert done.returncode == 1 and invoked == []
    assert "AZURE_CLIENT_SECRET or AZURE_TENANT_ID is empty" in done.stderr


# --- the install helper (resources/pysteps/install-pysteps.sh) ---------------------------------------------

FAKE_PYTHON3 = '''#!/bin/sh
# `python3 -m venv DIR` makes DIR/bin/python: a python whose pip installs are logged and make pysteps "run".
[ "$1 $2" = "-m venv" ] || exit 3
mkdir -p "$3/bin"
cat >"$3/bin/python" <<'PY'
#!/bin/sh
here=$(dirname "$0")
case "$*" in
  "-m pysteps --version") [ -e "$here/installed" ] && echo "pysteps 0.1.0" ;;
  "-m pip install --quiet --upgrade pip") ;;
  "-m pip install"*) echo "$*" >>"$PIP_LOG"; touch "$here/installed" ;;
  *) exit 4 ;;
esac
PY
chmod +x "$3/bin/python"
'''


def install(tmp_path: Path, **env) -> tuple[subprocess.CompletedProcess, list[str], dict]:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "python3").write_text(FAKE_PYTHON3)
    (fake_bin / "python3").chmod(0o755)
    workspace, output, pip_log = tmp_path / "ws", tmp_path / "install.properties", tmp_path / "pip.log"
    workspace.mkdir(exist_ok=True)
    done = subprocess.run(["sh", str(ROOT / "resources" / "pysteps" / "install-pysteps.sh")], cwd=workspace,
                          capture_output=True, text=True,
                          env={"PATH": f"{fake_bin}:/usr/bin:/bin", "PIP_LOG": str(pip_log),
                               "PYSTEPS_REQUIREMENT": ".[az,sdk,storage]", "PYSTEPS_DEFAULT_VENV": ".pysteps/venv",
                               "PYSTEPS_INSTALL_OUTPUT": str(output), **env})
    properties = dict(line.split("=", 1) for line in output.read_text().splitlines()) if output.exists() else {}
    return done, pip_log.read_text().splitlines() if pip_log.exists() else [], properties


def test_install_makes_a_venv_once_and_again_when_the_constraints_change(tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "constraints.txt").write_text("jmespath==1.1.0\n")
    done, pip, properties = install(tmp_path)
    assert done.returncode == 0, done.stderr
    assert pip == ["-m pip install --quiet --constraint constraints.txt --editable .[az,sdk,storage]"]
    assert properties == {"python": str(tmp_path / "ws" / ".pysteps" / "venv" / "bin" / "python")}
    assert install(tmp_path)[1] == pip  # ready: nothing installed again
    (tmp_path / "ws" / "constraints.txt").write_text("jmespath==1.0.1\n")
    assert len(install(tmp_path)[1]) == 2


def test_install_uses_the_agents_venv_as_it_is(tmp_path):
    agent_venv = tmp_path / "agent-venv"
    done, _, _ = install(tmp_path, PYSTEPS_VENV=str(agent_venv))
    assert done.returncode == 1
    assert f"PYSTEPS_VENV={agent_venv} has no working pysteps" in done.stderr
    subprocess.run(["sh", str(tmp_path / "bin" / "python3"), "-m", "venv", str(agent_venv)], check=True)
    (agent_venv / "bin" / "installed").touch()
    done, pip, properties = install(tmp_path, PYSTEPS_VENV=str(agent_venv))
    assert done.returncode == 0 and pip == [] and properties == {"python": str(agent_venv / "bin" / "python")}
