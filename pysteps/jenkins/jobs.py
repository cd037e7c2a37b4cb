"""`pysteps jenkins deploy`: the jobs in jenkins/jobs/ (Jenkins Job Builder YAML), rendered and upserted.

Rendering is offline, with Jenkins Job Builder's Python API and an empty plugin list, so that it
gives the same XML as `jenkins-jobs test -p EMPTY_LIST.yaml`. Upserting compares each job's
config.xml with Jenkins' and creates, updates or leaves it alone.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

from pysteps.engine.errors import UsageError

DEFAULT_JOBS_DIR = Path("jenkins/jobs")


def render_jobs(paths: list[Path]) -> dict[str, str]:
    """Job name -> config.xml text, for every job the YAML files define."""
    try:
        from jenkins_jobs.config import JJBConfig
        from jenkins_jobs.errors import JenkinsJobsException
        from jenkins_jobs.loader import load_files
        from jenkins_jobs.registry import ModuleRegistry
        from jenkins_jobs.roots import Roots
        from jenkins_jobs.xml_config import XmlJobGenerator
    except ImportError:
        raise UsageError("rendering jenkins/jobs needs Jenkins Job Builder: expected pysteps[jenkins] installed "
                         "(pip install 'pysteps[jenkins]')") from None

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"job definitions {', '.join(missing)} do not exist: expected Jenkins Job Builder YAML")
    logging.getLogger("jenkins_jobs").setLevel(logging.ERROR)  # "no config file": rendering needs none
    config = JJBConfig()
    config.builder["plugins_info"] = []
    config.validate()
    try:
        roots = Roots(config)
        load_files(config, roots, list(paths))
        registry = ModuleRegistry(config, [])
        registry.set_macros(roots.macros)
        jobs = roots.generate_jobs()
        registry.amend_job_dicts(jobs)
        generated = XmlJobGenerator(registry).generateXML(jobs)
    except JenkinsJobsException as error:
        raise UsageError(f"job definitions in {', '.join(map(str, paths))}: {error}") from None
    return {job.name: job.output().decode("utf-8") for job in generated}


def same_config(ours: str, theirs: str) -> bool:
    """Whether two config.xml texts hold the same elements (whitespace and declaration aside)."""
    def canonical(text: str) -> str:
        root = ET.fromstring(text.encode("utf-8"))
        for element in root.iter():
            element.text = (element.text or "").strip() or None
            element.tail = None
        return ET.tostring(root, encoding="unicode")

    try:
        return canonical(ours) == canonical(theirs)
    except ET.ParseError:
        return False


def upsert(server, name: str, config_xml: str) -> str:
    """Create or update one job; returns 'created', 'updated' or 'unchanged'."""
    if not server.job_exists(name):
        server.create_job(name, config_xml)
        return "created"
    if same_config(config_xml, server.get_job_config(name)):
        return "unchanged"
    server.reconfig_job(name, config_xml)
    return "updated"
