"""params.yaml: read it safely and validate the whole file before a stage does any work.

Each rule is declared once in SCHEMA; a violation is a PipelineError whose message names the
key path, e.g. `params.yaml: split.val_fraction must be in (0, 1), got 1.5`.

Numbers: `dvc exp run -S` rewrites params.yaml as YAML 1.2, where `1e-3` is a float, but PyYAML
(YAML 1.1) reads `1e-3` as the string "1e-3". A float setting therefore also accepts a string
that parses as a finite float; anything else that is not a number is an error.
"""
import math
import re
from pathlib import Path

import yaml

from shapes_vae.errors import PipelineError

SHAPES = ("circle", "triangle", "rectangle")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("float32", "bfloat16")  # runtime.train_precision
BACKENDS = ("auto", "plain", "fast_cpu")  # runtime.backend: see shapes_vae.backends


class Int:
    def __init__(self, lo=None, hi=None):
        self.lo, self.hi = lo, hi

    def check(self, v, where):
        if isinstance(v, bool) or not isinstance(v, int):
            raise PipelineError(f"{where} must be an integer, got {v!r}")
        if self.lo is not None and v < self.lo:
            raise PipelineError(f"{where} must be >= {self.lo}, got {v}")
        if self.hi is not None and v > self.hi:
            raise PipelineError(f"{where} must be <= {self.hi}, got {v}")
        return v


class Float:
    """A finite number in [lo, hi], or (lo, hi) ends when open=True."""

    def __init__(self, lo=None, hi=None, open=False):
        self.lo, self.hi, self.open = lo, hi, open

    def check(self, v, where):
        if isinstance(v, str):  # YAML 1.2 floats such as 1e-3, see the module docstring
            try:
                v = float(v)
            except ValueError:
                raise PipelineError(f"{where} must be a number, got {v!r}") from None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise PipelineError(f"{where} must be a finite number, got {v!r}")
        v = float(v)
        lo_bad = self.lo is not None and (v <= self.lo if self.open else v < self.lo)
        hi_bad = self.hi is not None and (v >= self.hi if self.open else v > self.hi)
        if lo_bad or hi_bad:
            a, b = ("(", ")") if self.open else ("[", "]")
            lo = "-inf" if self.lo is None else f"{self.lo:g}"
            hi = "inf" if self.hi is None else f"{self.hi:g}"
            raise PipelineError(f"{where} must be in {a}{lo}, {hi}{b}, got {v:g}")
        return v


class Choice:
    def __init__(self, *options):
        self.options = options

    def check(self, v, where):
        if not isinstance(v, str) or v not in self.options:
            raise PipelineError(f"{where} must be one of {', '.join(self.options)}; got {v!r}")
        return v


class Bool:
    def check(self, v, where):
        if not isinstance(v, bool):
            raise PipelineError(f"{where} must be true or false, got {v!r}")
        return v


class Init:
    """models.<name>.init: scratch, or the name of the variant to fine-tune from (checked against
    the variants in _check_models)."""

    def check(self, v, where):
        return v if v == "scratch" else Name().check(v, where)


