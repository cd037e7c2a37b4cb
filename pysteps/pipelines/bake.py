"""`pysteps bake`: a temporary VM with data disks, the data preloaded onto them, captured as an image.

1. a temporary resource group, tagged with the run id, creation time and expiry (for `pysteps sweep`);
2. the VM, SSH-key login only, no public IP, a system-assigned identity for storage access;
3. preload through run-command: partition, format and mount the data disks by LUN, then
   `pysteps preload` the sources (with a short-lived read-only SAS, or the VM's identity);
4. deprovision, deallocate, generalize; 5. the managed image (data disks included), optionally a
   gallery version; 6. the temporary group deleted. On any failure, Ctrl-C or SIGTERM the temporary
   group is deleted too, unless --keep-on-failure.
"""

from __future__ import annotations

import os
import shlex
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from pysteps.engine.errors import StepFailed
from pysteps.pipelines.runs import Run, shielded

DEPROVISION = "sudo waagent -deprovision+user -force"
SAS_HOURS = 4


def run_variables(settings: dict, now: datetime) -> dict:
    """Names fixed for the whole run (and its resumes)."""
    expires = now + timedelta(hours=float(settings["temp_ttl_hours"]))
    return {"run_created": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "run_expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def bake(run: Run, *, keep_on_failure: bool = False) -> str:
    """Run the bake; returns the image id (also exported as vmss_image)."""
    group = run.settings["base_vm_resource_group"]
    try:
        run.step("bake:group", "group-create-temporary")
        _note_created(run, f"resource group {group} (temporary)")
        run.step("bake:vm", "vm-create")
        _note_created(run, f"virtual machine {run.settings['base_vm_name']} (temporary)")
        _checked_script(run, "bake:preload", preload_script(run.settings, _source_urls(run)))
        _checked_script(run, "bake:deprovision", DEPROVISION)
        run.step("bake:deallocate", "vm-deallocate")
        run.step("bake:generalize", "vm-generalize")
        run.step("bake:image-group", "group-create", resource_group=run.settings["base_image_resource_group"])
        run.step("bake:image", "image-create")
        image = run.value("vmss_image")
        _note_created(run, f"image {image}")
        run.artifacts["vmss_image"] = image
        if run.settings["gallery_name"]:
            run.step("bake:gallery", "gallery-create")
            run.step("bake:gallery-definition", "gallery-definition-create")
            run.step("bake:gallery-version", "gallery-version-create")
            run.artifacts["gallery_image_version"] = run.value("gallery_image_version_id")
    except BaseException:
        if keep_on_failure:
            run.log.note(f"keeping temporary resource group {group} (--keep-on-failure); "
                         f"continue with --resume {run.run_id}, or delete it with `pysteps sweep`")
        else:
            delete_temporary_group(run)
        raise
    delete_temporary_group(run)
    return image


def delete_temporary_group(run: Run) -> None:
    group = run.settings["base_vm_resource_group"]
    with shielded():
        try:
            run.forget("bake:cleanup")
            run.step("bake:cleanup", "group-delete", resource_group=group)
            run.deleted.append(f"resource group {group} (temporary)")
            run.save()
            # What the group held must be made again on resume.
            for key in ("bake:group", "bake:vm", "bake:preload", "bake:deprovision", "bake:deallocate",
                        "bake:generalize"):
                if key in run.done:
                    run.done.remove(key)
            run.save()
        except Exception as error:  # the original failure matters more; say how to clean up
            run.log.note(f"could not delete temporary resource group {group}: {error}; "
                         "`pysteps sweep` deletes it once its time-to-live has passed")


def _note_created(run: Run, what: str) -> None:
    if not run.dry_run and what not in run.created:
        run.created.append(what)
        run.save()


def _checked_script(run: Run, key: str, script: str) -> None:
    """Run a script on the VM; a script that fails fails the step (run-command itself succeeds)."""
    ran = run.step(key, "vm-run-script", script=script)
    if ran and not run.dry_run and run.value("script_status") != "ProvisioningState/succeeded":
        output = (run.value("script_output") or "").strip().splitlines()
        run.forget(key)
        raise StepFailed(f"the {key.split(':')[1]} script failed on the VM: {' | '.join(output[-6:])}")


def preload_script(settings: dict, sources: list[str]) -> str:
    """Partition, format and mount each data disk by LUN (once: a resumed run keeps the data), then preload."""
    lines = ["set -euo pipefail"]
    for lun, _ in enumerate(settings["data_disk_sizes_gb"]):
        mount = settings["preload_target"] if lun == 0 else f"{settings['preload_target']}{lun}"
        device = f"/dev/disk/azure/scsi1/lun{lun}"
        label = f"pysteps-lun{lun}"
        lines += [
            f"if ! grep -q 'LABEL={label} ' /etc/fstab; then",
            f"  sudo parted --script {device} mklabel gpt mkpart primary ext4 0% 100%",
            f"  sudo partprobe {device} || true; sudo udevadm settle || true",
            f"  sudo mkfs.ext4 -q -L {label} {device}-part1",
            f"  echo 'LABEL={label} {mount} ext4 defaults,nofail 0 2' | sudo tee -a /etc/fstab >/dev/null",
            "fi",
            f"sudo mkdir -p {shlex.quote(mount)}",
        ]
    lines.append("sudo mount -a")
    if sources:
        lines += [
            "command -v pysteps >/dev/null || sudo python3 -m pip install --quiet 'pysteps[storage]'",
            "pysteps preload " + " ".join(shlex.quote(s) for s in sources) + " "
            + shlex.quote(settings["preload_target"]),
        ]
    return "\n".join(lines)


def _source_urls(run: Run) -> list[str]:
    """Sources as the VM should read them: az:// becomes an https URL with a short-lived read-only SAS when
    this machine holds the account's key (the SAS is masked in logs); otherwise the VM uses its identity."""
    urls = []
    for uri in run.settings["preload_sources"]:
        url = _with_sas(uri) if uri.startswith("az://") else None
        if url:
            run.engine.redactor.add([urlsplit(url).query])
        urls.append(url or uri)
    return urls


def _with_sas(uri: str) -> str | None:
    from pysteps.movers.blob import _connection_account

    connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    parts = urlsplit(uri)
    if not connection or _connection_account(connection) != parts.netloc:
        return None
    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    service = BlobServiceClient.from_connection_string(connection)
    container, _, prefix = parts.path.lstrip("/").partition("/")
    key = service.credential.account_key
    if not key:
        return None
    sas = generate_container_sas(parts.netloc, container, account_key=key,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=SAS_HOURS))
    base = service.url.rstrip("/")
    return f"{base}/{container}/{prefix}?{sas}" if prefix else f"{base}/{container}?{sas}"

