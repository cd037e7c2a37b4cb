"""A sandbox machine: a folder that stands for a VM, and scripts run "on" it in isolation.

    machines/<group>/<vm>/root/        the machine's own root file system (its OS disk)
    machines/<group>/<vm>/disks/lunN/  its data disks (lunN.label beside each: the file-system label)

Scripts run with bubblewrap: the machine's root is `/`, the host's /usr is there read-only (so
the machine has the host's programs, and pysteps' Python), and nothing else of the host is
visible or writable. The data disks appear as /dev/disk/azure/scsi1/lunN, as on Azure; the tools
in `bin/` (mkfs, mount, parted, sudo, waagent, ...) treat them as the folders they are. Each run
starts as after a boot: the disks listed in the machine's /etc/fstab are mounted.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pysteps.sandbox.arm.web import ArmError

TOOLS = Path(__file__).parent / "bin"
DISKS_INSIDE = "/var/lib/sandbox/disks"
CA_BUNDLE_INSIDE = "/var/lib/sandbox/ca-bundle.pem"
ETC_FILES = ("passwd", "group", "hosts", "nsswitch.conf", "resolv.conf", "ld.so.cache", "ld.so.conf", "os-release",
             "mime.types", "localtime")
ETC_DIRS = ("alternatives", "ssl", "ca-certificates", "ld.so.conf.d")
MERGED_USR = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def prepare(folder: Path) -> None:
    """Give a new machine its root file system (a minimal /etc of its own) and its disks folder."""
    root = folder / "root"
    if (root / "etc").exists():
        return
    for name in ("etc", "home", "root", "var/lib", "var/log", "opt", "mnt", "srv", "tmp"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for name in ETC_FILES:
        source = Path("/etc") / name
        if source.is_file():
            shutil.copy2(source, root / "etc" / name, follow_symlinks=True)
    for name in ETC_DIRS:
        source = Path("/etc") / name
        if source.is_dir():
            shutil.copytree(source, root / "etc" / name, symlinks=True, dirs_exist_ok=True)
    for name in MERGED_USR:  # /bin -> usr/bin and friends, as on the host
        host = Path("/") / name
        if host.is_symlink():
            (root / name).symlink_to(os.readlink(host))
    (root / "etc" / "fstab").write_text("# sandbox machine\n")
    (root / "etc" / "hostname").write_text(folder.name + "\n")
    (folder / "disks").mkdir(exist_ok=True)


def command(folder: Path, script: str, ca_bundle: Path | None = None) -> list[str]:
    """The bubblewrap command line that runs `script` on the machine in `folder`.

    `ca_bundle` (the sandbox's trusted certificates) appears on the machine as CA_BUNDLE_INSIDE.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise ArmError(409, "OperationNotAllowed",
                       "The sandbox runs machine scripts with bubblewrap, which is not installed: "
                       "expected `apt-get install bubblewrap` (./dev setup does it).")
    prepare(folder)
    args = [bwrap, "--bind", str(folder / "root"), "/", "--ro-bind", "/usr", "/usr"]
    for name in MERGED_USR:
        host = Path("/") / name
        if host.is_dir() and not host.is_symlink():
            args += ["--ro-bind", str(host), f"/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run",
             "--bind", str(folder / "disks"), DISKS_INSIDE, "--ro-bind", str(TOOLS), "/usr/local/sbin",
             "--dir", "/dev/disk/azure/scsi1"]
    for disk in sorted((folder / "disks").glob("lun*")):
        if disk.is_dir():
            for suffix in ("", "-part1"):
                args += ["--symlink", f"{DISKS_INSIDE}/{disk.name}", f"/dev/disk/azure/scsi1/{disk.name}{suffix}"]
    if ca_bundle is not None and ca_bundle.exists():
        args += ["--ro-bind", str(ca_bundle), CA_BUNDLE_INSIDE]
    for shared in _pysteps_locations():  # pysteps and its Python, so machines can run `pysteps`
        args += ["--ro-bind", str(shared), str(shared)]
    args += ["--cap-add", "CAP_SYS_ADMIN", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--hostname", folder.name, "--die-with-parent", "--chdir", "/root",
             "bash", "-c", "sandbox-boot; exec bash -c \"$0\"", script]
    return args


def _pysteps_locations() -> list[Path]:
    import pysteps

    found = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
             Path(pysteps.__file__).resolve().parent.parent}  # the source tree of an editable install
    outermost = [p for p in found if not any(other in p.parents for other in found)]
    return sorted(p for p in outermost if not str(p).startswith("/usr"))


def machine_path(extra: list[str] | None = None) -> str:
    """PATH on a machine: the sandbox tools first, then the usual, then pysteps' own bin folder."""
    parts = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin",
             str(Path(sys.executable).parent), *(extra or [])]
    return ":".join(parts)
