"""Valid but unusual configurations through the real `dvc repro` on the tiny configuration: each
finishes (exit 0, every metric finite or null).

Cases that touch different settings share one project (one `dvc repro`), so the table's cases cost
two pipelines, not one each; each case is still a row that names what it tries."""
import json
import math

import pytest
import yaml

from conftest import dvc, make_tiny_project, ran, scratch_and_tuned, tiny_params

pytestmark = [pytest.mark.slow, pytest.mark.system]


def geometry(size):
    """generate settings that fit an image of `size` pixels (the paper's, scaled)."""
    s = size / 28
    r = lambda v: max(1, round(v * s))
    return {"image_size": size,
            "circle": {"centre_min": r(10), "centre_max": r(18), "radius_min": r(5), "radius_max": r(10) - 1},
            "triangle": {"vertex_min": r(5), "vertex_max": r(23), "min_pixels": 0},
            "rectangle": {"side_min": r(10) - 1, "side_max": r(15) - 2, "aspect_min": 1.0, "aspect_max": 1.0,
                          "corner_min": r(5), "far_edge_max": r(23)}}


def deep_update(d, edit):
    for k, v in edit.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            deep_update(d[k], v)
        else:
            d[k] = v


# (case, the project it runs in, the params edit): two projects, one per image size other than
# the paper's, each a full tiny pipeline; the cases in one project touch different settings.
# FIRST is the params' first variant trained from scratch, TUNED the first one fine-tuned from it.
CASES = [
    ("32-pixel images", "32px", {"generate": geometry(32)}),
    ("latent_dim 2", "32px", {"architecture": {"latent_dim": 2}}),
    ("a subset of the classes in another order", "32px", {"generate": {"classes": ["rectangle", "triangle"]}}),
    ("true rectangles", "32px", {"generate": {"rectangle": {"aspect_min": 0.6, "aspect_max": 1.3}}}),
    ("the balanced class draw", "32px", {"generate": {"class_draw": "balanced"}}),
    ("thin triangles rejected", "32px", {"generate": {"triangle": {"min_pixels": 20}}}),
    ("beta 0", "32px", {"models": {"FIRST": {"beta": 0.0}}}),
    ("a fine-tuned variant from scratch, without noise", "32px", {"models": {"TUNED": {"init": "scratch", "noise_sigma": 0.0}}}),
    ("numbers as dvc exp run -S writes them", "32px", {"models": {"FIRST": {"learning_rate": "1e-3"}}}),
    ("a batch larger than the training set", "32px", {"models": {"FIRST": {"batch_size": 1000}, "TUNED": {"batch_size": 1000}}}),
    ("bfloat16 training", "32px", {"runtime": {"train_precision": "bfloat16"}}),
    ("16-pixel images", "16px", {"generate": geometry(16)}),
    ("a single class", "16px", {"generate": {"classes": ["circle"]}}),
    ("a very small data set", "16px", {"generate": {"n_images": 48}}),
    ("other split fractions", "16px", {"split": {"train_fraction": 0.5, "val_fraction": 0.25, "test_fraction": 0.25}}),
    ("latent_dim 1", "16px", {"architecture": {"latent_dim": 1}}),
    ("other widths", "16px", {"architecture": {"channels": [8, 16], "hidden": 4}}),
    ("torch's default thread count", "16px", {"runtime": {"threads": 0}}),  # the tiny configuration runs on one
    ("the plain backend", "16px", {"runtime": {"backend": "plain"}}),
]
PROJECTS = list(dict.fromkeys(p for _, p, _ in CASES))


def finite_or_null(value, where):
    if isinstance(value, dict):
        for k, v in value.items():
            finite_or_null(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            finite_or_null(v, f"{where}[{i}]")
    elif isinstance(value, float):
        assert math.isfinite(value), f"{where} = {value}"


@pytest.mark.parametrize("project_name", PROJECTS)
def test_unusual_valid_configurations_run_to_the_end(tmp_path, paper_params, project_name):
    params = tiny_params(paper_params)
    first, tuned = scratch_and_tuned(params)
    cases = [c for c in CASES if c[1] == project_name]
    name = {"FIRST": first, "TUNED": tuned}
    for _, _, edit in cases:
        models = {name[k]: v for k, v in edit.get("models", {}).items() if name[k]}  # TUNED may not exist
        deep_update(params, edit | {"models": models})
    project = make_tiny_project(tmp_path / project_name, params)
    if tuned and params["models"][tuned]["init"] == "scratch":  # dvc.yaml now trains it from scratch
        pipeline = yaml.safe_load((project / "dvc.yaml").read_text())
        pipeline["stages"]["train"]["foreach"].append(tuned)
        del pipeline["stages"]["finetune"]["foreach"][tuned]
        (project / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    r = dvc(project, "repro", check=False)
    cases_text = ", ".join(c[0] for c in cases)
    assert r.returncode == 0, f"{cases_text}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stdout + r.stderr
    assert "report" in ran(r.stdout)
    for path in sorted(project.glob("metrics/**/*.json")):
        finite_or_null(json.loads(path.read_text()), path.relative_to(project).as_posix())
