import json
import subprocess
from pathlib import Path

import pytest

from pysteps.engine.errors import UsageError
from pysteps.engine.rundir import RunDir, RunState

SUPPORT = Path(__file__).parent / "support"
AWKWARD = {
    "plain": "abc",
    "quotes": "it's \"quoted\"",
    "shell": "$(id) `id` '; rm -rf / # ${HOME}",
    "multiline": "line one\nline two\n",
    "props": "a=b:c #d !e \\f",
    "leading": "  spaced",
    "unicode": "größe 数据 🚀",
    "empty": "",
}


def committed(tmp_path, exports) -> RunDir:
    run_dir = RunDir(tmp_path / "run")
    state = RunState()
    state.record({"step": "s"}, exports, secret=set(), placeholder=False)
    run_dir.commit(state)
    return run_dir


def test_env_file_loads_verbatim_in_a_shell(tmp_path):
    run_dir = committed(tmp_path, AWKWARD)
    script = f"set -a; . '{run_dir.path / 'exports.env'}'; set +a; " + "; ".join(
        f"printf '%s\\0' \"${name}\"" for name in AWKWARD
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    assert out.decode().split("\0")[:-1] == list(AWKWARD.values())


def test_properties_file_loads_verbatim_in_java(tmp_path):
    run_dir = committed(tmp_path, AWKWARD)
    out = subprocess.run(["java", str(SUPPORT / "ReadProperties.java"), str(run_dir.path / "exports.properties")],
                         capture_output=True, text=True, check=True).stdout
    loaded = dict(
        (bytes.fromhex(k).decode(), bytes.fromhex(v).decode())
        for k, v in (line.split("\t") for line in out.splitlines())
    )
    assert loaded == AWKWARD


def test_state_round_trips_and_secrets_stay_out(tmp_path):
    run_dir = RunDir(tmp_path / "run")
    state = RunState()
    state.record({"step": "a"}, {"image": "id-1", "password": "hunter2-secret"}, secret={"password"},
                 placeholder=False)
    run_dir.commit(state)
    for name in ("run.json", "exports.env", "exports.properties"):
        assert "hunter2-secret" not in (run_dir.path / name).read_text()
    loaded = run_dir.load()
    assert loaded.exports == {"image": "id-1"}
    assert loaded.secret_names == {"password"}
    assert [s["step"] for s in loaded.steps] == ["a"]


def test_no_temporary_files_are_left_behind(tmp_path):
    run_dir = committed(tmp_path, {"a": "1"})
    assert sorted(p.name for p in run_dir.path.iterdir()) == ["exports.env", "exports.properties", "run.json"]


def test_a_missing_run_dir_is_an_empty_run_and_is_not_created(tmp_path):
    assert RunDir(tmp_path / "nothing").load().exports == {}
    assert not (tmp_path / "nothing").exists()


def test_a_foreign_state_file_is_refused(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(UsageError, match="not a pysteps run state"):
        RunDir(tmp_path).load()
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        RunDir(tmp_path).load()
