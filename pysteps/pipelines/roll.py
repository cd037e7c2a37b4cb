"""`pysteps roll`: put an image on a scale set, creating the set or rolling its instances.

A missing scale set is created from the image (Uniform, overprovisioning off). An existing one
gets the image in its model, and then: under a Manual policy its instances are updated in batches,
each batch checked for health before the next; under a Rolling policy Azure rolls it out and the
outcome is checked; under Automatic, Azure applies it. Unhealthy instances stop the rollout with
a report; `pysteps roll --rollback` returns to the image recorded before. Optionally the set gets
an autoscale setting driven by a Service Bus queue, and old pysteps images are deleted.
"""

from __future__ import annotations

import json

from pysteps.pipelines.runs import Run, RunFailed

HEALTHY = ("HealthState/healthy", None)


class RolloutFailed(RunFailed):
    """Instances turned unhealthy; the rollout stopped."""


def roll(run: Run) -> str:
    """Roll `vmss_image` out; returns the scale set's id."""
    image = run.value("vmss_image")
    if not image:
        raise RunFailed("no image to roll: expected vmss_image from `pysteps bake` or --set vmss_image=ID")
    run.step("roll:group", "group-create", resource_group=run.settings["vmss_resource_group"])
    run.step("roll:find", "vmss-find")
    exists = bool(run.value("vmss_id")) and not run.dry_run
    if run.dry_run or not exists:
        run.step("roll:create", "vmss-create")
        run.step("roll:show", "vmss-show")
        if not run.dry_run:
            run.created.append(f"scale set {run.settings['vmss_name']}")
    if run.dry_run or exists:
        _update(run, image)
    scale_set = run.value("vmss_id")
    run.artifacts["vmss_id"] = scale_set
    if run.settings["autoscale_servicebus_namespace_id"]:
        run.step("roll:autoscale", "autoscale-create")
        run.step("roll:autoscale-out", "autoscale-rule-out")
        run.step("roll:autoscale-in", "autoscale-rule-in")
    if int(run.settings["image_retention"]) > 0:
        prune_images(run, int(run.settings["image_retention"]))
    return scale_set


def _update(run: Run, image: str) -> None:
    previous = run.value("vmss_previous_image")
    if previous and previous != image and "previous_image" not in run.notes and not run.dry_run:
        run.notes["previous_image"] = previous  # what --rollback returns to
        run.save()
    run.step("roll:set-image", "vmss-set-image")
    policy = run.value("vmss_upgrade_policy") or run.settings["upgrade_policy"]
    if run.dry_run or policy == "Manual":
        _manual_rollout(run)
    elif policy == "Rolling":
        run.step("roll:rolling-status", "vmss-rolling-status")
        if run.value("rolling_status") != "Completed":
            raise RolloutFailed(f"the rolling upgrade ended {run.value('rolling_status')}: "
                                f"{run.value('rolling_error') or 'see the scale set'}; "
                                f"`pysteps roll --rollback --run {run.run_id}` returns to the previous image")
    else:
        _check_health(run, "roll:health")


def _manual_rollout(run: Run) -> None:
    run.step("roll:instances", "vmss-instances")
    instances = _instances(run)
    pending = [i["id"] for i in instances if not i.get("latest")] if not run.dry_run else ["<instance-ids>"]
    size = int(run.settings["rollout_batch_size"]) or 1
    for number, start in enumerate(range(0, len(pending), size), 1):
        batch = pending[start:start + size]
        run.log.note(f"rollout: batch {number}, instance(s) {', '.join(batch)}")
        run.step(f"roll:batch-{number}", "vmss-update-instances", instance_ids=batch)
        _check_health(run, f"roll:batch-{number}-health", batch)


def _instances(run: Run) -> list[dict]:
    if run.dry_run:
        return []
    return json.loads(run.value("vmss_instances") or "[]")


def _check_health(run: Run, key: str, only: list[str] | None = None) -> None:
    run.step(key, "vmss-instances")
    run.forget(key)  # health is checked again on resume, never trusted
    if run.dry_run:
        return
    unhealthy = [i["id"] for i in _instances(run) if (only is None or i["id"] in only)
                 and i.get("health") not in HEALTHY]
    if unhealthy:
        raise RolloutFailed(f"instance(s) {', '.join(unhealthy)} of {run.settings['vmss_name']} are unhealthy after "
                            f"the update; the rollout stopped. `pysteps roll --rollback --run {run.run_id}` returns "
                            "them to the previous image")


def prune_images(run: Run, keep: int) -> None:
    """Delete pysteps images beyond the newest `keep`, never one a scale set still uses."""
    run.step("roll:images", "images-list")
    run.step("roll:images-in-use", "images-in-use")
    if run.dry_run:
        return
    images = json.loads(run.value("pysteps_images") or "[]")
    in_use = {i.lower() for i in json.loads(run.value("images_in_use") or "[]") if i}
    in_use.add((run.value("vmss_image") or "").lower())
    for image in images[:-keep]:
        if image["id"].lower() in in_use:
            run.log.note(f"retention: keeping {image['name']}, a scale set uses it")
            continue
        run.step(f"roll:delete-image-{image['name']}", "image-delete", image_name=image["name"])
        run.deleted.append(f"image {image['id']}")
