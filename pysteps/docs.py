"""Documentation generated from the step catalog (`pysteps steps`, docs/steps.md)."""

from __future__ import annotations

import shlex

from pysteps.engine.step import Step


def catalog_text(catalog: dict[str, Step]) -> str:
    from pysteps.pipelines import builtin_pipelines

    width = max(len(name) for name in catalog)
    lines = ["Steps:"]
    lines += [f"  {name:<{width}}  {step.help}" for name, step in catalog.items()]
    lines += ["", "Built-in pipelines (pysteps run NAME):"]
    lines += [f"  {name}" for name in builtin_pipelines()]
    return "\n".join(lines) + "\n"


def catalog_markdown(catalog: dict[str, Step]) -> str:
    out = ["# Step catalog", "",
           "Generated from `pysteps/catalog/steps.yaml` by `pysteps steps --markdown`; do not edit by hand.", ""]
    for name, step in catalog.items():
        out += [f"## `{name}`", "", step.help, "", "```", shlex.join(["az", *step.argv]), "```", ""]
        needs = ", ".join(f"`{n}`" for n in step.references())
        out += [f"- needs: {needs or 'nothing'}"]
        if step.exports:
            out += ["- exports: " + ", ".join(f"`{e.spec}`" for e in step.exports)]
        if step.secret_vars:
            out += ["- secret: " + ", ".join(f"`{n}`" for n in sorted(step.secret_vars))]
        out.append("")
    return "\n".join(out)
