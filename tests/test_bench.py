"""The benchmark runs and reports its figures (no timing assertions: see bench/)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_az_overhead_reports_both_runners_and_their_ratio():
    done = subprocess.run([sys.executable, str(ROOT / "bench/az_overhead.py"), "--calls", "3", "--json"],
                          capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout)
    assert figures["inprocess_mean_s"] > 0 and figures["subprocess_mean_s"] > 0
    ratio = figures["subprocess_mean_s"] / figures["inprocess_mean_s"]
    assert abs(figures["ratio_subprocess_over_inprocess"] - ratio) < 0.1
    assert done.stderr == "", "warnings must not leak into benchmark output"
