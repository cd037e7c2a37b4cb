"""The canary: a random secret planted in a sandbox vault must never show up anywhere it was not sent.

Every command that touches secrets runs against it (and the Jenkins var keyVaultSecret, in the
Groovy harness over a real shell); then all their output, every file written under the test's
folders (HOME, TMPDIR, the working and run directories, and the whole sandbox state with az's
configuration), and the argv of every process seen meanwhile are searched for it. Only the 0600
destination file, `--reveal`'s stdout and the program started by `secret exec` (its environment)
may hold it.
"""

from __future__ import annotations

import hashlib
import stat
import sys
import uuid
from pathlib import Path

import pytest
from access_support import ArgvWatcher, clean_env, create_vault, put_secret, run_pysteps

pytestmark = pytest.mark.sandbox

SLEEPER = ("import hashlib, os, sys, time; time.sleep(1.0); "
           "print(hashlib.sha256(os.environ['CANARY'].encode()).hexdigest())")


def files_holding(folder: Path, needle: bytes, *, skip: set[Path] = frozenset()) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        if path in skip or path.is_symlink() or not path.is_file():
            continue
        try:
            if needle in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def canary(sandbox):
    """A vault holding secret `canary`, whose value is random: (vault name, vault URI, value)."""
    group = f"canary-{uuid.uuid4().hex[:6]}"
    sandbox.az("group", "create", "--name", group, "--location", "westeurope")
    vault = f"kvcanary{uuid.uuid4().hex[:8]}"
    uri = create_vault(sandbox, group, vault, rbac=True)
    value = "canary-" + uuid.uuid4().hex + uuid.uuid4().hex
    put_secret(sandbox, uri, "canary", value)
    yield vault, uri, value
    sandbox.az("group", "delete", "--name", group, "--yes", check=False)


def test_the_canary_never_leaks(sandbox, canary, tmp_path):
    check_every_command(sandbox, tmp_path, *canary)


def test_the_canary_never_leaks_from_the_keyVaultSecret_var(sandbox, canary, tmp_path):
    """The Jenkins var over a real shell (tests/groovy harness). The harness's recordings.json keeps what
    Jenkins steps received in memory (the mask wrapper's password, the body's environment): not scanned."""
    from jenkins_harness import run_case

    vault, _, value = canary
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    env = clean_env(sandbox.env, {"HOME": str(home), "TMPDIR": str(temp), "PYSTEPS_PYTHON": sys.executable})
    script = ("keyVaultSecret(vault: params.VAULT, name: params.NAME, variable: 'DB_PASSWORD') { "
              "sh 'printf %s \"$DB_PASSWORD\" | sha256sum > seen.txt; echo \"seen: $DB_PASSWORD\"' }")
    with ArgvWatcher() as watcher:
        recording = run_case({"name": "canary", "sh": "real", "env": env, "params": {"VAULT": vault, "NAME": "canary"},
                              "script": script}, tmp_path / "jenkins")
    log = "\n".join(recording["log"])
    assert recording["result"] == "SUCCESS", log
    workspace = tmp_path / "jenkins" / "canary" / "workspace"
    assert (workspace / "seen.txt").read_text().split()[0] == hashlib.sha256(value.encode()).hexdigest()
    assert "seen: ****" in log and value not in log
    needle = value.encode()
    assert files_holding(tmp_path, needle, skip={tmp_path / "jenkins" / "recordings.json"}) == []
    assert any(b"secret\x00get" in argv for _, argv in watcher.seen)  # the watcher saw pysteps run
    assert [argv for _, argv in watcher.seen if needle in argv] == []


def check_every_command(sandbox, tmp_path: Path, vault: str, uri: str, canary: str) -> None:
    work, home, temp, run_dir = (tmp_path / name for name in ("work", "home", "tmp", "run"))
    for folder in (work, home, temp):
        folder.mkdir()
    env = clean_env(sandbox.env, {"HOME": str(home), "TMPDIR": str(temp), "PYSTEPS_RUN_DIR": str(run_dir)})
    destination = work / "canary.secret"
    outputs: dict[str, str] = {}

    def run(label: str, *args: str, expect: int = 0, extra_env: dict | None = None) -> str:
        done = run_pysteps(*args, env=clean_env(env, extra_env or {}), cwd=work)
        assert done.returncode == expect, f"{label}: {done.stderr}"
        outputs[f"{label} (stderr)"] = done.stderr
        return done.stdout

    with ArgvWatcher() as watcher:
        outputs["get --to-file"] = run("get --to-file", "secret", "get", "--vault", vault, "--name", "canary",
                                       "--to-file", str(destination))
        outputs["get by URI, az login"] = run("get by URI, az login", "secret", "get", "--vault", uri, "--name",
                                              "canary", "--to-file", str(destination), "--auth", "az-login",
                                              extra_env={"PYSTEPS_RUNNER": "subprocess"})
        revealed = run("get --reveal", "secret", "get", "--vault", vault, "--name", "canary", "--reveal")
        outputs["exec"] = run("exec", "secret", "exec", "--env", f"CANARY={vault}/canary", "--", sys.executable,
                              "-c", SLEEPER, "canary-watch-marker")
        outputs["exec, one missing"] = run("exec, one missing", "secret", "exec", "--env", f"CANARY={vault}/canary",
                                           "--env", f"OTHER={vault}/missing", "--", "true", expect=3)
        outputs["search"] = run("search", "secret", "search", "--name", "canary")
        outputs["search --json"] = run("search --json", "secret", "search", "--name", "canary", "--json")
        for runner in ("inprocess", "subprocess"):  # a pipeline step exporting the secret
            outputs[f"az step ({runner})"] = run(
                f"az step ({runner})", "az", "--runner", runner, "--quiet", "--log-format", "json",
                "--secret-export", "value|DB_PASSWORD", "--plan-json", str(run_dir / "plan.json"), "--",
                "keyvault", "secret", "show", "--id", f"{uri}secrets/canary")
        for fmt in ("shell", "json", "properties"):
            outputs[f"env {fmt}"] = run(f"env {fmt}", "env", "--format", fmt)

    assert revealed == canary + "\n"  # where revealing is the point
    assert destination.read_text() == canary and stat.S_IMODE(destination.stat().st_mode) == 0o600
    assert outputs["exec"].strip() == hashlib.sha256(canary.encode()).hexdigest()  # the program had it

    assert [label for label, text in outputs.items() if canary in text] == []
    needle = canary.encode()
    assert files_holding(tmp_path, needle, skip={destination}) == []
    assert files_holding(sandbox.sandbox.state_dir, needle) == []
    assert any(b"canary-watch-marker" in argv for _, argv in watcher.seen)  # the watcher saw the program
    assert [argv for _, argv in watcher.seen if needle in argv] == []
    assert (run_dir / "run.json").exists() and (run_dir / "plan.json").exists()
