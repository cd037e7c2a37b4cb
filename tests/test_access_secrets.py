"""`pysteps secret get | exec | search` against the sandbox's ARM and Key Vault, and their units."""

from __future__ import annotations

import hashlib
import json
import stat
import sys
import uuid

import pytest
from access_support import (
    FakeEntraId,
    clean_env,
    create_vault,
    error_lines,
    put_secret,
    run_pysteps,
)

from pysteps.access.cloud import ARM_ENDPOINT_ENV, arm_endpoint, az_cloud
from pysteps.access.credentials import login
from pysteps.access.secrets import SecretRef, check_destination, write_secret_file
from pysteps.engine.errors import UsageError

SP_CLIENT_ID = "5e1f0c4e-0000-4000-8000-00000000c11e"
SP_OBJECT_ID = "5e1f0c4e-0000-4000-8000-0000000000b1"
SP_SECRET = "sp-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def kv(sandbox):
    """Vaults in their own group: `open` (RBAC) holds db-password in two versions, `empty` (RBAC) holds
    nothing, `closed` admits no one, `sp_only` admits only the test's service principal."""
    group = f"access-{uuid.uuid4().hex[:6]}"
    sandbox.az("group", "create", "--name", group, "--location", "westeurope")
    suffix = uuid.uuid4().hex[:6]
    names = {role: f"kv{role.replace('_', '')}{suffix}" for role in ("open", "empty", "closed", "sp_only")}
    uris = {"open": create_vault(sandbox, group, names["open"], rbac=True),
            "empty": create_vault(sandbox, group, names["empty"], rbac=True),
            "closed": create_vault(sandbox, group, names["closed"], rbac=False),
            "sp_only": create_vault(sandbox, group, names["sp_only"], rbac=True)}
    old_value, value, sp_value = ("old-" + uuid.uuid4().hex, "current-" + uuid.uuid4().hex,
                                  "sp-" + uuid.uuid4().hex)
    old_version = put_secret(sandbox, uris["open"], "db-password", old_value)
    put_secret(sandbox, uris["open"], "db-password", value)
    put_secret(sandbox, uris["sp_only"], "app-key", sp_value)
    create_vault(sandbox, group, names["sp_only"], rbac=False, readers=(SP_OBJECT_ID,))  # now only the SP reads
    yield {"group": group, "names": names, "uris": uris, "value": value, "old_value": old_value,
           "old_version": old_version, "sp_value": sp_value, "env": clean_env(sandbox.env)}
    sandbox.az("group", "delete", "--name", group, "--yes", check=False)


# --- get ------------------------------------------------------------------------------------------

