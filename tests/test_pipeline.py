"""End to end through the real `dvc repro` on a tiny configuration in a temporary git repo."""
import json
import math
import re
import subprocess

import numpy as np
import pytest
import yaml

from conftest import dvc, ran, run, set_params

pytestmark = pytest.mark.slow


def variants(project):
    return list(yaml.safe_load((project / "params.yaml").read_text())["models"])


def test_repro_builds_every_output(built_tiny):
    project, out = built_tiny
    params = yaml.safe_load((project / "params.yaml").read_text())
    names = list(params["models"])
    per_variant = {f"{stage}@{n}" for n in names for stage in ("evaluate", "information", "factors", "novelty")}
    trained = {f"{'train' if params['models'][n]['init'] == 'scratch' else 'finetune'}@{n}" for n in names}
    assert ran(out) == {"validate", "generate", "split", "train_classifier", "overview", "explorer", "report"} | per_variant | trained
    n, size = params["generate"]["n_images"], params["generate"]["image_size"]
    with np.load(project / "data/shapes.npz") as d:
        assert d["images"].shape == (n, size, size) and set(np.unique(d["images"])) == {0, 1}
    with np.load(project / "data/split.npz") as s:
        assert sorted(np.concatenate([s["train"], s["val"], s["test"]]).tolist()) == list(range(n))
    latent = params["architecture"]["latent_dim"]
    for name in names:
        m = json.loads((project / f"metrics/{name}.json").read_text())
        assert 0 < m["test_bce"] < 1
        log = (project / f"logs/{name}.csv").read_text().splitlines()
        assert len(log) == 1 + params["models"][name]["epochs"]
        for fig in ("reconstructions", "prior_samples", "latent_traversal"):
            assert (project / f"figures/{name}/{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        info = json.loads((project / f"metrics/information/{name}.json").read_text())
        test_images = json.loads((project / "metrics/data.json").read_text())["test_images"]
        assert info["mi_bits_estimate"] <= math.log2(test_images) + 1e-9
        assert ("paper_bits_estimate" in info) == (params["models"][name]["noise_sigma"] > 0)
        bits = json.loads((project / f"figures/bits_per_dim/{name}.json").read_text())
        assert [r["dimension"] for r in bits] == list(range(latent))
        assert math.fsum(r["rate_bits"] for r in bits) == pytest.approx(info["rate_bits_upper_bound"], abs=latent * 1e-6)
        records = json.loads((project / f"figures/factors/{name}.json").read_text())
        assert sorted({r["dimension"] for r in records}) == list(range(latent))
        assert (project / f"figures/factors/{name}.png").exists()
    page = (project / "RESULTS.md").read_text()
    assert "| Standard VAE, test BCE (paper protocol)" in page and all(f" {n} |" in page for n in names)
    shown = dvc(project, "metrics", "show", "--json").stdout
    assert "test_bce" in shown and "paper_bits_estimate" in shown and "mig_mean" in shown
    assert "| test_bce" in out or "test_bce" in out  # the tiny command ends with dvc metrics show --md


def test_second_repro_is_a_no_op(built_tiny):
    r = dvc(built_tiny[0], "status")
    assert "up to date" in r.stdout, r.stdout


def test_each_curve_is_drawn_once_against_its_axis(built_tiny):
    import sys
    sys.path.insert(0, str(__import__("conftest").ROOT / "tools"))
    from check_plot_definitions import chart_problems

    shown = json.loads(dvc(built_tiny[0], "plots", "show", "--json").stdout)
    assert chart_problems(shown) == []
    charts = [k for k, v in shown["data"].items() if v[0]["type"] == "vega"]
    names = variants(built_tiny[0])
    assert sorted(charts) == sorted([f"logs/{n}.csv" for n in names + ["classifier"]]
                                    + [f"figures/{kind}/{n}.json" for n in names for kind in ("bits_per_dim", "factors")])


def test_param_changes_rerun_what_depends_on_them_and_the_run_cache_restores_the_rest(tiny_copy):
    """Change a beta, rerun, change it back, rerun: the third run restores the fine-tuned model and
    everything after it from DVC's run cache, byte for byte, instead of training again. Then an
    evaluation-only change on a branch, committed and diffed against main as the GitHub workflow
    writes it to a pull request's job summary."""
    project = tiny_copy
    tuned = next(n for n, c in yaml.safe_load((project / "params.yaml").read_text())["models"].items() if c["init"] != "scratch")
    # the README's figure shows the variants that stand for the paper's models
    pictured = {"overview"} if tuned in yaml.safe_load((project / "params.yaml").read_text())["report"].values() else set()
    def every_output():
        files = [p for d in ("data", "models", "metrics", "logs", "figures") for p in (project / d).rglob("*") if p.is_file()]
        return {p.relative_to(project).as_posix(): p.read_bytes() for p in files + [project / "RESULTS.md", project / "explorer.html"]}

    first = every_output()
    beta = set_params(project, lambda p: p["models"][tuned].update(beta=p["models"][tuned]["beta"] + 1.5))["models"][tuned]["beta"]
    r = dvc(project, "repro")
    # validate reruns on every edit of params.yaml, in under a second, and changes nothing downstream
    assert ran(r.stdout) == {"validate", f"finetune@{tuned}", f"evaluate@{tuned}", f"information@{tuned}", f"factors@{tuned}",
                             f"novelty@{tuned}", "explorer", "report"} | pictured
    set_params(project, lambda p: p["models"][tuned].update(beta=beta - 1.5))
    r = dvc(project, "repro")
    assert f"Stage 'finetune@{tuned}' is cached - skipping run" in r.stdout, r.stdout
    assert "Stage 'explorer' is cached - skipping run" in r.stdout, r.stdout
    assert ran(r.stdout) <= {"validate", "report"}  # a Markdown page is not a metric or plot: it reruns, in a second
    assert every_output() == first

    # an evaluation-only change reruns evaluation alone, and nothing trains
    run(project, "git", "checkout", "-qb", "pr")
    params = set_params(project, lambda p: p["evaluate"].update(seed=p["evaluate"]["seed"] + 1))
    assert ran(dvc(project, "repro").stdout) == {f"evaluate@{n}" for n in variants(project)} | {"validate", "overview", "report"}
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "another evaluation seed")
    squeeze = lambda md: re.sub(r" +", " ", md)  # dvc pads the Markdown table's columns
    name = variants(project)[0]
    metrics = squeeze(dvc(project, "metrics", "diff", "main", "--md").stdout)
    assert metrics.startswith("| Path | Metric | main | workspace | Change |")
    assert f"| metrics/{name}.json | test_bce |" in metrics
    old, new = (json.loads(subprocess.run(["git", "show", f"{rev}:metrics/{name}.json"], cwd=project,
                                          capture_output=True, text=True, check=True).stdout)["test_bce"]
                for rev in ("main", "pr"))
    assert old != new  # the evaluation seed moves the paper-protocol BCE, and the diff shows it
    params_md = squeeze(dvc(project, "params", "diff", "main", "--md").stdout)
    assert f"| params.yaml | evaluate.seed | {params['evaluate']['seed'] - 1} | {params['evaluate']['seed']} |" in params_md


