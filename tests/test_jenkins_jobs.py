"""The job definitions in jenkins/: Jenkins Job Builder renders them offline to the golden config.xml files,
their parameters and triggers are the Jenkinsfiles', the bake job's settings are pysteps' own, and the
configuration-as-code snippet registers the library the Jenkinsfiles load.

After an intended change of jenkins/jobs, refresh the golden files with UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from jenkins_harness import ROOT, run_cases

from pysteps.jenkins.jobs import render_jobs
from pysteps.pipelines.config import settings_declared

JOBS_DIR = ROOT / "jenkins" / "jobs"
GOLDEN = ROOT / "tests" / "jenkins" / "golden"
JOBS = ["pysteps-bake-and-roll", "pysteps-sync-s3-to-azure"]
PARAMETER_TYPES = {"hudson.model.StringParameterDefinition": "string", "hudson.model.BooleanParameterDefinition":
                   "boolean", "hudson.model.ChoiceParameterDefinition": "choice"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, str]:
    """The jobs as `jenkins-jobs test` writes them, with no Jenkins to ask for plugin versions."""
    folder = tmp_path_factory.mktemp("jjb")
    (folder / "plugins.yaml").write_text("[]\n")
    (folder / "jenkins_jobs.ini").write_text("[job_builder]\n")
    jenkins_jobs = str(Path(sys.executable).parent / "jenkins-jobs")
    done = subprocess.run([jenkins_jobs, "--conf", str(folder / "jenkins_jobs.ini"), "test", "-p",
                           str(folder / "plugins.yaml"), str(JOBS_DIR), "-o", str(folder / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return {path.name: path.read_text() for path in (folder / "out").iterdir()}


def test_jenkins_jobs_test_renders_the_golden_files(rendered):
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, text in rendered.items():
            (GOLDEN / f"{name}.xml").write_text(text)
    assert sorted(rendered) == JOBS
    for name in JOBS:
        assert rendered[name] == (GOLDEN / f"{name}.xml").read_text(), f"{name}: differs from its golden file"


def test_pysteps_renders_the_same_xml_as_jenkins_jobs(rendered):
    assert render_jobs([JOBS_DIR]) == rendered


@pytest.fixture(scope="module")
def jenkinsfile_models(tmp_path_factory) -> dict[str, dict]:
    """Each Jenkinsfile's declared model (parameters, options, triggers), read by running it in the harness."""
    installed = {"match": "PYSTEPS_INSTALL_SCRIPT", "files": {"$PYSTEPS_INSTALL_OUTPUT": "python=/venv/bin/python\n"}}
    cases = [{"name": path, "jenkinsfile": str(ROOT / path), "responses": [installed],
              "credentials": {"aws-landing-reader": {"accessKey": "a", "secretKey": "s"}}}
             for path in ("Jenkinsfile", "jenkins/sync.Jenkinsfile")]
    return {name: run["model"] for name, run in run_cases(cases, tmp_path_factory.mktemp("models")).items()}


def job_parameters(xml: str) -> list[dict]:
    parameters = []
    for element in ET.fromstring(xml).find(".//parameterDefinitions"):
        choices = [c.text for c in element.iter("string")]
        default = element.findtext("defaultValue")
        kind = PARAMETER_TYPES[element.tag]
        parameters.append({
            "type": kind, "name": element.findtext("name"), "description": element.findtext("description"),
            "default": choices[0] if kind == "choice" else default == "true" if kind == "boolean" else default or "",
            **({"choices": choices} if kind == "choice" else {})})
    return parameters


@pytest.mark.parametrize("job", JOBS)
def test_job_parameters_and_properties_match_its_jenkinsfile(rendered, jenkinsfile_models, job):
    root = ET.fromstring(rendered[job])
    model = jenkinsfile_models[root.findtext(".//scriptPath")]
    assert job_parameters(rendered[job]) == model["parameters"]
    options = {option["step"]: option["args"] for option in model["options"]}
    no_concurrent = any(e.tag.endswith(".DisableConcurrentBuildsJobProperty") for e in root.iter())
    assert no_concurrent == ("disableConcurrentBuilds" in options)
    keep = options["buildDiscarder"]["args"]["numToKeepStr"]
    assert root.findtext(".//jenkins.model.BuildDiscarderProperty/strategy/numToKeep") == keep
    timers = [spec.text for spec in root.iter("spec")]
    assert timers == [t["args"] for t in model["triggers"] if t["step"] == "cron"]


def test_the_bake_job_parameters_are_pysteps_settings_with_their_defaults(jenkinsfile_models):
    declared = settings_declared()
    for parameter in jenkinsfile_models["Jenkinsfile"]["parameters"]:
        name = parameter["name"]
        if not name.islower():
            assert name.isupper(), f"{name}: expected a setting (lower case) or a job option (upper case)"
            continue
        assert name in declared, f"parameter {name} is not a pysteps setting (docs/steps.md)"
        default = declared[name].default
        expected = ",".join(default) if isinstance(default, list) else default
        assert parameter["default"] == expected, f"{name}: default {parameter['default']!r}, pysteps has {expected!r}"
        assert "{" not in expected, f"{name}: a default made at run time cannot be a parameter's default"


def test_the_casc_snippet_registers_the_library_the_jenkinsfiles_load():
    casc = yaml.safe_load((ROOT / "jenkins" / "casc" / "shared-library.yaml").read_text())
    (library,) = casc["unclassified"]["globalLibraries"]["libraries"]
    project = yaml.safe_load((JOBS_DIR / "project.yaml").read_text())[0]["project"]
    assert library["retriever"]["modernSCM"]["scm"]["git"]["remote"] == project["repo-url"]
    assert library["defaultVersion"] == project["branch"]
    for jenkinsfile in (ROOT / "Jenkinsfile", ROOT / "jenkins" / "sync.Jenkinsfile"):
        assert re.search(r"^@Library\('(\w+)'\) _$", jenkinsfile.read_text(), re.MULTILINE)[1] == library["name"]
    assert casc["jenkins"]["numExecutors"] == 0  # builds run on agents, never on the controller
