"""Point az at the sandbox: `python -m pysteps.sandbox.azsetup CLOUD_NAME ARM_URL`.

Runs in a child process whose environment names the sandbox's private AZURE_CONFIG_DIR (az reads
it once, at import): registers the emulator as a custom cloud, makes it active, and logs in with
the managed identity that IDENTITY_ENDPOINT and IDENTITY_HEADER describe.
"""

from __future__ import annotations

import sys

from pysteps.engine.runners import AzCallFailed, InProcessRunner


def main(cloud: str, arm_url: str) -> int:
    runner = InProcessRunner()
    try:
        runner.run(["cloud", "register", "--name", cloud, "--endpoint-resource-manager", arm_url,
                    "--only-show-errors"])
        runner.run(["cloud", "set", "--name", cloud, "--only-show-errors"])
        runner.run(["login", "--identity", "--only-show-errors", "--output", "none"])
    except AzCallFailed as failure:
        print(failure.message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
