import io
import json

import pytest

from pysteps.engine.engine import Engine
from pysteps.engine.errors import ExportError, StepFailed, UsageError
from pysteps.engine.exports import Export
from pysteps.engine.logs import StepLog
from pysteps.engine.retry import RetryPolicy
from pysteps.engine.rundir import RunDir
from pysteps.engine.runners import AzCallFailed, AzOutput, DryRunRunner, Runner
from pysteps.engine.step import Step

VM_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"


class FakeRunner(Runner):
    """Answers by command words; records every argv it is asked to run."""

    name = "fake"

    def __init__(self, answers):
        self.answers = {key: list(value) if isinstance(value, list) else [value] for key, value in answers.items()}
        self.calls = []

    def run(self, argv, secrets=()):
        self.calls.append(list(argv))
        key = " ".join(argv[:2])
        queue = self.answers[key]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return AzOutput(value=answer, text=json.dumps(answer))


def step(name, argv, *exports, **kwargs):
    return Step(name=name, argv=tuple(argv), exports=tuple(Export.parse(e) for e in exports), **kwargs)


VM_SHOW = step("vm-show", ["vm", "show", "-g", "${rg}", "-n", "vm1"], "id|base_vm_id")
IMAGE_CREATE = step("image-create", ["image", "create", "-g", "${rg}", "-n", "img", "--source", "${base_vm_id}"],
                    "id|vmss_image")


def engine_for(tmp_path, runner, **kwargs):
    log = StepLog("text", stream=io.StringIO())
    kwargs.setdefault("variables", {"rg": "rg1"})
    kwargs.setdefault("environ", {})
    return Engine(runner, run_dir=RunDir(tmp_path / "run"), log=log, sleep=lambda s: None,
                  retry=RetryPolicy(attempts=3), **kwargs)


def test_exports_flow_into_later_steps_and_the_run_dir(tmp_path):
    runner = FakeRunner({"vm show": {"id": VM_ID}, "image create": {"id": "/img/1"}})
    engine = engine_for(tmp_path, runner)
    engine.run([VM_SHOW, IMAGE_CREATE])
    assert runner.calls[1] == ["image", "create", "-g", "rg1", "-n", "img", "--source", VM_ID]
    assert RunDir(tmp_path / "run").load().exports == {"base_vm_id": VM_ID, "vmss_image": "/img/1"}


def test_unknown_name_fails_before_anything_runs(tmp_path):
    runner = FakeRunner({"vm show": {"id": VM_ID}})
    broken = step("image-create", ["image", "create", "--source", "${base_vm_idd}"])
    with pytest.raises(UsageError, match=r"step image-create: unknown variable \$\{base_vm_idd\}"):
        engine_for(tmp_path, runner).run([VM_SHOW, broken])
    assert runner.calls == []
    assert not (tmp_path / "run").exists()


def test_resolution_order_is_exports_then_variables_then_environment(tmp_path):
    runner = FakeRunner({"vm show": {"id": VM_ID}, "group show": {}})
    engine = engine_for(tmp_path, runner, variables={"rg": "from-vars", "base_vm_id": "from-vars"},
                        environ={"rg": "from-env", "extra": "from-env"})
    engine.run([VM_SHOW, step("g", ["group", "show", "${base_vm_id}", "${rg}", "${extra}"])])
    assert runner.calls[1] == ["group", "show", VM_ID, "from-vars", "from-env"]


def test_missing_field_fails_at_the_producing_step_and_commits_nothing_for_it(tmp_path):
    runner = FakeRunner({"vm show": {"id": VM_ID}, "image create": {"name": "img", "location": "x"}})
    with pytest.raises(ExportError, match="keys there: location, name"):
        engine_for(tmp_path, runner).run([VM_SHOW, IMAGE_CREATE])
    state = RunDir(tmp_path / "run").load()
    assert state.exports == {"base_vm_id": VM_ID}
    assert [s["step"] for s in state.steps] == ["vm-show"]


