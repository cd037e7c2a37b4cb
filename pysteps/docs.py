"""Documentation generated from the step catalog (`pysteps steps`, docs/steps.md)."""

from __future__ import annotations

import shlex

from pysteps.catalog import Catalog


def catalog_text(catalog: Catalog) -> str:
    from pysteps.pipelines import builtin_pipelines

    width = max(len(name) for name in catalog.steps)
    lines = ["Steps:"]
    lines += [f"  {name:<{width}}  {step.help}" for name, step in catalog.steps.items()]
    lines += ["", "Built-in pipelines (pysteps run NAME):"]
    lines += [f"  {name}" for name in builtin_pipelines()]
    return "\n".join(lines) + "\n"


def _shown(value) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def catalog_markdown(catalog: Catalog) -> str:
    out = ["# Step catalog", "",
           "Generated from `pysteps/catalog/steps.yaml` by `pysteps steps --markdown`; do not edit by hand.", ""]
    for name, step in catalog.steps.items():
        out += [f"## `{name}`", "", step.help, "", "```", shlex.join(["az", *step.argv]), "```", ""]
        needs = ", ".join(f"`{n}`" for n in step.references())
        out += [f"- needs: {needs or 'nothing'}"]
        if step.exports:
            out += ["- exports: " + ", ".join(f"`{e.spec}`" for e in step.exports)]
        if step.secret_vars:
            out += ["- secret: " + ", ".join(f"`{n}`" for n in sorted(step.secret_vars))]
        out.append("")
    out += ["# Settings of `pysteps bake` and `pysteps roll`", "",
            "Set them in the YAML file given with `--config`, as environment variables of the same name, or with "
            "`--set NAME=VALUE` (strongest). Lists take YAML lists, or comma-separated text.", "",
            "| name | meaning | default |", "| --- | --- | --- |"]
    out += [f"| `{v.name}` | {v.help} | `{_shown(v.default)}` |" for v in catalog.variables.values() if v.is_setting]
    out += ["", "# Other variables", "", "| name | meaning | example |", "| --- | --- | --- |"]
    out += [f"| `{v.name}` | {v.help} | `{_shown(v.example)}` |" for v in catalog.variables.values()
            if not v.is_setting]
    return "\n".join(out) + "\n"
