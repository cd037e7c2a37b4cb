"""Per-call overhead of the in-process runner against the subprocess runner, on the same az commands.

    ./dev bench [--calls N] [--json]

Both runners run each command N times in one process; the first in-process call (module and
command-table loading) is reported apart. Commands are local (no Azure needed) so the figures
are pysteps' and az's own cost, not the network's. Target: in-process <= 0.1 s a call and
at least 5x cheaper than subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = [
    ["cloud", "show", "--name", "AzureCloud"],
    ["cloud", "list"],
    ["account", "list", "--only-show-errors"],
]
TARGET_SECONDS = 0.1
TARGET_RATIO = 5.0


def time_calls(runner, calls: int) -> list[float]:
    samples = []
    for index in range(calls):
        argv = COMMANDS[index % len(COMMANDS)]
        started = time.perf_counter()
        runner.run(list(argv))
        samples.append(time.perf_counter() - started)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="calls per runner (default 30)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.calls < 1:
        parser.error(f"--calls {args.calls}: expected at least 1")

    config_dir = tempfile.mkdtemp(prefix="pysteps-bench-azcfg-")
    os.environ.update({"AZURE_CONFIG_DIR": config_dir, "AZURE_CORE_COLLECT_TELEMETRY": "no"})
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    from pysteps.engine.runners import InProcessRunner, SubprocessRunner

    started = time.perf_counter()
    inprocess = InProcessRunner()
    inprocess.run(list(COMMANDS[0]))
    first_call = time.perf_counter() - started
    warm = time_calls(inprocess, args.calls)
    spawned = time_calls(SubprocessRunner(), args.calls)

    figures = {
        "calls": args.calls,
        "commands": [" ".join(c) for c in COMMANDS],
        "inprocess_first_call_s": round(first_call, 4),
        "inprocess_mean_s": round(statistics.mean(warm), 4),
        "inprocess_median_s": round(statistics.median(warm), 4),
        "subprocess_mean_s": round(statistics.mean(spawned), 4),
        "subprocess_median_s": round(statistics.median(spawned), 4),
    }
    figures["ratio_subprocess_over_inprocess"] = round(figures["subprocess_mean_s"] / figures["inprocess_mean_s"], 1)
    figures["meets_targets"] = (figures["inprocess_mean_s"] <= TARGET_SECONDS
                                and figures["ratio_subprocess_over_inprocess"] >= TARGET_RATIO)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"az per-call overhead, {args.calls} calls per runner, cycling: {', '.join(figures['commands'])}")
    print(f"  in-process  first call  {first_call:8.3f} s  (imports and command table)")
    print(f"  in-process  per call    {figures['inprocess_mean_s']:8.3f} s  "
          f"(median {figures['inprocess_median_s']:.3f})")
    print(f"  subprocess  per call    {figures['subprocess_mean_s']:8.3f} s  "
          f"(median {figures['subprocess_median_s']:.3f})")
    print(f"  ratio subprocess / in-process: {figures['ratio_subprocess_over_inprocess']:.1f}x")
    verdict = "met" if figures["meets_targets"] else "NOT met"
    print(f"  targets (in-process <= {TARGET_SECONDS} s a call, >= {TARGET_RATIO:g}x cheaper): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
