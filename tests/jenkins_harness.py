"""Running the Groovy 2.4 pipeline harness (tests/groovy) from pytest, and reading its recordings.

A case is a Groovy snippet that calls vars, or a Jenkinsfile, with build parameters, the agent's
environment, credentials, and how `sh` behaves: recorded (answered by `responses`: the first whose
`match` regex is found in the script; `exports` become the run's exports.properties) or run for real.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROOVY_DIR = ROOT / "tests" / "groovy"
VARS_DIR = ROOT / "vars"
EXEC = '"${PYSTEPS_PYTHON:-python3}" -m pysteps jenkins exec "$PYSTEPS_REQUEST"'


def groovy_env() -> dict[str, str]:
    """The environment for Debian's /usr/bin/groovy, which needs JAVA_HOME (or /usr/lib/jvm/default-java)."""
    if shutil.which("groovy") is None:
        raise AssertionError("groovy is not installed: expected Debian's groovy 2.4 (./dev setup installs it)")
    env = dict(os.environ)
    if not Path(env.get("JAVA_HOME", "/nonexistent"), "bin", "java").exists():
        java = shutil.which("java")
        if java is None:
            raise AssertionError("java is not installed: expected a JRE for groovy (./dev setup installs it)")
        env["JAVA_HOME"] = str(Path(java).resolve().parent.parent)
    return env


def groovy(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(["groovy", "-cp", str(GROOVY_DIR), *args], capture_output=True, text=True,
                          env=groovy_env(), timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def run_cases(cases: list[dict], folder: Path) -> dict[str, dict]:
    """Run the cases in one JVM; their recordings by name."""
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        case.setdefault("workspace", str(folder / case["name"] / "workspace"))
    source, output = folder / "cases.json", folder / "recordings.json"
    source.write_text(json.dumps({"root": str(ROOT), "cases": cases}), encoding="utf-8")
    groovy(str(GROOVY_DIR / "run_harness.groovy"), str(source), str(output))
    return {result["name"]: result for result in json.loads(output.read_text(encoding="utf-8"))}


def run_case(case: dict, folder: Path) -> dict:
    return run_cases([case], folder)[case["name"]]


def check_sources(paths: list[Path], folder: Path) -> dict[str, dict]:
    """What tests/groovy/check_sources.groovy reports per file: parses, sh calls, calls, lines."""
    output = folder / "sources.json"
    groovy(str(GROOVY_DIR / "check_sources.groovy"), *map(str, paths), str(output))
    return json.loads(output.read_text(encoding="utf-8"))


def calls(recording: dict, step: str) -> list[dict]:
    return [call for call in recording["calls"] if call["step"] == step]


def requests(recording: dict) -> list[dict]:
    """The request files the pysteps var wrote, parsed, in order."""
    return [json.loads(call["args"]["text"]) for call in calls(recording, "writeFile")
            if call["args"]["file"].endswith("/request.json")]
