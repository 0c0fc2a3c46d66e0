"""Every command the README and the docs show works as typed: each ```sh block runs, in the
order of its page, on a copy of the tiny project (the same pipeline on a configuration that runs
in seconds), and each refusal a ```console block shows (a `$ command` followed by an `error:`
line) is the line the pipeline prints. Commands that cannot run on the tiny project (the full
paper run, a GPU, a cluster) are written as ```console blocks and checked elsewhere."""
import os
import re
import subprocess

import pytest

from conftest import ENV, ROOT, copy_project

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]


def blocks(page, tag):
    return [body for lang, body in FENCE.findall((ROOT / page).read_text()) if lang == tag]


def refusals(page):
    """[(command, error line)] from the console blocks: a `$ ` line followed by an `error:` line."""
    out = []
    for body in blocks(page, "console"):
        lines = body.splitlines()
        out += [(a[2:], b) for a, b in zip(lines, lines[1:]) if a.startswith("$ ") and b.startswith("error:")]
    return out


def run_block(project, body):
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=project, capture_output=True, text=True,
                       env=ENV | {"DVC_NO_ANALYTICS": "1"}, timeout=900)
    return r


def test_the_pages_are_read_as_the_test_expects():
    """The fence parser sees what GitHub renders: every block is closed, and the pages this test
    runs have shell blocks to run."""
    for page in PAGES:
        text = (ROOT / page).read_text()
        assert text.count("```") % 2 == 0, page
    assert blocks("README.md", "sh") and blocks("docs/usage.md", "sh")
    assert "dvc exp run -S models.modified.init=scratch" in dict(refusals("docs/usage.md"))


@pytest.mark.slow
@pytest.mark.system
@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "sh")])
def test_every_shell_block_runs_as_typed(page, built_tiny, tmp_path):
    project = copy_project(built_tiny[0], tmp_path / "project")
    for i, body in enumerate(blocks(page, "sh")):
        r = run_block(project, body)
        assert r.returncode == 0, f"{page}, shell block {i + 1} failed:\n{body}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if refusals(p)])
def test_every_refusal_the_docs_show_is_the_one_printed(page, built_tiny, tmp_path):
    for i, (command, error) in enumerate(refusals(page)):
        project = copy_project(built_tiny[0], tmp_path / f"project-{i}")
        r = run_block(project, command)
        assert r.returncode != 0, f"{page}: `{command}` was not refused"
        printed = [line.strip() for line in (r.stdout + r.stderr).splitlines()]
        assert error in printed, f"{page}: `{command}` printed\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