def test_transient_failures_are_retried_and_logged(tmp_path):
    runner = FakeRunner({"vm show": [AzCallFailed("(TooManyRequests) slow down", status=429), {"id": VM_ID}]})
    engine = engine_for(tmp_path, runner)
    result = engine.run([VM_SHOW])[0]
    assert result.attempts == 2 and len(runner.calls) == 2
    assert "attempt 1 failed ((TooManyRequests) slow down); retrying" in engine.log.stream.getvalue()


def test_permanent_failure_stops_with_az_message(tmp_path):
    runner = FakeRunner({"vm show": AzCallFailed("(ResourceGroupNotFound) Resource group 'rg1' could not be found.")})
    with pytest.raises(StepFailed, match="step vm-show failed: \\(ResourceGroupNotFound\\) Resource group 'rg1'"):
        engine_for(tmp_path, runner).run([VM_SHOW, IMAGE_CREATE])
    assert len(runner.calls) == 1
    assert not (tmp_path / "run").exists()


def test_secret_exports_are_masked_and_never_written(tmp_path):
    secret = "s3cr3t-value-42"
    runner = FakeRunner({"keyvault secret": {"value": secret}, "vm create": {"id": VM_ID}})
    read = Step(name="kv", argv=("keyvault", "secret", "show"), exports=(Export.parse("value|pw", secret=True),))
    use = step("vm-create", ["vm", "create", "--admin-password", "${pw}", "--custom-data", "x${pw}x"])
    engine = engine_for(tmp_path, runner)
    engine.run([read, use])
    assert runner.calls[1][3] == secret  # the real value reaches az
    log = engine.log.stream.getvalue()
    assert secret not in log and "--admin-password '****'" in log and "'x****x'" in log
    for path in (tmp_path / "run").iterdir():
        assert secret not in path.read_text()
    assert RunDir(tmp_path / "run").load().secret_names == {"pw"}


def test_secret_variables_are_masked_in_logs_and_plans(tmp_path):
    runner = FakeRunner({"login --service-principal": {}})
    login = step("login", ["login", "--service-principal", "-u", "app", "-p", "${client_secret}"],
                 secret_vars=frozenset({"client_secret"}))
    engine = engine_for(tmp_path, runner, variables={"client_secret": "very-secret-pw"})
    result = engine.run([login])[0]
    assert "very-secret-pw" not in engine.log.stream.getvalue()
    assert result.plan.to_json()["argv"][-1] == "****"


def test_dry_run_renders_placeholders_and_runs_nothing(tmp_path):
    engine = engine_for(tmp_path, DryRunRunner())
    results = engine.run([VM_SHOW, IMAGE_CREATE])
    assert results[1].argv[-1] == "<vm-show:id>"
    state = RunDir(tmp_path / "run").load()
    assert state.exports["vmss_image"] == "<image-create:id>"
    assert state.placeholders == {"base_vm_id", "vmss_image"}


def test_a_real_run_refuses_dry_run_placeholders(tmp_path):
    engine_for(tmp_path, DryRunRunner()).run([VM_SHOW])
    runner = FakeRunner({"image create": {"id": "/img"}})
    with pytest.raises(UsageError, match="holds the dry-run placeholder '<vm-show:id>'"):
        engine_for(tmp_path, runner).run([IMAGE_CREATE])
    assert runner.calls == []


def test_exports_need_json_output(tmp_path):
    tsv = step("vm-show", ["vm", "show", "-n", "vm1", "--output", "tsv"], "id|X")
    with pytest.raises(UsageError, match="--output tsv cannot be exported from"):
        engine_for(tmp_path, FakeRunner({})).run([tsv])


def test_json_log_lines(tmp_path):
    stream = io.StringIO()
    runner = FakeRunner({"vm show": {"id": VM_ID}})
    engine = Engine(runner, log=StepLog("json", stream=stream), variables={"rg": "rg1"}, environ={})
    engine.run([VM_SHOW])
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["step.start", "step.end"]
    assert events[0]["argv"] == ["vm", "show", "-g", "rg1", "-n", "vm1"]
    assert events[1]["exported"] == ["base_vm_id"] and events[1]["duration_s"] >= 0
