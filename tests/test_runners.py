"""The runners against the real Azure CLI, on commands that need no Azure."""

import sys
from pathlib import Path

import pytest

from pysteps.engine import runners
from pysteps.engine.errors import UsageError
from pysteps.engine.retry import is_transient
from pysteps.engine.runners import AzCallFailed, InProcessRunner, SubprocessRunner, make_runner


@pytest.fixture(params=["inprocess", "subprocess"])
def runner(request, monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    return InProcessRunner() if request.param == "inprocess" else SubprocessRunner()


def test_both_runners_return_the_same_parsed_output(runner):
    output = runner.run(["cloud", "show", "--name", "AzureCloud", "--query", "{name: name, active: isActive}"])
    assert output.value == {"name": "AzureCloud", "active": True}


def test_warnings_are_collected_on_every_call(runner):
    for _ in range(2):
        output = runner.run(["account", "list"])
        assert output.value == []
        assert output.warnings == ['Please run "az login" to access your accounts.']


def test_argument_errors_are_permanent_with_az_message(runner):
    with pytest.raises(AzCallFailed) as caught:
        runner.run(["group", "show", "--nme", "x"])
    assert caught.value.message == "the following arguments are required: --name/-n/--resource-group/-g"
    assert not is_transient(caught.value)


def test_not_logged_in_is_permanent(runner):
    with pytest.raises(AzCallFailed) as caught:
        runner.run(["group", "show", "--name", "x"])
    assert caught.value.message == "Please run 'az login' to setup account."
    assert not is_transient(caught.value)


def test_runner_choice(monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    assert make_runner("dry-run").executes is False
    assert make_runner(None, dry_run=True).name == "dry-run"
    monkeypatch.setenv("PYSTEPS_RUNNER", "subprocess")
    assert make_runner(None).name == "subprocess"
    monkeypatch.setenv("PYSTEPS_RUNNER", "fast")
    with pytest.raises(UsageError, match="unknown runner 'fast': expected one of auto, inprocess"):
        make_runner(None)


def test_inprocess_without_azure_cli_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(runners, "inprocess_available", lambda: False)
    with pytest.raises(UsageError, match="azure-cli is not installed in this Python"):
        InProcessRunner()
    monkeypatch.delenv("PYSTEPS_RUNNER", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UsageError, match="az not found on PATH"):
        make_runner("auto")  # falls back to subprocess, which needs az on PATH


@pytest.mark.parametrize("argv", [["cloud", "show", "--name", "AzureCloud"], ["cloud", "show", "--name=AzureCloud"]])
def test_subprocess_runner_keeps_secrets_off_the_command_line(monkeypatch, argv):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    seen = []
    real_run = runners.subprocess.run

    def spy(command, **kwargs):
        seen.append(list(command))
        files = [a.split("@", 1)[1] for a in command if "@/" in a]
        seen.append([oct(Path(f).stat().st_mode & 0o777) for f in files])
        return real_run(command, **kwargs)

    monkeypatch.setattr(runners.subprocess, "run", spy)
    output = SubprocessRunner().run(argv, secrets={"AzureCloud"})
    assert output.value["name"] == "AzureCloud"  # az read the value from the @file
    assert not any("AzureCloud" in arg for arg in seen[0])
    assert seen[1] == ["0o600"]
    assert not any(Path(a.split("@", 1)[1]).exists() for a in seen[0] if "@/" in a)
