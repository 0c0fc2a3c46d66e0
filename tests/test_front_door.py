"""What a visitor meets first: a README of one screen with the generated headline table, links
that resolve, a performance page that is what its generator writes, a citation file that parses,
and one supported-Python range everywhere."""
import re
import subprocess
import sys
import tomllib

import yaml

from conftest import ROOT
from shapes_vae.report import HEADLINE_END, HEADLINE_START

LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading):
    """GitHub's anchor for a heading's text (lowercase, punctuation dropped, spaces to dashes);
    a heading that is a link counts by its text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return "-".join("".join(c for c in text.strip().lower() if c.isalnum() or c in " -_").split(" "))


def anchors(path):
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_the_readme_is_one_screen_with_the_headline_table_between_its_markers():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    top = readme[:readme.index("## ")]  # before the first section: what it is, the figure, the table
    assert "](figures/overview.png)" in top and HEADLINE_START in top and HEADLINE_END in top
    for command in ("make reproduce", "make test"):
        assert command in readme


def test_every_relative_link_in_the_readme_and_the_docs_resolves():
    pages = [ROOT / "README.md", ROOT / "RESULTS.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_anchor_rule_is_githubs():
    assert slug(" The paper's three figures") == "the-papers-three-figures"
    assert slug(" [Seeds](docs/measures.md#seeds)") == "seeds"
    assert slug(" Does the latent code line up with the generative factors?") == \
        "does-the-latent-code-line-up-with-the-generative-factors"
    assert slug(" Bad settings, failures and recovery") == "bad-settings-failures-and-recovery"


def test_the_performance_page_is_what_its_generator_writes(tmp_path):
    out = tmp_path / "performance.md"
    subprocess.run([sys.executable, "tools/performance_page.py", "bench/results", str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    assert out.read_text() == (ROOT / "docs/performance.md").read_text(), "run `make performance-page`"


def test_the_performance_page_names_the_machine_and_refuses_a_file_off_the_schema(tmp_path):
    import json

    good = {"title": "T", "date": "2030-01-02", "machine": {"cpu": "Some CPU", "isa": "AVX2", "cores": 4},
            "rows": [{"measure": "m", "value": 1234.5, "unit": "s"}], "notes": "n"}
    (tmp_path / "a.json").write_text(json.dumps(good))
    out = tmp_path / "page.md"
    subprocess.run([sys.executable, "tools/performance_page.py", str(tmp_path), str(out)], cwd=ROOT, check=True)
    page = out.read_text()
    assert "Measured 2030-01-02 on Some CPU (AVX2, 4 cores)" in page and "| m | 1,234 | s |" in page
    (tmp_path / "b.json").write_text(json.dumps(good | {"machine": {"cpu": "x"}}))
    r = subprocess.run([sys.executable, "tools/performance_page.py", str(tmp_path), str(out)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "b.json: not a results file" in r.stderr


def test_the_citation_file_parses_and_cites_the_study():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"].startswith("1.2") and cff["title"] and cff["authors"] and cff["message"]
    study = cff["references"][0]
    assert study["title"] in " ".join((ROOT / "README.md").read_text().split())
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_one_supported_python_range_everywhere():
    sys.path.insert(0, str(ROOT / "tools"))
    from check_pythons import python_range

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    low, high = python_range(requires)
    assert python_range(">=3.9,<3.13") == ("3.9", "3.12")
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"] == [low, high]
    makefile = (ROOT / "Makefile").read_text()
    lo, hi = (tuple(map(int, v.split("."))) for v in (low, high))
    assert f"not {lo} <= sys.version_info[:2] <= {hi}" in makefile
    candidates = re.search(r"^PYTHON_CANDIDATES := (.*)$", makefile, re.M).group(1).split()
    versioned = [c for c in candidates if c != "python3"]
    assert versioned[0] == f"python{low}" and versioned[-1] == f"python{high}" and len(versioned) == hi[1] - lo[1] + 1
    readme = (ROOT / "README.md").read_text()
    assert f"Python {low} to {high}" in readme


def test_make_tiny_runs_the_tiny_pipeline_the_suite_builds_and_says_its_numbers_mean_nothing():
    """`make tiny` is the command the suite's built_tiny fixture runs, in build/tiny."""
    out = subprocess.run(["make", "-n", "tiny"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "-m shapes_vae.tiny build/tiny" in out and "rm -rf build/tiny" in out
    assert "numbers mean nothing" in out
