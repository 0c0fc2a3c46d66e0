"""params.yaml: read it safely and validate every group a stage reads before any work is done.

Each rule is declared once in SCHEMA; a violation is a PipelineError whose message names the
key path, e.g. `params.yaml: split.val_fraction must be in (0, 1), got 1.5`.

Numbers: `dvc exp run -S` rewrites params.yaml as YAML 1.2, where `1e-3` is a float, but PyYAML
(YAML 1.1) reads `1e-3` as the string "1e-3". A float setting therefore also accepts a string
that parses as a finite float; anything else that is not a number is an error.
"""
import math
from pathlib import Path

import yaml

from shapes_vae.errors import PipelineError

SHAPES = ("circle", "triangle", "rectangle")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("float32", "bfloat16")  # runtime.train_precision


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


def _model_schema():
    return {
        "init": Choice("scratch", "standard"),
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
    },
    "architecture": {
        "latent_dim": Int(1, 1024),
        "channels": ListOf(Int(1, 4096), min_len=2, max_len=2),
        "hidden": Int(1, 1_000_000),
    },
    "runtime": {
        "device": Choice(*DEVICES),
        "threads": Int(0, 1024),
        "progress": Choice("auto", "always", "never"),
        "resume_every": Int(0),
        "train_precision": Choice(*PRECISIONS),
    },
    "models": {"standard": _model_schema(), "modified": _model_schema()},
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


def _check_ranges(group, p, where):
    """Rules that tie several keys together."""
    def ordered(lo_key, hi_key, sub):
        d = p[sub]
        if d[lo_key] > d[hi_key]:
            raise PipelineError(
                f"{where}.{sub}.{lo_key} must be <= {where}.{sub}.{hi_key}, got {d[lo_key]} > {d[hi_key]}"
            )

    if group == "generate":
        ordered("centre_min", "centre_max", "circle")
        ordered("radius_min", "radius_max", "circle")
        ordered("vertex_min", "vertex_max", "triangle")
        ordered("side_min", "side_max", "rectangle")
        ordered("aspect_min", "aspect_max", "rectangle")
        size, r = p["image_size"], p["rectangle"]
        for sub, keys in (("circle", ("centre_min", "centre_max")), ("triangle", ("vertex_min", "vertex_max"))):
            for k in keys:
                if not 0 <= p[sub][k] < size:
                    raise PipelineError(
                        f"{where}.{sub}.{k} must lie inside the image [0, {size - 1}], got {p[sub][k]}"
                    )
        if not 0 <= r["corner_min"] <= r["far_edge_max"] < size:
            raise PipelineError(
                f"{where}.rectangle.far_edge_max must be in [corner_min, {size - 1}], got {r['far_edge_max']}"
            )
        longest = max(r["side_max"], round(r["side_max"] * r["aspect_max"]))
        if r["corner_min"] + longest > r["far_edge_max"]:
            raise PipelineError(
                f"{where}.rectangle.side_max is too large: a {longest}-pixel extent from corner_min "
                f"{r['corner_min']} passes far_edge_max {r['far_edge_max']}"
            )
        if size % 4:
            raise PipelineError(f"{where}.image_size must be a multiple of 4 (two stride-2 layers), got {size}")
    if group == "split":
        total = p["train_fraction"] + p["val_fraction"] + p["test_fraction"]
        if abs(total - 1.0) > 1e-9:
            raise PipelineError(
                f"{where}: train_fraction + val_fraction + test_fraction must sum to 1, got {total:g}"
            )
    if group == "models" and p["standard"]["init"] != "scratch":
        raise PipelineError(f"{where}.standard.init must be scratch (it is the model others start from)")


def load_params(groups, path="params.yaml"):
    """Read `path` and return {group: validated settings} for each group named."""
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
    out = {}
    for group in groups:
        if group not in raw:
            raise PipelineError(f"{path}: {group} is missing")
        try:
            out[group] = _validate(raw[group], SCHEMA[group], group)
            _check_ranges(group, out[group], group)
        except PipelineError as e:
            raise PipelineError(f"{path}: {e}") from None
    return out