def test_a_third_variant_is_one_params_block_and_one_dvc_yaml_line(tiny_copy):
    """A new variant fine-tuned from the first: its block in params.yaml and its entry under
    finetune in dvc.yaml; it is trained, evaluated, reported and diffed like the others."""
    project = tiny_copy
    names = variants(project)
    first, new = names[0], next(n for n in ("wide", "wide_2", "wide_3") if n not in names)
    set_params(project, lambda p: p["models"].update({new: dict(p["models"][first], init=first, beta=4.0, noise_sigma=0.25)}))
    pipeline = yaml.safe_load((project / "dvc.yaml").read_text())
    pipeline["stages"]["finetune"]["foreach"][new] = first
    (project / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    r = dvc(project, "repro")
    assert ran(r.stdout) == {"validate", f"finetune@{new}", f"evaluate@{new}", f"information@{new}", f"factors@{new}",
                             f"novelty@{new}", "explorer", "report"}
    assert json.loads((project / f"metrics/{new}.json").read_text())["test_bce"] > 0
    assert f"| Measure | {' | '.join(names + [new])} |" in (project / "RESULTS.md").read_text()
    assert f"metrics/{new}.json" in dvc(project, "metrics", "diff", "main").stdout


def test_a_variant_missing_from_dvc_yaml_is_refused_before_any_work(tiny_copy):
    project = tiny_copy
    set_params(project, lambda p: p["models"].update(extra=dict(p["models"][variants(project)[0]], init="scratch")))
    r = dvc(project, "repro", check=False)
    # refused by the validate stage, or by DVC itself when it finds no stage makes models/extra.pt
    assert r.returncode != 0 and ("add extra to stages.train.foreach" in r.stderr or "models/extra.pt" in r.stderr), r.stderr
    assert "Traceback" not in r.stderr and ran(r.stdout) <= {"validate"}
