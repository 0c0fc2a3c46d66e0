"""Every validation rule of params.yaml, table-driven: each bad edit names its key path."""
import copy

import numpy as np
import pytest
import yaml

from conftest import ROOT, scratch_and_tuned
from shapes_vae.errors import PipelineError
from shapes_vae.params import SCHEMA, load_params, variant_argument
from shapes_vae.counts import class_counts, split_sizes
from shapes_vae.render import generate_dataset
from shapes_vae.split import stratified_split

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


class _Delete:
    """The edit that removes a key (a stable repr: pytest-xdist's workers must name the tests alike)."""

    def __repr__(self):
        return "<deleted>"


DELETE = _Delete()

# The edits name the committed params' own variants (whatever they are called): FIRST, the first
# one trained from scratch, and TUNED, one fine-tuned from it, if there is one.
_MODELS = yaml.safe_load((ROOT / "params.yaml").read_text())["models"]
FIRST, TUNED = scratch_and_tuned({"models": _MODELS})
_LAST = list(_MODELS)[-1]

# (key path, bad value, words the one-line error must contain)
BAD_EDITS = [
    ("split.val_fraction", 1.5, "split.val_fraction must be in (0, 1), got 1.5"),
    ("split.train_fraction", 0.999, "must sum to 1"),
    ("split.seed", -1, "split.seed must be >= 0"),
    ("split.seed", 1.5, "split.seed must be an integer"),
    ("split.seed", True, "split.seed must be an integer"),
    ("split.group_copies", "yes", "split.group_copies must be true or false, got 'yes'"),
    ("generate.n_images", "many", "generate.n_images must be an integer"),
    ("generate.n_images", 0, "generate.n_images must be >= 1"),
    ("generate.n_images", 10_000_001, "generate.n_images must be <= 10000000"),
    ("generate.n_images", 1, "of generate.n_images 1 leaves the"),  # a part of the split gets no image
    ("generate.classes", "circle", "generate.classes must be a list"),
    ("generate.classes", ["circle", "hexagon"], "generate.classes[1] must be one of circle, triangle, rectangle"),
    ("generate.classes", ["circle", "circle"], "generate.classes must not repeat"),
    ("generate.classes", [], "generate.classes must list 1"),
    ("generate.class_draw", "random", "generate.class_draw must be one of uniform, balanced"),
    ("generate.circle", 5, "generate.circle must be a mapping of settings"),
    ("generate.circle.raduis_max", 3, "generate.circle.raduis_max is not a known setting"),
    ("generate.circle.radius_min", 1000, "generate.circle.radius_min must be <= generate.circle.radius_max"),
    ("generate.circle.centre_max", 1000, "generate.circle.centre_max must lie inside the image"),
    ("generate.circle.centre_min", 1000, "generate.circle.centre_min must be <= generate.circle.centre_max"),
    ("generate.triangle.vertex_min", 1000, "generate.triangle.vertex_min must be <= generate.triangle.vertex_max"),
    ("generate.triangle.vertex_min", -1, "generate.triangle.vertex_min must lie inside the image"),
    ("generate.rectangle.side_min", 1000, "generate.rectangle.side_min must be <= generate.rectangle.side_max"),
    ("generate.rectangle.aspect_min", 9.0, "generate.rectangle.aspect_min must be <= generate.rectangle.aspect_max"),
    ("generate.image_size", 30, "generate.image_size must be a multiple of 4"),
    ("generate.rectangle.side_max", 1000, "generate.rectangle.side_max is too large"),
    ("generate.rectangle.far_edge_max", 1000, "generate.rectangle.far_edge_max must be in [corner_min, "),
    ("generate.rectangle.aspect_min", 0, "generate.rectangle.aspect_min must be in (0, inf)"),
    ("generate.triangle", DELETE, "generate.triangle is missing"),
    ("generate.triangle.min_pixels", -3, "generate.triangle.min_pixels must be >= 0"),
    ("architecture.channels", [32], "architecture.channels must list 2"),
    ("architecture.latent_dim", "8", "architecture.latent_dim must be an integer"),
    ("runtime.device", "gpu", "runtime.device must be one of auto, cpu, cuda"),
    ("runtime.backend", "cuda", "runtime.backend must be one of auto, plain, fast_cpu"),
    ("runtime.progress", False, "runtime.progress must be one of auto, always, never"),
    ("runtime.train_precision", "float16", "runtime.train_precision must be one of float32, bfloat16"),
    (f"models.{FIRST}.learning_rate", "fast", f"models.{FIRST}.learning_rate must be a number"),
    (f"models.{FIRST}.learning_rate", 0, f"models.{FIRST}.learning_rate must be in (0, 1)"),
    (f"models.{_LAST}.beta", -1, f"models.{_LAST}.beta must be in [0, inf]"),
    (f"models.{_LAST}.beta", float("nan"), f"models.{_LAST}.beta must be a finite number"),
    (f"models.{_LAST}.epochs", 0, f"models.{_LAST}.epochs must be >= 1"),
    (f"models.{_LAST}.epoch", 3, f"models.{_LAST}.epoch is not a known setting"),
    (f"models.{_LAST}.init", "pretrained", f"models.{_LAST}.init must be scratch or one of {', '.join(_MODELS)}"),
    (f"models.{_LAST}.init", "Pre-trained", f"models.{_LAST}.init must be a variant name"),
    (f"models.{FIRST}.init", FIRST, f"models.{FIRST}.init: fine-tuning goes round in a circle ({FIRST} -> {FIRST})"),
    *([(f"models.{FIRST}.init", TUNED, f"models.{FIRST}.init: fine-tuning goes round in a circle ({FIRST} -> {TUNED}")]
      if TUNED else []),
    ("models.extra-1", {}, "models.extra-1 must be a variant name (lower-case letters, digits, _; not 'scratch')"),
    ("models.extra", {}, "models.extra.init is missing"),
    ("report.paper_modified", "absent", "report.paper_modified must name a variant of models"),
    ("report.paper_standard", 3, "report.paper_standard must be a variant name"),
    ("evaluate.iwae_k", 0, "evaluate.iwae_k must be >= 1"),
    ("information.seed", None, "information.seed must be an integer"),
    ("evaluate.confidence", 1.5, "evaluate.confidence must be in [0, 1], got 1.5"),
    ("evaluate.prior_samples", 0, "evaluate.prior_samples must be >= 1"),
    ("classifier.epochs", 0, "classifier.epochs must be >= 1"),
    ("classifier.channels", [16, 32, 64], "classifier.channels must list 2"),
    ("factors.bins", 1, "factors.bins must be >= 2"),
]


