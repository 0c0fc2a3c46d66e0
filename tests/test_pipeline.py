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


def _other_models(project, params, variant):
    """Replace the project's checkpoints of `variant` and of the shape classifier by other models of
    the same architectures: the VAE's fresh weights under another seed, and a classifier trained
    ten times as long under another seed (the tiny one, two epochs on a few images, is never
    confident and calls every picture the same)."""
    import numpy as np
    import torch

    from shapes_vae.backends import build_vae
    from shapes_vae.checkpoint import load_checkpoint, save_checkpoint
    from shapes_vae.classifier import build_classifier, save_classifier
    from shapes_vae.classifier_training import fit_classifier

    _, state = load_checkpoint(project / f"models/{variant}.pt")
    torch.manual_seed(params["models"][variant]["seed"] + 1)
    vae = build_vae(state["architecture"], state["image_size"], "plain", "cpu")
    save_checkpoint(project / f"models/{variant}.pt", vae, variant, state["architecture"], state["config"])
    shapes, split = np.load(project / "data/shapes.npz"), np.load(project / "data/split.npz")
    part = lambda k: (torch.from_numpy(shapes["images"][split[k]].astype(np.float32))[:, None],
                      torch.from_numpy(shapes["labels"][split[k]].astype(np.int64)))
    cfg = params["classifier"] | {"epochs": 10 * params["classifier"]["epochs"], "seed": params["classifier"]["seed"] + 1}
    torch.manual_seed(cfg["seed"])
    classifier = build_classifier(cfg, len(params["generate"]["classes"]), state["image_size"])
    fit_classifier(classifier, *part("train"), *part("val"), cfg)
    save_classifier(project / "models/classifier.pt", classifier, params["generate"]["classes"], params["classifier"],
                    state["image_size"])


# measures read off class verdicts: the shape classifier's (evaluate, novelty) or the class probe's (factors)
VERDICT_MEASURES = ("prior_class_", "recon_class_preserved", "path_verdict_", "plane_verdict_", "probe_accuracy_")


def test_metrics_files_hold_only_numbers_that_change_with_the_model(tiny_copy):
    """Every key of every metrics file `dvc metrics show` lists is a finite number; and every key of a
    variant's own metrics files moves when the stages that write them measure other models under
    the same params and data: a setting, a count of the data or any other constant of the model
    (an iwae_k, a noise sigma, a number of test images) stays put and fails here. Two kinds of
    measure may stay put honestly on models this small, and only they: a share that is 0 for both
    (no prior sample of either copies a training image), and a measure read off class verdicts
    (VERDICT_MEASURES) where both models' pictures all get one verdict, the classifier's or the
    class probe's (a blank decode and a noisy one are both called one shape)."""
    project = tiny_copy
    params = yaml.safe_load((project / "params.yaml").read_text())
    shown = json.loads(dvc(project, "metrics", "show", "--json").stdout)
    files = shown[""]["data"]
    assert "metrics/data.json" in files
    for path, content in files.items():
        for key, value in content["data"].items():
            assert type(value) in (int, float) and math.isfinite(value), f"{path}: {key} = {value!r}"
    # the stages run once per variant that write a metrics file, and the variant whose noise (a
    # setting the information stage reads) is largest: a copied noise sigma is then not zero
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    per_variant = {name: s["do"] for name, s in stages.items() if s.get("foreach") == "${models}" and s["do"].get("metrics")}
    assert {"evaluate", "information", "novelty", "factors"} <= set(per_variant)
    variant = max(params["models"], key=lambda n: params["models"][n]["noise_sigma"])
    paths = {name: [next(iter(m)).replace("${key}", variant) for m in do["metrics"]] for name, do in per_variant.items()}
    before = {p: json.loads((project / p).read_text()) for ps in paths.values() for p in ps}
    _other_models(project, params, variant)
    for name, do in per_variant.items():
        run(project, *do["cmd"].replace("${key}", variant).split())
    for path, measured in before.items():
        again = json.loads((project / path).read_text())
        same = [k for k in measured.keys() & again.keys()
                if measured[k] == again[k] and measured[k] != 0 and not k.startswith(VERDICT_MEASURES)]
        assert not same, f"{path}: {', '.join(f'{k} = {measured[k]}' for k in same)} whatever the model"
        assert measured.keys() & again.keys(), path
