"""End to end through the real `dvc repro` on a tiny configuration in a temporary git repo."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.slow

DVC = str(Path(sys.executable).with_name("dvc"))


def dvc(project, *args, check=True):
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    r = subprocess.run([DVC, *args], cwd=project, capture_output=True, text=True, env=env)
    if check and r.returncode:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


def ran(output):
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny project after one full `dvc repro`, built by the command the GitHub workflow runs."""
    project = tmp_path_factory.mktemp("e2e") / "project"
    r = subprocess.run([sys.executable, "-m", "shapes_vae.tiny", str(project)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "| test_bce" in r.stdout or "test_bce" in r.stdout  # dvc metrics show --md
    return project, r.stdout


def test_repro_builds_every_output(built):
    project, out = built
    assert ran(out) == {"generate", "split", "train_standard", "train_modified", "train_classifier", "evaluate@standard",
                        "evaluate@modified", "information", "report"}
    with np.load(project / "data/shapes.npz") as d:
        assert d["images"].shape == (240, 28, 28) and d["images"].dtype == np.uint8
        assert d["labels"].shape == (240,) and set(np.unique(d["images"])) == {0, 1}
        assert d["vertices_xy"].shape == (240, 3, 2)
    with np.load(project / "data/split.npz") as s:
        idx = np.concatenate([s["train"], s["val"], s["test"]])
        assert sorted(idx.tolist()) == list(range(240)) and s["train"].dtype == np.int64
    for name in ("standard", "modified"):
        m = json.loads((project / f"metrics/{name}.json").read_text())
        assert {"test_bce", "test_bce_mean_decode", "recon_nats", "kl_nats", "neg_elbo_nats",
                "iwae_nll_nats", "iwae_k", "active_units"} <= set(m)
        assert 0 < m["test_bce"] < 1
        log = (project / f"logs/{name}.csv").read_text().splitlines()
        assert len(log) == 1 + {"standard": 3, "modified": 2}[name]
        for fig in ("reconstructions", "prior_samples", "latent_grid", "latent_traversal"):
            assert (project / f"figures/{name}/{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info = json.loads((project / "metrics/information.json").read_text())
    assert info["bits_total"] > 0 and len(info["bits_per_dim"]) == 8
    assert info["standard"]["mi_bits_estimate"] <= info["mi_ceiling_bits"] + 1e-9
    assert (project / "figures/examples.png").exists() and (project / "figures/bits_per_dim.png").exists()
    assert "| Standard VAE, test BCE (paper protocol) | 0.0346 |" in (project / "RESULTS.md").read_text()
    shown = dvc(project, "metrics", "show", "--json").stdout
    assert "test_bce" in shown and "bits_total" in shown


def test_second_repro_is_a_no_op(built):
    project, _ = built
    r = dvc(project, "repro")
    assert ran(r.stdout) == set() and "up to date" in r.stdout


def test_param_change_reruns_exactly_what_depends_on_it(built):
    project, _ = built
    params = yaml.safe_load((project / "params.yaml").read_text())
    original = (project / "params.yaml").read_text()
    try:
        params["evaluate"]["iwae_k"] = 3
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        assert ran(dvc(project, "repro").stdout) == {"evaluate@standard", "evaluate@modified", "report"}
        params["split"]["seed"] += 1
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        reran = ran(dvc(project, "repro").stdout)
        assert "split" in reran and "generate" not in reran
    finally:
        (project / "params.yaml").write_text(original)
        dvc(project, "repro")


def test_metrics_and_params_diff_against_main_as_markdown(built):
    """What the GitHub workflow writes to a pull request's job summary: a branch that changes a param
    and commits its rerun results, diffed against main."""
    project, _ = built
    git = lambda *a: subprocess.run(["git", *a], cwd=project, check=True, capture_output=True, text=True)
    git("add", "-A")
    git("commit", "-qm", "built", "--allow-empty")
    git("checkout", "-qb", "pr")
    try:
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["evaluate"]["seed"] += 1
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        dvc(project, "repro")
        git("add", "-A")
        git("commit", "-qm", "another evaluation seed")
        squeeze = lambda md: re.sub(r" +", " ", md)  # dvc pads the Markdown table's columns
        metrics = squeeze(dvc(project, "metrics", "diff", "main", "--md").stdout)
        assert metrics.startswith("| Path | Metric | main | workspace | Change |")
        assert "| metrics/standard.json | test_bce |" in metrics
        old, new = (json.loads(subprocess.run(["git", "show", f"{rev}:metrics/standard.json"], cwd=project,
                                              capture_output=True, text=True, check=True).stdout)["test_bce"]
                    for rev in ("main", "pr"))
        assert old != new  # the evaluation seed moves the paper-protocol BCE, and the diff shows it
        params_md = squeeze(dvc(project, "params", "diff", "main", "--md").stdout)
        assert f"| params.yaml | evaluate.seed | {params['evaluate']['seed'] - 1} | {params['evaluate']['seed']} |" in params_md
    finally:
        git("checkout", "-q", "main")
        dvc(project, "checkout")


def test_dvc_exp_run_set_param_with_an_exponent(built):
    """`dvc exp run -S` rewrites params.yaml as YAML 1.2 and writes 1e-5 as `1e-05`, which PyYAML
    (YAML 1.1) reads as a string: the stage must still take it as a number."""
    project, _ = built
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", "commit", "-qm", "built", "--allow-empty"], cwd=project, check=True)
    r = dvc(project, "exp", "run", "-S", "models.modified.learning_rate=1e-5")
    assert "train_modified" in ran(r.stdout) and "train_standard" not in ran(r.stdout)
    text = (project / "params.yaml").read_text()
    assert "learning_rate: 1e-05" in text and yaml.safe_load(text)["models"]["modified"]["learning_rate"] == "1e-05"
    diff = dvc(project, "params", "diff", "--json").stdout
    assert "models.modified.learning_rate" in diff
