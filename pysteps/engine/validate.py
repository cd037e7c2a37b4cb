"""`pysteps validate`: check every argv of a plan before anything runs.

Structural checks happen here (unresolved `${NAME}`, a leading 'az', exports that need JSON);
az's own parser and validators run in a child process (azparse.py) that cannot log in or
reach Azure: an empty private config dir, and proxies pointing at a closed local port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from pysteps.engine import template
from pysteps.engine.errors import UsageError
from pysteps.engine.plan import PlanEntry
from pysteps.engine.runners import inprocess_available, output_format

CLOSED_PROXY = "http://127.0.0.1:9"


@dataclass
class Problem:
    index: int
    step: str
    message: str

    def __str__(self) -> str:
        return f"step {self.index + 1} ({self.step}): {self.message}"


def structural_problems(index: int, entry: PlanEntry) -> list[Problem]:
    problems = []
    if entry.argv[0] == "az":
        problems.append(Problem(index, entry.step, "argv starts with 'az': expected the arguments after it"))
    for arg in entry.argv:
        try:
            names = template.references(arg)
        except UsageError as error:
            problems.append(Problem(index, entry.step, str(error)))
            continue
        if names:
            problems.append(Problem(index, entry.step, f"unresolved reference ${{{names[0]}}} in {arg!r}"))
    fmt = output_format(entry.argv)
    if entry.exports and fmt not in (None, "json", "jsonc"):
        problems.append(Problem(index, entry.step, f"--output {fmt} cannot be exported from: expected JSON"))
    return problems


def az_problems(entries: list[PlanEntry], python: str | None = None) -> list[Problem]:
    """Run az's parser and validators on every argv, in an isolated child process."""
    if python is None and not inprocess_available():
        raise UsageError(f"azure-cli is not installed in this Python ({sys.executable}): "
                         "expected `pip install 'pysteps[az]'` to validate with az's own parser")
    argvs = [e.argv[1:] if e.argv[0] == "az" else e.argv for e in entries]
    with tempfile.TemporaryDirectory(prefix="pysteps-validate-") as config_dir:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
        env.update({
            "AZURE_CONFIG_DIR": config_dir, "AZURE_CORE_COLLECT_TELEMETRY": "no", "AZURE_CORE_NO_COLOR": "true",
            "HTTPS_PROXY": CLOSED_PROXY, "HTTP_PROXY": CLOSED_PROXY, "https_proxy": CLOSED_PROXY,
            "http_proxy": CLOSED_PROXY, "NO_PROXY": "", "no_proxy": "",
        })
        done = subprocess.run([python or sys.executable, "-m", "pysteps.engine.azparse"], input=json.dumps(argvs),
                              capture_output=True, text=True, env=env, cwd=config_dir)
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"the az argument checker failed: {tail}")
    results = json.loads(done.stdout)
    return [Problem(i, entries[i].step, message) for i, messages in enumerate(results) for message in messages]


def validate(entries: list[PlanEntry]) -> list[Problem]:
    """All problems of a plan: structural ones, then az's, in step order."""
    problems = [p for index, entry in enumerate(entries) for p in structural_problems(index, entry)]
    problems += az_problems(entries) if entries else []
    return sorted(problems, key=lambda p: p.index)
