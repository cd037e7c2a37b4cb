"""`pysteps validate` with the installed az CLI's own parser, offline and logged out."""

import json

import pytest
from conftest import error_line

from pysteps.catalog import load_catalog
from pysteps.engine.plan import PlanEntry
from pysteps.engine.validate import validate

BAD_PLAN = [
    {"step": "vm-create", "argv": ["vm", "create", "--resource-group", "rg", "--name", "vm1", "--image",
                                   "Ubuntu2204", "--ssh-key-value", "/tmp/key.pub"], "exports": {"base_vm_id": "id"}},
    {"step": "image-create", "argv": ["image", "create", "--resource-group", "rg", "--name", "img",
                                      "--sorce", "vm1"], "exports": {"vmss_image": "id"}},
    {"step": "group-show", "argv": ["group", "show"], "exports": {}},
    {"step": "vmss-create", "argv": ["vmss", "create", "--resource-group", "rg", "--name", "ss", "--image",
                                     "Ubuntu2204", "--disable-overprovision"], "exports": {}},
]
GOOD_PLAN = [
    {"step": "vmss-create", "argv": ["vmss", "create", "--resource-group", "rg", "--name", "ss", "--image",
                                     "Ubuntu2204", "--disable-overprovision", "--orchestration-mode", "Uniform"],
     "exports": {}},
    {"step": "group-delete", "argv": ["group", "delete", "--name", "rg", "--yes"], "exports": {}},
]


def write(tmp_path, plan):
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    return "plan.json"


def test_each_problem_is_reported_and_exit_is_non_zero(pysteps, tmp_path):
    done = pysteps("validate", write(tmp_path, BAD_PLAN))
    assert done.returncode == 1
    report = done.stderr
    assert "step 1 (vm-create): abbreviated flag --ssh-key-value" in report
    assert "prefix of --ssh-key-values" in report
    assert "step 2 (image-create): unknown flag --sorce (did you mean --source?)" in report
    assert "step 3 (group-show): the following arguments are required: --name/-n/--resource-group/-g" in report
    assert "step 4 (vmss-create): usage error: --disable-overprovision is not supported for Flex mode" in report
    assert "add --orchestration-mode Uniform" in report
    assert error_line(done).endswith("problem(s) in 4 step(s)")


def test_a_correct_plan_passes(pysteps, tmp_path):
    done = pysteps("validate", write(tmp_path, GOOD_PLAN), check=0)
    assert "2 step(s) valid" in done.stdout


def test_validation_never_logs_in_even_when_the_user_is(pysteps, tmp_path, monkeypatch):
    # A confirmation prompt is a problem too: Jenkins has no terminal to answer it.
    plan = [{"step": "group-delete", "argv": ["group", "delete", "--name", "rg"], "exports": {}}]
    done = pysteps("validate", write(tmp_path, plan), env={"AZURE_CONFIG_DIR": "/nonexistent/should-not-be-used"})
    assert "add --yes" in done.stderr and done.returncode == 1


@pytest.mark.parametrize("plan, fragment", [
    ({"step": "x"}, "expected a JSON list of steps"),
    ([{"step": "x", "argv": "group list"}], "'argv' must be a non-empty list of strings"),
    ([{"step": "x", "argv": ["group", "list"], "exports": {"bad-name": "id"}}], "invalid variable name 'bad-name'"),
])
def test_malformed_plans(pysteps, tmp_path, plan, fragment):
    done = pysteps("validate", write(tmp_path, plan))
    assert done.returncode == 2 and fragment in error_line(done)


def test_structural_problems():
    entries = [PlanEntry("a", ["az", "group", "list"]), PlanEntry("b", ["group", "show", "--name", "${rg}"]),
               PlanEntry("c", ["group", "list", "--output", "tsv"], ())]
    messages = [str(p) for p in validate(entries)]
    assert "step 1 (a): argv starts with 'az': expected the arguments after it" in messages
    assert "step 2 (b): unresolved reference ${rg} in '${rg}'" in messages
    assert len(messages) == 2


def test_every_catalog_step_passes_az_own_checks():
    catalog = load_catalog()
    examples = {name: variable.example for name, variable in catalog.variables.items()}
    entries = [PlanEntry(step.name, step.render(examples), step.exports) for step in catalog.steps.values()]
    assert [str(p) for p in validate(entries)] == []