@pytest.mark.sandbox
def test_get_to_a_0600_file_and_reveal(kv, tmp_path):
    open_vault = kv["names"]["open"]
    done = run_pysteps("secret", "get", "--vault", open_vault, "--name", "db-password", "--to-file", "db.secret",
                       env=kv["env"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    target = tmp_path / "db.secret"
    assert target.read_text() == kv["value"]  # exactly the value: no newline added
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert kv["value"] not in done.stdout + done.stderr
    assert "written to db.secret (mode 0600)" in done.stderr

    revealed = run_pysteps("secret", "get", "--vault", kv["uris"]["open"], "--name", "db-password", "--reveal",
                           env=kv["env"], cwd=tmp_path)
    assert revealed.returncode == 0 and revealed.stdout == kv["value"] + "\n"

    old = run_pysteps("secret", "get", "--vault", open_vault, "--name", "db-password", "--version",
                      kv["old_version"], "--reveal", env=kv["env"], cwd=tmp_path)
    assert old.stdout == kv["old_value"] + "\n"


@pytest.mark.sandbox
def test_get_needs_a_destination(kv, tmp_path):
    done = run_pysteps("secret", "get", "--vault", kv["names"]["open"], "--name", "db-password", env=kv["env"],
                       cwd=tmp_path)
    assert done.returncode == 2 and "one of the arguments --to-file --reveal is required" in done.stderr
    assert done.stdout == ""


@pytest.mark.sandbox
def test_to_file_replaces_only_a_private_regular_file(kv, tmp_path):
    args = ("secret", "get", "--vault", kv["names"]["open"], "--name", "db-password", "--to-file")
    loose = tmp_path / "loose"
    loose.write_text("keep")
    loose.chmod(0o644)
    done = run_pysteps(*args, str(loose), env=kv["env"], cwd=tmp_path)
    assert done.returncode == 2 and loose.read_text() == "keep"
    assert error_lines(done) == [f"pysteps: error: --to-file {loose}: has mode 0644: expected 0600 or stricter "
                                 "(remove it, or chmod 600 it, first)"]

    target = tmp_path / "target"
    target.write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(target)
    done = run_pysteps(*args, str(link), env=kv["env"], cwd=tmp_path)
    assert done.returncode == 2 and "is a symbolic link" in error_lines(done)[0]
    assert link.is_symlink() and target.read_text() == "keep"

    done = run_pysteps(*args, str(tmp_path / "no" / "such" / "file"), env=kv["env"], cwd=tmp_path)
    assert done.returncode == 2 and "does not exist" in error_lines(done)[0]

    private = tmp_path / "private"
    private.write_text("old")
    private.chmod(0o600)
    done = run_pysteps(*args, str(private), env=kv["env"], cwd=tmp_path)
    assert done.returncode == 0 and private.read_text() == kv["value"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "loose", "private", "target"]  # no temp left


@pytest.mark.sandbox
def test_missing_secret_missing_vault_and_denied_access(kv, sandbox, tmp_path):
    env = kv["env"]
    open_vault, closed = kv["names"]["open"], kv["names"]["closed"]

    missing = run_pysteps("secret", "get", "--vault", open_vault, "--name", "no-such-secret", "--reveal",
                          env=env, cwd=tmp_path)
    assert missing.returncode == 3 and missing.stdout == ""
    assert error_lines(missing) == [f"pysteps: error: secret 'no-such-secret' not found in vault '{open_vault}' "
                                    f"({kv['uris']['open']}): expected an existing, enabled secret"]
    old_version = run_pysteps("secret", "get", "--vault", open_vault, "--name", "db-password", "--version",
                              "0" * 32, "--reveal", env=env, cwd=tmp_path)
    assert old_version.returncode == 3 and f"version {'0' * 32} not found" in error_lines(old_version)[0]

    no_vault = run_pysteps("secret", "get", "--vault", "kvnosuchvault1", "--name", "db-password", "--reveal",
                           env=env, cwd=tmp_path)
    assert no_vault.returncode == 4
    assert error_lines(no_vault) == [
        "pysteps: error: vault 'kvnosuchvault1' not found: no vault of that name is listed in subscription "
        f"{sandbox.subscription}, and kvnosuchvault1.vault.sandbox.invalid does not resolve; expected the name of "
        "an existing vault, or its URI"]

    denied = run_pysteps("secret", "get", "--vault", closed, "--name", "db-password", "--reveal", env=env,
                         cwd=tmp_path)
    assert denied.returncode == 5 and denied.stdout == ""
    [line] = error_lines(denied)
    assert line.startswith(f"pysteps: error: access denied to secret 'db-password' in vault '{closed}'")
    assert "for the managed identity" in line and "does not have secrets get permission" in line


@pytest.mark.sandbox
def test_bad_input_is_refused_before_anything_is_read(kv, tmp_path):
    cases = [
        (("--vault", "kv_bad!", "--name", "x"), "vault name 'kv_bad!': expected 3 to 24 letters"),
        (("--vault", "http://127.0.0.1:1/", "--name", "x"), "expected a vault name or an https:// URI"),
        (("--vault", kv["names"]["open"], "--name", "bad name"), "secret name 'bad name': expected 1 to 127"),
        (("--vault", kv["names"]["open"], "--name", "x", "--version", "../x"), "secret version '../x'"),
    ]
    for args, expected in cases:
        done = run_pysteps("secret", "get", *args, "--reveal", env=kv["env"], cwd=tmp_path)
        assert done.returncode == 2 and expected in error_lines(done)[0], done.stderr


@pytest.mark.sandbox
def test_an_unreachable_vault_uri_is_its_own_failure(kv, tmp_path):
    done = run_pysteps("secret", "get", "--vault", "https://127.0.0.1:9/", "--name", "x", "--reveal",
                       env=kv["env"], cwd=tmp_path)
    assert done.returncode == 1
    assert error_lines(done)[0].startswith("pysteps: error: cannot reach vault 'https://127.0.0.1:9/' at "
                                           "https://127.0.0.1:9/:")


# --- exec -----------------------------------------------------------------------------------------

PRINT_ENV = ("import hashlib, os, sys; print(sys.argv[1:]); "
             "print({k: hashlib.sha256(os.environ[k].encode()).hexdigest() for k in ('DB_PASSWORD', 'OLD')})")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.sandbox
def test_exec_starts_the_program_with_secrets_in_its_environment(kv, tmp_path):
    open_vault, uri = kv["names"]["open"], kv["uris"]["open"]
    done = run_pysteps("secret", "exec", "--env", f"DB_PASSWORD={open_vault}/db-password",
                       "--env", f"OLD={uri}secrets/db-password/{kv['old_version']}", "--",
                       sys.executable, "-c", PRINT_ENV, "--flag", "arg", env=kv["env"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    argv, hashes = done.stdout.splitlines()
    assert argv == "['--flag', 'arg']"
    assert hashes == str({"DB_PASSWORD": sha(kv["value"]), "OLD": sha(kv["old_value"])})


@pytest.mark.sandbox
def test_exec_passes_the_program_exit_code_and_refuses_bad_input(kv, tmp_path):
    ref = f"DB_PASSWORD={kv['names']['open']}/db-password"
    exited = run_pysteps("secret", "exec", "--env", ref, "--", sys.executable, "-c", "raise SystemExit(42)",
                         env=kv["env"], cwd=tmp_path)
    assert exited.returncode == 42
    not_found = run_pysteps("secret", "exec", "--env", ref, "--", "no-such-program-xyz", env=kv["env"], cwd=tmp_path)
    assert not_found.returncode == 127 and "command 'no-such-program-xyz' not found" in error_lines(not_found)[0]
    cases = [
        (("--env", ref), "no command given"),
        (("--env", "DB_PASSWORD", "--", "true"), "expected NAME=VAULT/SECRET[/VERSION]"),
        (("--env", "1X=kv/x", "--", "true"), "invalid variable name '1X'"),
        (("--env", "X=kvonly", "--", "true"), "secret reference 'kvonly': expected VAULT/NAME[/VERSION]"),
        (("--env", ref, "--env", ref, "--", "true"), "--env DB_PASSWORD: given twice"),
    ]
    for args, expected in cases:
        done = run_pysteps("secret", "exec", *args, env=kv["env"], cwd=tmp_path)
        assert done.returncode == 2 and expected in error_lines(done)[0], done.stderr
    marker = tmp_path / "started"
    missing = run_pysteps("secret", "exec", "--env", f"X={kv['names']['open']}/nope", "--", "touch", str(marker),
                          env=kv["env"], cwd=tmp_path)
    assert missing.returncode == 3 and not marker.exists()  # the program never starts without all its secrets


# --- search ---------------------------------------------------------------------------------------

@pytest.mark.sandbox
def test_search_reports_found_missing_and_unreadable_vaults(kv, tmp_path):
    names = kv["names"]
    done = run_pysteps("secret", "search", "--name", "db-password", env=kv["env"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = [line.split("\t") for line in done.stdout.splitlines()]
    assert [row[0] for row in found if row[0] in names.values()] == [names["open"]]
    assert kv["value"] not in done.stdout + done.stderr
    assert f"pysteps: vault {names['closed']} unreadable: access denied" in done.stderr

    as_json = run_pysteps("secret", "search", "--name", "db-password", "--json", env=kv["env"], cwd=tmp_path)
    report = json.loads(as_json.stdout)
    assert [f["vault"] for f in report["found"] if f["vault"] in names.values()] == [names["open"]]
    assert names["empty"] in report["missing"]
    unreadable = {u["vault"]: u["reason"] for u in report["unreadable"]}
    assert {names["closed"], names["sp_only"]} <= set(unreadable)
    assert "does not have secrets get permission" in unreadable[names["closed"]]

    nowhere = run_pysteps("secret", "search", "--name", "nowhere-" + uuid.uuid4().hex[:8], env=kv["env"],
                          cwd=tmp_path)
    assert nowhere.returncode == 3 and "not found in the" in error_lines(nowhere)[0]
    assert "unreadable)" in error_lines(nowhere)[0]


@pytest.mark.sandbox
def test_search_needs_a_subscription(kv, tmp_path):
    env = clean_env(kv["env"], {"AZURE_CONFIG_DIR": str(tmp_path / "no-az")}, drop=("AZURE_SUBSCRIPTION_ID",))
    done = run_pysteps("secret", "search", "--name", "db-password", "--arm-endpoint",
                       kv["env"]["PYSTEPS_SANDBOX_ARM"], env=env, cwd=tmp_path)
    assert done.returncode == 2 and "no subscription to list vaults in" in error_lines(done)[0]


# --- identities -----------------------------------------------------------------------------------

@pytest.mark.sandbox
def test_az_login_identity(kv, tmp_path):
    done = run_pysteps("secret", "get", "--auth", "az-login", "--vault", kv["names"]["open"], "--name",
                       "db-password", "--reveal", env=kv["env"], cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == kv["value"] + "\n", done.stderr


@pytest.mark.sandbox
def test_service_principal_from_the_environment(kv, sandbox, tmp_path):
    sp_vault = kv["names"]["sp_only"]
    with FakeEntraId(sandbox, SP_CLIENT_ID, SP_SECRET, SP_OBJECT_ID) as entra:
        sp_env = {"AZURE_CLIENT_ID": SP_CLIENT_ID, "AZURE_CLIENT_SECRET": SP_SECRET, "AZURE_AUTHORITY_HOST": entra.url,
                  "AZURE_TENANT_ID": sandbox.sandbox.settings()["tenant"]}
        env = clean_env(kv["env"], sp_env)
        done = run_pysteps("secret", "get", "--vault", sp_vault, "--name", "app-key", "--reveal", env=env,
                           cwd=tmp_path)  # auto: the service principal comes first
        assert done.returncode == 0 and done.stdout == kv["sp_value"] + "\n", done.stderr
        assert entra.token_requests and {r["grant_type"] for r in entra.token_requests} == {"client_credentials"}
        assert SP_SECRET not in done.stdout + done.stderr

        as_mi = run_pysteps("secret", "get", "--auth", "managed-identity", "--vault", sp_vault, "--name", "app-key",
                            "--reveal", env=env, cwd=tmp_path)
        assert as_mi.returncode == 5  # the vault admits the service principal only

        wrong = clean_env(env, {"AZURE_CLIENT_SECRET": "wrong-secret"})
        refused = run_pysteps("secret", "get", "--vault", sp_vault, "--name", "app-key", "--reveal", env=wrong,
                              cwd=tmp_path)
        assert refused.returncode == 6
        assert error_lines(refused)[0].startswith(f"pysteps: error: no token from service principal {SP_CLIENT_ID}")
        assert "wrong-secret" not in refused.stderr

    unset = run_pysteps("secret", "get", "--auth", "service-principal", "--vault", sp_vault, "--name", "app-key",
                        "--reveal", env=kv["env"], cwd=tmp_path)
    assert unset.returncode == 2 and "AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID not set" in unset.stderr


@pytest.mark.sandbox
def test_a_refused_managed_identity_is_an_authentication_failure(kv, tmp_path):
    env = clean_env(kv["env"], {"IDENTITY_HEADER": "wrong"})
    done = run_pysteps("secret", "get", "--vault", kv["uris"]["open"], "--name", "db-password", "--reveal",
                       env=env, cwd=tmp_path)
    assert done.returncode == 6 and error_lines(done)[0].startswith("pysteps: error: no token from the managed "
                                                                     "identity")


# --- units ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("kv-app/db-password", SecretRef("kv-app", "db-password")),
    ("kv-app/db-password/abc123", SecretRef("kv-app", "db-password", "abc123")),
    ("https://kv-app.vault.azure.net/db-password", SecretRef("https://kv-app.vault.azure.net/", "db-password")),
    ("https://127.0.0.1:8443/secrets/db-password/abc", SecretRef("https://127.0.0.1:8443/", "db-password", "abc")),
])
def test_secret_references(text, expected):
    assert SecretRef.parse(text) == expected


@pytest.mark.parametrize("text", ["kv-app", "kv-app/", "kv-app/a/b/c", "https://kv.vault.azure.net/", "/name",
                                  "kv//name"])
def test_bad_secret_references(text):
    with pytest.raises(UsageError):
        SecretRef.parse(text)


def test_secret_values_never_show_in_repr():
    from pysteps.access.secrets import Secret

    assert "hunter2" not in repr(Secret("kv", "https://kv/", "db", "1", value="hunter2"))


def test_write_secret_file_creates_0600_and_refuses_looser_files(tmp_path):
    target = write_secret_file(tmp_path / "s", "v")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_text() == "v"
    write_secret_file(target, "w")
    assert target.read_text() == "w"
    target.chmod(0o640)
    with pytest.raises(UsageError, match="has mode 0640"):
        write_secret_file(target, "x")
    (tmp_path / "dir").mkdir()
    with pytest.raises(UsageError, match="is not a regular file"):
        check_destination(tmp_path / "dir")


def test_the_cloud_comes_from_az_configuration(tmp_path, monkeypatch):
    for name in ("AZURE_CLOUD_NAME", ARM_ENDPOINT_ENV):
        monkeypatch.delenv(name, raising=False)
    assert az_cloud(tmp_path).arm_endpoint == "https://management.azure.com/"
    assert az_cloud(tmp_path).keyvault_dns_suffix == "vault.azure.net"
    (tmp_path / "config").write_text("[cloud]\nname = mine\n")
    (tmp_path / "clouds.config").write_text("[mine]\nendpoint_resource_manager = https://127.0.0.1:9/\n"
                                            "suffix_keyvault_dns = .vault.example\nsubscription = sub-1\n")
    cloud = az_cloud(tmp_path)
    assert (cloud.arm_endpoint, cloud.keyvault_dns_suffix, cloud.subscription) == ("https://127.0.0.1:9/",
                                                                                  "vault.example", "sub-1")
    assert arm_endpoint(None, cloud) == "https://127.0.0.1:9"
    monkeypatch.setenv(ARM_ENDPOINT_ENV, "https://arm.example/")
    assert arm_endpoint(None, cloud) == "https://arm.example"
    assert arm_endpoint("https://option.example", cloud) == "https://option.example"
    with pytest.raises(UsageError, match="is not an https URL"):
        arm_endpoint("http://insecure.example", cloud)
    monkeypatch.setenv("AZURE_CLOUD_NAME", "AzureChinaCloud")
    assert az_cloud(tmp_path).keyvault_dns_suffix == "vault.azure.cn"


def test_auto_identity_order(tmp_path, monkeypatch):
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "IDENTITY_ENDPOINT", "MSI_ENDPOINT",
                 "IMDS_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path))
    assert login().description.startswith("the managed identity (IMDS")
    (tmp_path / "azureProfile.json").write_text(json.dumps({"subscriptions": [{"id": "s"}]}))
    assert login().description == "the current az login"
    monkeypatch.setenv("IDENTITY_ENDPOINT", "https://127.0.0.1:1/msi")
    monkeypatch.setenv("IDENTITY_HEADER", "h")
    assert login().description == "the managed identity"
    for name, value in (("AZURE_CLIENT_ID", "c"), ("AZURE_CLIENT_SECRET", "s"), ("AZURE_TENANT_ID", "t")):
        monkeypatch.setenv(name, value)
    assert login().description == "service principal c (AZURE_CLIENT_ID)"
    assert login("az-login").description == "the current az login"


def test_the_cli_is_registered():
    from pysteps.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["secret", "get", "--vault", "v", "--name", "n", "--reveal"]).action == "get"
    assert parser.parse_args(["self-destroy", "--dry-run"]).dry_run is True
