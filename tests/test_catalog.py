from pathlib import Path

import pytest

from pysteps.catalog import load_catalog, parse_catalog
from pysteps.docs import catalog_markdown
from pysteps.engine.errors import UsageError
from pysteps.pipelines import builtin_pipelines, load_pipeline

ROOT = Path(__file__).resolve().parent.parent


def test_docs_are_generated_from_the_catalog():
    assert (ROOT / "docs/steps.md").read_text() == catalog_markdown(load_catalog()), \
        "docs/steps.md is stale: run `pysteps steps --markdown > docs/steps.md`"


def test_catalog_steps_emit_full_flag_names_only():
    for step in load_catalog().steps.values():
        for arg in step.argv:
            assert not (arg.startswith("-") and not arg.startswith("--") and len(arg) > 2), (step.name, arg)


def test_builtin_pipelines_load_and_only_use_catalog_steps():
    assert "sample-bake-and-roll" in builtin_pipelines()
    for name in builtin_pipelines():
        pipeline = load_pipeline(name)
        assert pipeline.steps and all(step.name in load_catalog().steps for step in pipeline.steps)


@pytest.mark.parametrize("data, fragment", [
    ([], "expected 'variables' and a 'steps' mapping"),
    ({"steps": {"s": {"help": "x"}}}, "needs at least 'argv'"),
    ({"steps": {"s": {"argv": ["group", "list"], "expots": []}}}, "unknown field(s) expots"),
    ({"steps": {"s": {"argv": ["group", "show", "${bad-name}"]}}}, "malformed variable reference"),
    ({"steps": {"s": {"argv": ["group", "list"], "exports": ["id|X", "name|X"]}}}, "exports X more than once"),
    ({"steps": {"s": {"argv": ["group", "show", "--name", "${rg}"]}}}, "undeclared variable(s) rg"),
    ({"variables": {"rg": {"help": "x"}}, "steps": {}}, "variable 'rg' needs 'help' and 'example'"),
])
def test_bad_declarations_are_refused(data, fragment):
    with pytest.raises(UsageError) as caught:
        parse_catalog(data, "test.yaml")
    assert fragment in str(caught.value)
