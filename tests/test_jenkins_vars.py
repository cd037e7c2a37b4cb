"""The shared library's vars on Groovy 2.4: exact commands, environment and credential bindings, injection.

Most cases run with `sh` recorded (one JVM for the module); the injection and secret cases run `sh`
for real, with the real pysteps and a fake az, so that values cross a real shell and come back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from jenkins_harness import EXEC, calls, requests, run_case, run_cases

IMAGE = "/subscriptions/0000/resourceGroups/images/providers/Microsoft.Compute/images/base-image-1"
SP = {"clientId": "11111111-2222-3333-4444-555555555555", "clientSecret": "-sp $(id) `x` '\"secret",
      "tenantId": "tenant-1", "subscriptionId": "sub-1"}
CREDENTIALS = {"azure-sp": SP, "aws-reader": {"accessKey": "AKIAEXAMPLE", "secretKey": "aws/Secret+Key"},
               "blob-connection": {"secret": "DefaultEndpointsProtocol=https;AccountKey=a2V5"}}
INSTALLED = {"match": "PYSTEPS_INSTALL_SCRIPT", "files": {"$PYSTEPS_INSTALL_OUTPUT": "python=/venv/bin/python\n"}}
HOSTILE = {"QUOTE": "'; rm -rf / #", "SUBST": "$(touch CANARY-subst)", "TICKS": "`touch CANARY-ticks`",
           "NEWLINE": "line one\nline two", "ESCAPES": '"double" \\back\\slash \\n', "DOLLARS": "${HOME} $$ %s",
           "PROPS": " ü ∞ =:#! tab\there", "DASHES": "--help"}

CASES = {
    "pysteps": {
        "params": {"VALUE": HOSTILE["QUOTE"]},
        "script": "pysteps(command: ['jenkins', 'cleanup'], options: [flag: true, off: false, none: null, "
                  "many: ['a', 'b']], args: ['runs'], variables: [setting: params.VALUE, sizes: ['8', '16']])",
        "responses": [{"match": "jenkins exec", "exports": {"vmss_image": IMAGE, "multi": "a\nb=c"}}],
    },
    "pysteps-fails": {
        "script": "pysteps(command: 'validate', args: ['plan.json'])",
        "responses": [{"match": "jenkins exec", "status": 1, "exports": {"partial": "kept"}}],
    },
    "azStep": {
        "script": "azStep(args: ['vmss', 'show', '--name', '${vmss}'], exports: ['id|vmss_id', 'sku.capacity|n?'],"
                  " variables: [vmss: 'ss1'], name: 'vmss-show')",
        "responses": [{"match": "jenkins exec", "exports": {"vmss_id": "/subscriptions/0/x/ss1", "n": "2"}}],
    },
    "bakeImage": {
        "script": "bakeImage(settings: [vmss_name: 'ss1', data_disk_sizes_gb: ['8', '16']], roll: true, "
                  "planJson: 'plan.json', configFile: 'settings.yaml')",
        "responses": [{"match": "jenkins exec", "exports": {"vmss_image": IMAGE}}],
    },
    "rollScaleSet": {
        "script": "rollScaleSet(settings: [vmss_image: 'img'], rollback: true, run: 'RUN-1')",
    },
    "preloadData": {
        "script": "preloadData(sources: ['s3://b/p', 'az://acct/c/p'], destination: '/data', concurrency: 8, "
                  "include: ['*.parquet'], shard: '1/4')",
    },
    "preloadData-one-source": {
        "script": "preloadData(sources: 's3://b/p', destination: '/data')",
    },
    "syncS3ToAzure": {
        "credentials": CREDENTIALS,
        "script": "syncS3ToAzure(source: 's3://landing/daily', destination: 'az://acct/landing/daily', "
                  "awsCredentialsId: 'aws-reader', storageCredentialsId: 'blob-connection', concurrency: 16)",
    },
    "syncS3ToAzure-since": {
        "credentials": CREDENTIALS,
        "script": "syncS3ToAzure(source: 's3://l/d', destination: 'az://a/l/d', awsCredentialsId: 'aws-reader', "
                  "since: '2026-11-01T00:00:00Z')",
    },
    "withAzureLogin-service-principal": {
        "credentials": CREDENTIALS,
        "script": "withAzureLogin(credentialsId: 'azure-sp') { echo \"in body: ${env.AZURE_CLIENT_SECRET}\"; "
                  "sh 'az account show' }\nwithAzureLogin(credentialsId: 'azure-sp') { sh 'az group list' }",
    },
    "withAzureLogin-managed-identity": {
        "script": "withAzureLogin(identityClientId: 'mi-client', cloud: 'AzureStackUser', "
                  "resourceManager: 'https://management.local.azurestack.external/') { sh 'az group list' }",
    },
    "withAzureLogin-login-fails": {
        "script": "withAzureLogin { sh 'never' }",
        "responses": [{"match": "PYSTEPS_AZURE_LOGIN", "status": 1}],
    },
    "keyVaultSecret": {
        "params": {"VAULT": "kv-app", "NAME": "db-password"},
        "script": "keyVaultSecret(vault: params.VAULT, name: params.NAME, variable: 'DB_PASSWORD') { "
                  "echo \"password is ${env.DB_PASSWORD}\"; sh 'migrate' }",
        "responses": [{"match": "secret get", "stdout": "v@lue'$(x)\n"}],
    },
    "installPysteps": {
        "script": "installPysteps()",
        "responses": [INSTALLED],
    },
    "installPysteps-requirement": {
        "script": "installPysteps(requirement: 'pysteps-azure[az]==0.1.0')",
        "responses": [INSTALLED],
    },
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    cases = [{"name": name, **case} for name, case in CASES.items()]
    return run_cases(cases, tmp_path_factory.mktemp("vars"))


def only(recording: dict, step: str) -> dict:
    found = calls(recording, step)
    assert len(found) == 1, [c["step"] for c in recording["calls"]]
    return found[0]


def test_pysteps_writes_the_request_as_data_and_runs_one_fixed_command(recorded):
    recording = recorded["pysteps"]
    assert recording["result"] == "SUCCESS", recording["error"]
    (request,) = requests(recording)
    assert request == {"command": ["jenkins", "cleanup"], "options": {"flag": True, "off": False, "none": None,
                                                                       "many": ["a", "b"]},
                       "args": ["runs"], "variables": {"setting": HOSTILE["QUOTE"], "sizes": ["8", "16"]}}
    request_file = only(recording, "writeFile")["args"]["file"]
    assert "@tmp/pysteps/" in request_file
    sh = only(recording, "sh")
    assert sh["args"] == {"script": EXEC, "returnStatus": True}
    assert sh["env"] == {"PYSTEPS_REQUEST": request_file}
    assert only(recording, "withEnv")["args"] == [f"PYSTEPS_REQUEST={request_file}"]
    assert only(recording, "readProperties")["args"] == {"file": request_file.replace("request.json",
                                                                                      "exports.properties")}


def test_pysteps_imports_the_exports_into_env_and_returns_them(recorded):
    recording = recorded["pysteps"]
    assert recording["env"] == {"multi": "a\nb=c", "vmss_image": IMAGE}
    assert recording["returned"] == {"multi": "a\nb=c", "vmss_image": IMAGE}


def test_a_failing_command_fails_the_step_after_importing_its_exports(recorded):
    recording = recorded["pysteps-fails"]
    assert recording["result"] == "FAILURE"
    assert recording["error"] == "pysteps validate failed with exit code 1"
    assert recording["env"] == {"partial": "kept"}


def test_azStep_runs_az_with_its_exports_and_variables(recorded):
    recording = recorded["azStep"]
    assert requests(recording) == [{"command": "az", "options": {"export": ["id|vmss_id", "sku.capacity|n?"],
                                                                 "name": "vmss-show"},
                                    "args": ["vmss", "show", "--name", "${vmss}"], "variables": {"vmss": "ss1"}}]
    assert recording["env"] == {"n": "2", "vmss_id": "/subscriptions/0/x/ss1"}


def test_bakeImage_maps_its_options_to_pysteps_bake(recorded):
    recording = recorded["bakeImage"]
    assert requests(recording) == [{
        "command": "bake",
        "options": {"roll": True, "dry-run": False, "plan-json": "plan.json", "config": "settings.yaml",
                    "keep-on-failure": False, "resume": None},
        "args": [], "variables": {"vmss_name": "ss1", "data_disk_sizes_gb": ["8", "16"]}}]
    assert recording["env"] == {"vmss_image": IMAGE}


def test_rollScaleSet_maps_its_options_to_pysteps_roll(recorded):
    assert requests(recorded["rollScaleSet"]) == [{
        "command": "roll",
        "options": {"rollback": True, "run": "RUN-1", "dry-run": False, "plan-json": None, "config": None,
                    "resume": None},
        "args": [], "variables": {"vmss_image": "img"}}]


def test_preloadData_passes_sources_then_destination(recorded):
    assert requests(recorded["preloadData"]) == [{
        "command": "preload",
        "options": {"concurrency": 8, "chunk-size": None, "include": ["*.parquet"], "exclude": [], "shard": "1/4"},
        "args": ["s3://b/p", "az://acct/c/p", "/data"], "variables": {}}]
    assert requests(recorded["preloadData-one-source"])[0]["args"] == ["s3://b/p", "/data"]


def test_syncS3ToAzure_binds_aws_and_storage_credentials_around_pysteps_sync(recorded):
    recording = recorded["syncS3ToAzure"]
    assert recording["result"] == "SUCCESS", recording["error"]
    assert only(recording, "withCredentials")["args"] == [
        {"$class": "AmazonWebServicesCredentialsBinding", "credentialsId": "aws-reader",
         "accessKeyVariable": "AWS_ACCESS_KEY_ID", "secretKeyVariable": "AWS_SECRET_ACCESS_KEY"},
        {"type": "string", "credentialsId": "blob-connection", "variable": "AZURE_STORAGE_CONNECTION_STRING"}]
    sh = only(recording, "sh")
    assert sh["args"]["script"] == EXEC
    assert {k: v for k, v in sh["env"].items() if k != "PYSTEPS_REQUEST"} == {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "aws/Secret+Key",
        "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountKey=a2V5"}
    (request,) = requests(recording)
    assert request["command"] == "sync" and request["args"] == ["s3://landing/daily", "az://acct/landing/daily"]
    assert request["options"] == {"since-last": True, "since": None, "overlap-minutes": None, "manifest": None,
                                  "concurrency": 16, "shard": None, "dry-run": False}
    assert "aws/Secret+Key" not in json.dumps(request)


def test_syncS3ToAzure_since_a_date_and_without_a_storage_credential(recorded):
    recording = recorded["syncS3ToAzure-since"]
    assert [b.get("credentialsId") for b in only(recording, "withCredentials")["args"]] == ["aws-reader"]
    options = requests(recording)[0]["options"]
    assert options["since-last"] is False and options["since"] == "2026-11-01T00:00:00Z"


def test_withAzureLogin_binds_the_service_principal_and_logs_in_from_a_helper(recorded):
    recording = recorded["withAzureLogin-service-principal"]
    assert recording["result"] == "SUCCESS", recording["error"]
    bindings = calls(recording, "withCredentials")
    assert bindings[0]["args"] == [{"type": "azureServicePrincipal", "credentialsId": "azure-sp"}]
    login, body = calls(recording, "sh")[:2]
    assert login["args"] == {"script": '"${PYSTEPS_PYTHON:-python3}" "$PYSTEPS_AZURE_LOGIN"', "label": "az login"}
    assert SP["clientSecret"] not in json.dumps([c["args"] for c in calls(recording, "sh")])
    config_dir = login["env"]["AZURE_CONFIG_DIR"]
    assert login["env"] == {
        "AZURE_CONFIG_DIR": config_dir, "PYSTEPS_AZURE_LOGIN": config_dir.replace("/config", "/azure-login.py"),
        "PYSTEPS_AZURE_CLOUD": "AzureCloud", "PYSTEPS_AZURE_RESOURCE_MANAGER": "",
        "PYSTEPS_AZURE_IDENTITY_CLIENT_ID": "", "AZURE_SUBSCRIPTION_ID": "sub-1", "AZURE_CLIENT_ID": SP["clientId"],
        "AZURE_CLIENT_SECRET": SP["clientSecret"], "AZURE_TENANT_ID": "tenant-1"}
    assert "@tmp/pysteps/azure-" in config_dir
    assert body["args"] == {"script": "az account show"} and body["env"] == login["env"]
    assert calls(recording, "libraryResource")[0]["args"] == "pysteps/azure-login.py"


def test_withAzureLogin_gives_each_login_its_own_config_dir_and_deletes_it(recorded):
    recording = recorded["withAzureLogin-service-principal"]
    logins = [c for c in calls(recording, "sh") if "PYSTEPS_AZURE_LOGIN" in c["args"]["script"]]
    first, second = (c["env"]["AZURE_CONFIG_DIR"] for c in logins)
    assert first != second
    assert [c["args"] for c in calls(recording, "dir")] == [first[:-len("/config")], second[:-len("/config")]]
    assert len(calls(recording, "deleteDir")) == 2


def test_withAzureLogin_masks_the_secret_in_the_log(recorded):
    log = "\n".join(recorded["withAzureLogin-service-principal"]["log"])
    assert "in body: ****" in log and SP["clientSecret"] not in log


def test_withAzureLogin_without_credentials_uses_the_managed_identity(recorded):
    recording = recorded["withAzureLogin-managed-identity"]
    assert only(recording, "withCredentials")["args"] == []
    login = calls(recording, "sh")[0]
    assert login["env"]["PYSTEPS_AZURE_IDENTITY_CLIENT_ID"] == "mi-client"
    assert login["env"]["PYSTEPS_AZURE_CLOUD"] == "AzureStackUser"
    assert login["env"]["PYSTEPS_AZURE_RESOURCE_MANAGER"] == "https://management.local.azurestack.external/"
    assert not any(name.startswith("AZURE_CLIENT") for name in login["env"])


def test_withAzureLogin_deletes_its_config_dir_when_the_login_fails(recorded):
    recording = recorded["withAzureLogin-login-fails"]
    assert recording["result"] == "FAILURE" and recording["error"] == "script returned exit code 1"
    assert [c["args"]["script"] for c in calls(recording, "sh")] == ['"${PYSTEPS_PYTHON:-python3}" '
                                                                     '"$PYSTEPS_AZURE_LOGIN"']
    assert len(calls(recording, "deleteDir")) == 1


def test_keyVaultSecret_reads_the_secret_with_pysteps_and_masks_it(recorded):
    recording = recorded["keyVaultSecret"]
    assert recording["result"] == "SUCCESS", recording["error"]
    read, body = calls(recording, "sh")
    assert read["args"] == {"script": '"${PYSTEPS_PYTHON:-python3}" -m pysteps secret get '
                                      '--vault="$PYSTEPS_SECRET_VAULT" --name="$PYSTEPS_SECRET_NAME" --reveal',
                            "returnStdout": True, "label": "read secret db-password"}
    assert read["env"] == {"PYSTEPS_SECRET_VAULT": "kv-app", "PYSTEPS_SECRET_NAME": "db-password"}
    assert only(recording, "wrap")["args"] == {"$class": "MaskPasswordsBuildWrapper",
                                               "varPasswordPairs": [{"var": "DB_PASSWORD", "password": "v@lue'$(x)"}]}
    assert body["env"] == {"DB_PASSWORD": "v@lue'$(x)"}
    assert "password is ****" in recording["log"] and "v@lue" not in "\n".join(recording["log"])
    assert "DB_PASSWORD" not in recording["env"]  # only in the body's scope


def test_installPysteps_installs_from_the_defaults_and_sets_PYSTEPS_PYTHON(recorded):
    recording = recorded["installPysteps"]
    sh = only(recording, "sh")
    assert sh["args"] == {"script": 'sh "$PYSTEPS_INSTALL_SCRIPT"', "label": "install pysteps"}
    folder = sh["env"]["PYSTEPS_INSTALL_SCRIPT"].rsplit("/", 1)[0]
    assert sh["env"] == {"PYSTEPS_INSTALL_SCRIPT": f"{folder}/install-pysteps.sh",
                         "PYSTEPS_REQUIREMENT": ".[az,sdk,storage]", "PYSTEPS_DEFAULT_VENV": ".pysteps/venv",
                         "PYSTEPS_INSTALL_OUTPUT": f"{folder}/install.properties"}
    assert recording["env"] == {"PYSTEPS_PYTHON": "/venv/bin/python"}
    requirement = only(recorded["installPysteps-requirement"], "sh")["env"]["PYSTEPS_REQUIREMENT"]
    assert requirement == "pysteps-azure[az]==0.1.0"


@pytest.mark.parametrize("case", ["azStep", "bakeImage", "rollScaleSet", "preloadData"])
def test_the_step_vars_run_pysteps_through_the_one_fixed_command(recorded, case):
    recording = recorded[case]
    assert recording["result"] == "SUCCESS", recording["error"]
    assert [c["step"] for c in recording["calls"]] == [case, "pysteps", "pwd", "writeFile", "withEnv", "sh",
                                                       "fileExists", "readProperties"]
    sh = only(recording, "sh")
    assert sh["args"] == {"script": EXEC, "returnStatus": True}
    assert sh["env"] == {"PYSTEPS_REQUEST": only(recording, "writeFile")["args"]["file"]}
    assert not calls(recording, "withCredentials")


def test_no_value_given_to_a_var_reaches_an_sh_script(recorded):
    scripts = {c["args"]["script"] for r in recorded.values() for c in calls(r, "sh")}
    allowed = {EXEC, '"${PYSTEPS_PYTHON:-python3}" "$PYSTEPS_AZURE_LOGIN"', 'sh "$PYSTEPS_INSTALL_SCRIPT"',
               '"${PYSTEPS_PYTHON:-python3}" -m pysteps secret get --vault="$PYSTEPS_SECRET_VAULT" '
               '--name="$PYSTEPS_SECRET_NAME" --reveal',
               "az account show", "az group list", "migrate"}  # the last three: bodies the cases wrote
    assert scripts <= allowed


# --- real shell: values cross /bin/sh and pysteps, and come back through exports.properties ----------------


FAKE_AZ = '''#!{python}
import json, sys
args = sys.argv[1:]
tags = dict(a.split("=", 1) for a in args[args.index("--tags") + 1:] if "=" in a and not a.startswith("--"))
print(json.dumps({{"name": args[args.index("--name") + 1], "tags": tags, "argv": args}}))
'''


def real_env(tmp_path: Path, **extra) -> dict:
    import os

    return {**os.environ, "PYSTEPS_PYTHON": sys.executable, **extra}


def test_hostile_values_arrive_verbatim_and_come_back_into_env(tmp_path):
    fake_az = tmp_path / "fake-az"
    fake_az.write_text(FAKE_AZ.format(python=sys.executable))
    fake_az.chmod(0o755)
    names = sorted(HOSTILE)
    args = ["group", "create", "--name", "${DASHES}", "--tags", *[f"{n}=${{{n}}}" for n in names]]
    script = ("azStep(args: " + json.dumps(args).replace("$", "\\$") + ", exports: "
              + json.dumps([f"tags.{n}|OUT_{n}" for n in names]) + ", variables: params)")
    recording = run_case({"name": "injection", "sh": "real", "params": HOSTILE, "script": script,
                          "env": real_env(tmp_path, PYSTEPS_RUNNER="subprocess", PYSTEPS_AZ=str(fake_az))},
                         tmp_path)
    assert recording["result"] == "SUCCESS", "\n".join(recording["log"][-30:])
    workspace = tmp_path / "injection" / "workspace"
    assert {name: recording["env"][f"OUT_{name}"] for name in names} == HOSTILE
    assert not list(workspace.glob("CANARY*")) and not list(Path.cwd().glob("CANARY*"))
    run = json.loads(next(workspace.parent.glob("workspace@tmp/pysteps/*/run.json")).read_text())
    assert run["steps"][0]["argv"][:4] == ["group", "create", "--name", "--help"]


def test_a_real_pysteps_failure_fails_the_build_with_its_exit_code(tmp_path):
    recording = run_case({"name": "failure", "sh": "real", "env": real_env(tmp_path),
                          "script": "pysteps(command: 'validate', args: ['no-such-plan.json'])"}, tmp_path)
    assert recording["result"] == "FAILURE"
    assert recording["error"] == "pysteps validate failed with exit code 2"
    assert any("no-such-plan.json" in line and "does not exist" in line for line in recording["log"])


FAKE_PYTHON = '''#!{python}
import json, os, sys
with open({log!r}, "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "secret_in_env": os.environ.get("AZURE_CLIENT_SECRET")}}) + "\\n")
if sys.argv[1:3] == ["-m", "pysteps"]:
    print("kv $(secret) `value`")
'''


def fake_python(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "fake-python.log"
    python = tmp_path / "fake-python"
    python.write_text(FAKE_PYTHON.format(python=sys.executable, log=str(log)))
    python.chmod(0o755)
    return python, log


def test_keyVaultSecret_hands_the_value_to_the_body_masked_over_a_real_shell(tmp_path):
    python, log = fake_python(tmp_path)
    recording = run_case({
        "name": "secret", "sh": "real", "env": real_env(tmp_path, PYSTEPS_PYTHON=str(python)),
        "params": {"VAULT": "kv-app; touch CANARY", "NAME": "$(touch CANARY)"},
        "script": "keyVaultSecret(vault: params.VAULT, name: params.NAME, variable: 'DB_PASSWORD') { "
                  "sh 'printf %s \"$DB_PASSWORD\" > seen.txt; echo \"seen: $DB_PASSWORD\"' }"}, tmp_path)
    assert recording["result"] == "SUCCESS", "\n".join(recording["log"])
    workspace = tmp_path / "secret" / "workspace"
    assert (workspace / "seen.txt").read_text() == "kv $(secret) `value`"
    (call,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert call["argv"] == ["-m", "pysteps", "secret", "get", "--vault=kv-app; touch CANARY",
                            "--name=$(touch CANARY)", "--reveal"]
    text = "\n".join(recording["log"])
    assert "seen: ****" in text and "kv $(secret)" not in text
    assert not list(workspace.glob("CANARY*"))


def test_withAzureLogin_keeps_the_secret_off_every_command_line(tmp_path):
    python, log = fake_python(tmp_path)
    recording = run_case({
        "name": "login", "sh": "real", "env": real_env(tmp_path, PYSTEPS_PYTHON=str(python)),
        "credentials": CREDENTIALS,
        "script": "withAzureLogin(credentialsId: 'azure-sp') { sh 'test -d \"$AZURE_CONFIG_DIR\" || mkdir -p "
                  "\"$AZURE_CONFIG_DIR\"; echo \"$AZURE_CONFIG_DIR\" > config-dir.txt' }"}, tmp_path)
    assert recording["result"] == "SUCCESS", "\n".join(recording["log"])
    (call,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert call["argv"][0].endswith("/azure-login.py") and len(call["argv"]) == 1
    assert call["secret_in_env"] == SP["clientSecret"]
    assert SP["clientSecret"] not in "\n".join(recording["log"])
    workspace = tmp_path / "login" / "workspace"
    config_dir = Path((workspace / "config-dir.txt").read_text().strip())
    assert config_dir.is_relative_to(Path(str(workspace) + "@tmp")) and not config_dir.exists()