def write(tmp_path, params, dvc_yaml=None):
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(params, sort_keys=False))
    if dvc_yaml is not None:
        (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    return f


def refused(f, groups=ALL_GROUPS, **kw):
    """The one-line error load_params gives, which starts with the file's name."""
    with pytest.raises(PipelineError) as e:
        load_params(groups, f, **kw)
    text = str(e.value)
    assert "\n" not in text and text.startswith(f"{f}: ")
    return text


@pytest.mark.parametrize("path, value, message", BAD_EDITS, ids=[f"{p}={v!r}" for p, v, _ in BAD_EDITS])
def test_bad_edit_gives_one_line_error_naming_the_key(tmp_path, paper_params, path, value, message):
    load_params(ALL_GROUPS, write(tmp_path, paper_params))  # the edit, not the rest, is what is refused
    set_key(paper_params, path, value)
    text = refused(write(tmp_path, paper_params))
    assert message in text
    # every stage validates the whole file: one that reads another group refuses it too
    other = "evaluate" if not path.startswith("evaluate") else "split"
    assert refused(tmp_path / "params.yaml", [other]) == text


def test_committed_params_are_valid_and_agree_with_dvc_yaml():
    """The committed pair is checked together, as every stage does (dvc.yaml beside params.yaml)."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = load_params(ALL_GROUPS, ROOT / "params.yaml")
    assert list(p) == ALL_GROUPS and set(raw) == set(SCHEMA)
    assert list(p["models"]) == list(raw["models"])
    assert {p["report"]["paper_standard"], p["report"]["paper_modified"]} <= set(p["models"])
    assert list(load_params(["split", "models"], ROOT / "params.yaml")) == ["split", "models"]


def test_a_stage_gets_exactly_the_keys_it_declares(tmp_path, paper_params):
    """load_params returns the dotted keys asked for and nothing else, so a stage that reads a
    setting its dvc.yaml entry does not declare fails at once instead of going stale unseen."""
    f = write(tmp_path, paper_params)
    p = load_params(["runtime.device", "models.{variant}.noise_sigma", "evaluate"], f, variant=FIRST,
                    untracked=["runtime.progress"])
    assert set(p) == {"runtime", "models", "evaluate"} and set(p["runtime"]) == {"device", "progress"}
    assert p["models"] == {FIRST: {"noise_sigma": float(paper_params["models"][FIRST]["noise_sigma"])}}
    assert p["evaluate"] == load_params(["evaluate"], f)["evaluate"]
    assert "models.nope is not a variant" in refused(f, ["models.{variant}"], variant="nope")
    with pytest.raises(ValueError, match="no variant was given"):
        load_params(["models.{variant}"], f)
    with pytest.raises(ValueError, match="runtime.threads changes results"):
        load_params(["evaluate"], f, untracked=["runtime.threads"])
    with pytest.raises(PipelineError, match="usage: python stages/evaluate.py VARIANT"):
        variant_argument([], "evaluate.py")


def test_the_fast_cpu_backend_on_cuda_is_refused_before_any_work(tmp_path, paper_params):
    paper_params["runtime"] |= {"backend": "fast_cpu", "device": "cuda"}
    assert "runtime.backend fast_cpu runs on the CPU only" in refused(write(tmp_path, paper_params), ["split"])


def test_yaml_1_2_floats_written_by_dvc_are_numbers(tmp_path, paper_params):
    paper_params["models"][FIRST]["learning_rate"] = 0.002
    text = yaml.safe_dump(paper_params)
    assert text.count("learning_rate: 0.002") == 1
    text = text.replace("learning_rate: 0.002", "learning_rate: 2e-3")  # as dvc exp run -S writes it
    assert yaml.safe_load(text)["models"][FIRST]["learning_rate"] == "2e-3"  # PyYAML: a string
    (tmp_path / "params.yaml").write_text(text)
    assert load_params(["models"], tmp_path / "params.yaml")["models"][FIRST]["learning_rate"] == 0.002


def test_syntax_error_and_missing_file_and_missing_group(tmp_path, paper_params):
    f = tmp_path / "params.yaml"
    f.write_text("split: [unclosed\n")
    with pytest.raises(PipelineError, match="not valid YAML at line"):
        load_params(["split"], f)
    f.write_text("- split\n- generate\n")
    assert "must be a mapping of parameter groups" in refused(f, ["split"])
    with pytest.raises(PipelineError, match="file not found"):
        load_params(["split"], tmp_path / "absent.yaml")
    del paper_params["evaluate"]
    write(tmp_path, paper_params)
    assert "evaluate is missing" in refused(f, ["evaluate"])
    assert "split" in load_params(["split"], f)  # other stages still run


def variant(init="scratch", **kw):
    return {"init": init, "beta": 1.0, "noise_sigma": 0.0, "epochs": 1, "learning_rate": 0.01, "batch_size": 8,
            "seed": 0} | kw


def test_variants_are_any_number_of_named_entries(tmp_path, paper_params):
    models = {"a": variant(), "b_2": variant("a", beta=4.0), "c": variant("b_2"), "d": variant()}
    paper_params["models"] = models
    paper_params["report"] = {"paper_standard": "d", "paper_modified": "c"}
    p = load_params(["models", "report"], write(tmp_path, paper_params))
    assert list(p["models"]) == ["a", "b_2", "c", "d"] and p["models"]["b_2"]["beta"] == 4.0
    for name in ("scratch", "2a", "A", "a-b"):
        paper_params["models"] = models | {name: variant()}
        assert f"models.{name} must be a variant name" in refused(write(tmp_path, paper_params))
    paper_params["models"] = {}
    assert "models must be a mapping of at least 1 named entries" in refused(write(tmp_path, paper_params))
    # a longer cycle, and a variant whose chain runs into it
    paper_params["models"] = models | {"a": variant("c")}
    assert "models.a.init: fine-tuning goes round in a circle (a -> c -> b_2 -> a)" in refused(write(tmp_path, paper_params))
    paper_params["models"] = {"x": variant("a"), **models, "a": variant("a")}
    assert "models.x.init: fine-tuning goes round in a circle (x -> a -> a)" in refused(write(tmp_path, paper_params))


def test_variants_must_match_the_pipeline_beside_the_params(tmp_path, paper_params):
    """With a dvc.yaml beside params.yaml: stage train lists the variants from scratch, stage
    finetune maps each other one to its init, and neither trains a variant params does not define."""
    paper_params["models"] = {"a": variant(), "b": variant("a"), "c": variant()}
    paper_params["report"] = {"paper_standard": "a", "paper_modified": "b"}

    def pipeline(train, finetune):
        return {"stages": {"train": {"foreach": train, "do": {"cmd": "true"}},
                           "finetune": {"foreach": finetune, "do": {"cmd": "true"}}}}

    assert load_params(["models"], write(tmp_path, paper_params, pipeline(["a", "c"], {"b": "a"})))
    for stages, words in [
        (pipeline(["a"], {"b": "a"}), "models.c.init is scratch: add c to stages.train.foreach in "),
        (pipeline(["a", "c"], {}), "models.b.init is a: add `b: a` to stages.finetune.foreach in "),
        (pipeline(["a", "c"], {"b": "c"}), "models.b.init is a: add `b: a` to stages.finetune.foreach in "),
        (pipeline(["a", "c", "z"], {"b": "a"}), "trains z, which params.yaml models does not define"),
        (pipeline(["a", "c", "b"], {"b": "a"}), "models.b.init is a, but "),
    ]:
        assert words in refused(write(tmp_path, paper_params, stages))


@pytest.mark.parametrize("class_draw", ["uniform", "balanced"])
def test_an_empty_split_part_is_refused_exactly_when_stratified_split_would_give_one(tmp_path, paper_params,
                                                                                      class_draw):
    """The check predicts, without rendering, what generate and split would do: for small data sets
    it refuses exactly those whose split leaves a part with no image, and names that part."""
    fractions = [0.8, 0.1, 0.1]
    paper_params["split"] |= dict(zip(("train_fraction", "val_fraction", "test_fraction"), fractions))
    outcomes = set()
    for n in range(1, 25):
        paper_params["generate"] |= {"n_images": n, "class_draw": class_draw}
        g = copy.deepcopy(paper_params["generate"])
        labels = generate_dataset(g)["labels"]
        assert class_counts(g) == np.bincount(labels, minlength=len(g["classes"])).tolist()
        sizes = [len(part) for part in stratified_split(labels, fractions, paper_params["split"]["seed"])]
        assert split_sizes(class_counts(g), fractions) == sizes
        f = write(tmp_path, paper_params)
        if 0 in sizes:
            k = ("train", "val", "test")[sizes.index(0)]
            assert f"split.{k}_fraction {fractions[sizes.index(0)]:g} of generate.n_images {n} leaves the {k} set empty" \
                in refused(f)
        else:
            load_params(ALL_GROUPS, f)
        outcomes.add(0 in sizes)
    assert outcomes == {True, False}  # both kinds were seen
