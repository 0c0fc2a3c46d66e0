"""The GitHub workflow runs only commands this repository's own checks run: a fork's CI cannot
fail on a command that nothing here ever executed."""
import re

import yaml

from conftest import ROOT

# each command the workflow may run, and where it is exercised here
EXERCISED = {
    "make test": ".ci/run",
    "make test PYTHON=python${{ matrix.python-version }}": ".ci/run (make test, another interpreter)",
    "make .venv/bin/.installed": "the first step of make test",
    '.venv/bin/python -m shapes_vae.tiny "$RUNNER_TEMP/tiny"': "tests/conftest.py, fixture built_tiny",
    ".venv/bin/dvc metrics diff main --md": "tests/test_pipeline.py::test_param_changes_rerun_what_depends_on_them_and_the_run_cache_restores_the_rest",
    ".venv/bin/dvc params diff main --md": "tests/test_pipeline.py::test_param_changes_rerun_what_depends_on_them_and_the_run_cache_restores_the_rest",
    'git branch --force main "origin/$BASE_REF"': "git itself: names the base branch main for the diffs",
}
SHELL_GLUE = re.compile(r"^(\{|\}|echo\b.*|\} >> \"\$GITHUB_STEP_SUMMARY\")$")


def test_workflow_commands_are_exercised_here():
    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    ran = []
    for job in wf["jobs"].values():
        for step in job["steps"]:
            ran += [line.strip() for line in step.get("run", "").splitlines() if line.strip()]
    commands = [c for c in ran if not SHELL_GLUE.match(c)]
    assert set(commands) <= set(EXERCISED), set(commands) - set(EXERCISED)
    assert any(c.startswith("make test") for c in commands)
    assert (ROOT / ".ci/run").read_text().rstrip().endswith("make test test-system")
    assert "$(BIN)/.installed:" in (ROOT / "Makefile").read_text()


def test_workflow_runs_on_pull_requests_without_secrets():
    text = (ROOT / ".github/workflows/ci.yml").read_text()
    wf = yaml.safe_load(text)
    assert "pull_request" in wf[True]  # PyYAML reads the key `on` as True (YAML 1.1)
    assert "secrets." not in text  # a fork's pull request gets no secrets
    assert {job["runs-on"] for job in wf["jobs"].values()} == {"ubuntu-latest"}  # GitHub-hosted
