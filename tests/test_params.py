"""Every validation rule of params.yaml, table-driven: each bad edit names its key path."""
import pytest
import yaml

from shapes_vae.errors import PipelineError
from shapes_vae.params import SCHEMA, load_params

ALL_GROUPS = list(SCHEMA)


def set_key(params, path, value):
    *parents, last = path.split(".")
    d = params
    for k in parents:
        d = d[k]
    if value is DELETE:
        del d[last]
    else:
        d[last] = value


DELETE = object()

# (key path, bad value, words the one-line error must contain)
BAD_EDITS = [
    ("split.val_fraction", 1.5, "split.val_fraction must be in (0, 1), got 1.5"),
    ("split.train_fraction", 0.8, "must sum to 1"),
    ("split.seed", -1, "split.seed must be >= 0"),
    ("split.seed", 1.5, "split.seed must be an integer"),
    ("split.seed", True, "split.seed must be an integer"),
    ("generate.n_images", "many", "generate.n_images must be an integer"),
    ("generate.n_images", 0, "generate.n_images must be >= 1"),
    ("generate.classes", ["circle", "hexagon"], "generate.classes[1] must be one of circle, triangle, rectangle"),
    ("generate.classes", ["circle", "circle"], "generate.classes must not repeat"),
    ("generate.classes", [], "generate.classes must list 1"),
    ("generate.class_draw", "random", "generate.class_draw must be one of uniform, balanced"),
    ("generate.circle.raduis_max", 3, "generate.circle.raduis_max is not a known setting"),
    ("generate.circle.radius_min", 12, "generate.circle.radius_min must be <= generate.circle.radius_max"),
    ("generate.circle.centre_max", 40, "generate.circle.centre_max must lie inside the image"),
    ("generate.image_size", 30, "generate.image_size must be a multiple of 4"),
    ("generate.rectangle.side_max", 30, "generate.rectangle.side_max is too large"),
    ("generate.rectangle.aspect_min", 0, "generate.rectangle.aspect_min must be in (0, inf)"),
    ("generate.triangle", DELETE, "generate.triangle is missing"),
    ("generate.triangle.min_pixels", -3, "generate.triangle.min_pixels must be >= 0"),
    ("architecture.channels", [32], "architecture.channels must list 2"),
    ("architecture.latent_dim", "8", "architecture.latent_dim must be an integer"),
    ("runtime.device", "gpu", "runtime.device must be one of auto, cpu, cuda"),
    ("runtime.progress", False, "runtime.progress must be one of auto, always, never"),
    ("runtime.train_precision", "float16", "runtime.train_precision must be one of float32, bfloat16"),
    ("models.standard.learning_rate", "fast", "models.standard.learning_rate must be a number"),
    ("models.standard.learning_rate", 0, "models.standard.learning_rate must be in (0, 1)"),
    ("models.modified.beta", -1, "models.modified.beta must be in [0, inf]"),
    ("models.modified.beta", float("nan"), "models.modified.beta must be a finite number"),
    ("models.modified.init", "pretrained", "models.modified.init must be one of scratch, standard"),
    ("models.standard.init", "standard", "models.standard.init must be scratch"),
    ("models.modified.epochs", 0, "models.modified.epochs must be >= 1"),
    ("models.modified.epoch", 3, "models.modified.epoch is not a known setting"),
    ("models.extra", {}, "models.extra is not a known setting"),
    ("evaluate.iwae_k", 0, "evaluate.iwae_k must be >= 1"),
    ("information.seed", None, "information.seed must be an integer"),
    ("evaluate.confidence", 1.5, "evaluate.confidence must be in [0, 1], got 1.5"),
    ("evaluate.prior_samples", 0, "evaluate.prior_samples must be >= 1"),
    ("classifier.epochs", 0, "classifier.epochs must be >= 1"),
    ("classifier.channels", [16, 32, 64], "classifier.channels must list 2"),
]


@pytest.mark.parametrize("path, value, message", BAD_EDITS, ids=[f"{p}={v!r}" for p, v, _ in BAD_EDITS])
def test_bad_edit_gives_one_line_error_naming_the_key(tmp_path, paper_params, path, value, message):
    set_key(paper_params, path, value)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(paper_params))
    with pytest.raises(PipelineError) as e:
        load_params(ALL_GROUPS, f)
    text = str(e.value)
    assert message in text and "\n" not in text
    assert text.startswith(f"{f}: ")


def test_committed_params_are_valid():
    p = load_params(ALL_GROUPS)
    assert p["models"]["standard"]["learning_rate"] == 0.001


def test_yaml_1_2_floats_written_by_dvc_are_numbers(tmp_path, paper_params):
    f = tmp_path / "params.yaml"
    text = yaml.safe_dump(paper_params).replace("learning_rate: 0.001", "learning_rate: 1e-3")
    f.write_text(text)
    assert yaml.safe_load(text)["models"]["standard"]["learning_rate"] == "1e-3"  # PyYAML: a string
    assert load_params(["models"], f)["models"]["standard"]["learning_rate"] == 0.001


def test_syntax_error_and_missing_file_and_missing_group(tmp_path, paper_params):
    f = tmp_path / "params.yaml"
    f.write_text("split: [unclosed\n")
    with pytest.raises(PipelineError, match="not valid YAML at line"):
        load_params(["split"], f)
    with pytest.raises(PipelineError, match="file not found"):
        load_params(["split"], tmp_path / "absent.yaml")
    del paper_params["evaluate"]
    f.write_text(yaml.safe_dump(paper_params))
    with pytest.raises(PipelineError, match="evaluate is missing"):
        load_params(["evaluate"], f)
    assert "split" in load_params(["split"], f)  # other stages still run