class ListOf:
    def __init__(self, item, min_len=1, max_len=None, unique=False):
        self.item, self.min_len, self.max_len, self.unique = item, min_len, max_len, unique

    def check(self, v, where):
        if not isinstance(v, list):
            raise PipelineError(f"{where} must be a list, got {v!r}")
        if len(v) < self.min_len or (self.max_len is not None and len(v) > self.max_len):
            n = self.min_len if self.max_len in (None, self.min_len) else f"{self.min_len}..{self.max_len}"
            raise PipelineError(f"{where} must list {n} item(s), got {len(v)}")
        out = [self.item.check(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if self.unique and len(set(out)) != len(out):
            raise PipelineError(f"{where} must not repeat an item, got {v!r}")
        return out


class Name:
    """A model variant's name: it becomes a file name and a DVC stage key."""

    def check(self, v, where):
        if not isinstance(v, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", v) or v == "scratch":
            raise PipelineError(f"{where} must be a variant name (lower-case letters, digits, _; not 'scratch'), got {v!r}")
        return v


class Mapping:
    """Any number of named entries, each validated by the same schema."""

    def __init__(self, entry, min_len=1):
        self.entry, self.min_len = entry, min_len

    def check(self, v, where):
        if not isinstance(v, dict) or len(v) < self.min_len:
            raise PipelineError(f"{where} must be a mapping of at least {self.min_len} named entries, got {v!r}")
        return {Name().check(k, f"{where}.{k}"): _validate(x, self.entry, f"{where}.{k}") for k, x in v.items()}


MODEL_SCHEMA = {
    "init": Init(),
    "beta": Float(0, None),
    "noise_sigma": Float(0, None),
    "epochs": Int(1),
    "learning_rate": Float(0, 1, open=True),
    "batch_size": Int(1),
    "seed": Int(0),
}


SCHEMA = {
    "generate": {
        "seed": Int(0),
        "n_images": Int(1, 10_000_000),
        "image_size": Int(8, 512),
        "classes": ListOf(Choice(*SHAPES), unique=True),
        "class_draw": Choice("uniform", "balanced"),
        "circle": {"centre_min": Int(), "centre_max": Int(), "radius_min": Int(0), "radius_max": Int(0)},
        "triangle": {"vertex_min": Int(), "vertex_max": Int(), "min_pixels": Int(0)},
        "rectangle": {
            "side_min": Int(0),
            "side_max": Int(0),
            "aspect_min": Float(0, None, open=True),
            "aspect_max": Float(0, None, open=True),
            "corner_min": Int(),
            "far_edge_max": Int(),
        },
    },
    "split": {
        "seed": Int(0),
        "train_fraction": Float(0, 1, open=True),
        "val_fraction": Float(0, 1, open=True),
        "test_fraction": Float(0, 1, open=True),
        "group_copies": Bool(),
    },
    "architecture": {
        "latent_dim": Int(1, 1024),
        "channels": ListOf(Int(1, 4096), min_len=2, max_len=2),
        "hidden": Int(1, 1_000_000),
    },
    "runtime": {
        "device": Choice(*DEVICES),
        "backend": Choice(*BACKENDS),
        "threads": Int(0, 1024),
        "progress": Choice("auto", "always", "never"),
        "resume_every": Int(0),
        "train_precision": Choice(*PRECISIONS),
    },
    "models": Mapping(MODEL_SCHEMA),
    "classifier": {
        "seed": Int(0),
        "epochs": Int(1),
        "learning_rate": Float(0, 1, open=True),
        "batch_size": Int(1),
        "channels": ListOf(Int(1, 4096), min_len=2, max_len=2),
        "hidden": Int(1, 1_000_000),
    },
    "evaluate": {
        "seed": Int(0),
        "iwae_k": Int(1),
        "batch_size": Int(1),
        "prior_samples": Int(1),
        "confidence": Float(0, 1),
    },
    "information": {"seed": Int(0), "mi_samples_per_image": Int(1)},
    "novelty": {"seed": Int(0), "prior_samples": Int(1), "paths": Int(1), "steps": Int(2, 1000)},
    "factors": {"seed": Int(0), "bins": Int(2, 1000)},
    "report": {"paper_standard": Name(), "paper_modified": Name()},
}


def _validate(value, schema, where):
    if not isinstance(schema, dict):
        return schema.check(value, where)
    if not isinstance(value, dict):
        raise PipelineError(f"{where} must be a mapping of settings, got {value!r}")
    unknown = sorted(set(value) - set(schema))
    if unknown:
        raise PipelineError(
            f"{where}.{unknown[0]} is not a known setting (known in {where}: {', '.join(schema)})"
        )
    missing = [k for k in schema if k not in value]
    if missing:
        raise PipelineError(f"{where}.{missing[0]} is missing")
    return {k: _validate(value[k], sub, f"{where}.{k}") for k, sub in schema.items()}


def _check_generate(p, where):
    def ordered(lo_key, hi_key, sub):
        d = p[sub]
        if d[lo_key] > d[hi_key]:
            raise PipelineError(
                f"{where}.{sub}.{lo_key} must be <= {where}.{sub}.{hi_key}, got {d[lo_key]} > {d[hi_key]}"
            )

    ordered("centre_min", "centre_max", "circle")
    ordered("radius_min", "radius_max", "circle")
    ordered("vertex_min", "vertex_max", "triangle")
    ordered("side_min", "side_max", "rectangle")
    ordered("aspect_min", "aspect_max", "rectangle")
    size, r = p["image_size"], p["rectangle"]
    for sub, keys in (("circle", ("centre_min", "centre_max")), ("triangle", ("vertex_min", "vertex_max"))):
        for k in keys:
            if not 0 <= p[sub][k] < size:
                raise PipelineError(f"{where}.{sub}.{k} must lie inside the image [0, {size - 1}], got {p[sub][k]}")
    if not 0 <= r["corner_min"] <= r["far_edge_max"] < size:
        raise PipelineError(f"{where}.rectangle.far_edge_max must be in [corner_min, {size - 1}], got {r['far_edge_max']}")
    longest = max(r["side_max"], round(r["side_max"] * r["aspect_max"]))
    if r["corner_min"] + longest > r["far_edge_max"]:
        raise PipelineError(
            f"{where}.rectangle.side_max is too large: a {longest}-pixel extent from corner_min "
            f"{r['corner_min']} passes far_edge_max {r['far_edge_max']}"
        )
    if size % 4:
        raise PipelineError(f"{where}.image_size must be a multiple of 4 (two stride-2 layers), got {size}")


def _check_models(models, report):
    """init names another variant (no cycles); the report's paper roles name variants."""
    for name, cfg in models.items():
        if cfg["init"] != "scratch" and cfg["init"] not in models:
            raise PipelineError(f"models.{name}.init must be scratch or one of {', '.join(models)}; got {cfg['init']!r}")
    for name in models:
        seen, at = [name], models[name]["init"]
        while at != "scratch":
            if at in seen:
                raise PipelineError(f"models.{name}.init: fine-tuning goes round in a circle ({' -> '.join(seen + [at])})")
            seen.append(at)
            at = models[at]["init"]
    if report is not None:
        for role in ("paper_standard", "paper_modified"):
            if report[role] not in models:
                raise PipelineError(f"report.{role} must name a variant of models ({', '.join(models)}), got {report[role]!r}")


def _check_split(generate, split):
    """Every part of the split gets at least one image of the data set that generate will draw."""
    from shapes_vae.counts import class_counts, split_sizes  # exactly as generate and split draw them

    total = split["train_fraction"] + split["val_fraction"] + split["test_fraction"]
    if abs(total - 1.0) > 1e-9:
        raise PipelineError(f"split: train_fraction + val_fraction + test_fraction must sum to 1, got {total:g}")
    if generate is None:
        return
    fractions = [split[f"{k}_fraction"] for k in ("train", "val", "test")]
    sizes = split_sizes(class_counts(generate), fractions)
    for k, n in zip(("train", "val", "test"), sizes):
        if n == 0:
            raise PipelineError(f"split.{k}_fraction {split[k + '_fraction']:g} of generate.n_images "
                                f"{generate['n_images']} leaves the {k} set empty")


def _check_pipeline(models, dvc_yaml):
    """The variants params.yaml defines are the ones dvc.yaml trains, each from where its init says:
    stage `train` lists those from scratch, stage `finetune` maps the others to their init."""
    stages = (_read(dvc_yaml).get("stages") or {})
    scratch = list((stages.get("train") or {}).get("foreach") or [])
    finetune = dict((stages.get("finetune") or {}).get("foreach") or {})
    for name, cfg in models.items():
        if cfg["init"] == "scratch" and name not in scratch:
            raise PipelineError(f"models.{name}.init is scratch: add {name} to stages.train.foreach in {dvc_yaml}")
        if cfg["init"] != "scratch" and finetune.get(name) != cfg["init"]:
            raise PipelineError(f"models.{name}.init is {cfg['init']}: add `{name}: {cfg['init']}` to "
                                f"stages.finetune.foreach in {dvc_yaml}")
    for name in scratch + [n for n in finetune if n not in scratch]:
        if name not in models:
            raise PipelineError(f"{dvc_yaml} trains {name}, which params.yaml models does not define")
        if name in scratch and models[name]["init"] != "scratch":
            raise PipelineError(f"models.{name}.init is {models[name]['init']}, but {dvc_yaml} trains {name} "
                                f"from scratch (stages.train.foreach): move it to stages.finetune.foreach")


def _read(path):
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise PipelineError(f"{path}: not valid YAML{at} ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: must be a mapping of parameter groups")
    return raw


def validate(raw):
    """{group: validated settings} for every group of SCHEMA present in raw, with the rules that
    tie groups together; a missing group is left out (the stages that read it say so)."""
    out = {}
    for group, schema in SCHEMA.items():
        if group in raw:
            out[group] = _validate(raw[group], schema, group)
    if "generate" in out:
        _check_generate(out["generate"], "generate")
    if "split" in out:
        _check_split(out.get("generate"), out["split"])
    if "models" in out:
        _check_models(out["models"], out.get("report"))
    if "runtime" in out and out["runtime"]["backend"] == "fast_cpu" and out["runtime"]["device"] == "cuda":
        # the other refusals of shapes_vae.backends cannot pass the rules above; device auto
        # resolves on the machine, so that one is refused when the stage picks its device
        raise PipelineError("runtime.backend fast_cpu runs on the CPU only, but runtime.device is cuda "
                            "(use backend auto or plain)")
    return out


# Settings a stage may read without declaring them in dvc.yaml: how it runs, never what it computes.
UNTRACKED = ("runtime.progress", "runtime.resume_every")


def _pick(valid, key):
    """The value at dotted `key` ("runtime.device", "models.standard") of the validated params."""
    value, where = valid, []
    for part in key.split("."):
        where.append(part)
        if not isinstance(value, dict) or part not in value:
            raise PipelineError(f"{'.'.join(where)} is missing")
        value = value[part]
    return value


def load_params(keys, path="params.yaml", variant=None, untracked=(), complete=False):
    """Read `path`, validate every group in it (so a bad setting anywhere is refused by whichever
    stage runs first, before any work) and return the settings at `keys`, dotted paths such as
    "evaluate" or "runtime.device" ("{variant}" in a key stands for `variant`), nested as in the
    file and holding nothing else: a stage lists exactly the params its dvc.yaml entry declares
    (tests/test_dependencies.py compares the two), so reading an undeclared one fails in every
    run, not silently. `untracked` adds settings from UNTRACKED, which change no result. With
    complete=True every group of SCHEMA must be present (stage `validate` checks the whole file)."""
    path = Path(path)
    bad = sorted(set(untracked) - set(UNTRACKED))
    if bad:
        raise ValueError(f"{bad[0]} changes results: declare it in dvc.yaml and in the stage's keys")
    if variant is None and any("{variant}" in k for k in keys):
        raise ValueError("keys name {variant}, but no variant was given")
    raw = _read(path)
    try:
        missing = [group for group in SCHEMA if group not in raw]
        if complete and missing:
            raise PipelineError(f"{missing[0]} is missing (params.yaml needs the groups {', '.join(SCHEMA)})")
        valid = validate(raw)
        dvc_yaml = path.parent / "dvc.yaml"
        if "models" in valid and dvc_yaml.exists():
            _check_pipeline(valid["models"], dvc_yaml)
        if variant is not None and variant not in _pick(valid, "models"):
            raise PipelineError(f"models.{variant} is not a variant (params.yaml models: {', '.join(valid['models'])})")
        out = {}
        for key in [k.format(variant=variant) for k in keys] + list(untracked):
            *parents, last = key.split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = _pick(valid, key)
    except PipelineError as e:
        raise PipelineError(f"{path}: {e}") from None
    return out


def variant_argument(argv, script):
    """The one argument of a stage that runs once per model variant (stages/<script> VARIANT)."""
    if len(argv) != 1:
        raise PipelineError(f"usage: python stages/{script} VARIANT (a name under params.yaml models)")
    return argv[0]
