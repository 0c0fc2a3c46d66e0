"""DVC stage `train_classifier`: the shape classifier that scores the VAEs' generated images.

Reads params groups classifier, runtime and generate.classes; writes models/classifier.pt, its
per-epoch log logs/classifier.csv and metrics/classifier.json (accuracy on each split).
"""
import csv
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package
import torch

from shapes_vae.classifier import accuracy, build_classifier, fit_classifier, save_classifier
from shapes_vae.data import as_tensor, load_shapes, load_split
from shapes_vae.errors import PipelineError, run_stage
from shapes_vae.io import write_bytes, write_json
from shapes_vae.params import load_params
from shapes_vae.runtime import configure_torch
from shapes_vae.train import show_progress


def main(argv):
    p = load_params(["classifier", "runtime", "generate"])
    cfg, classes = p["classifier"], p["generate"]["classes"]
    device = configure_torch(p["runtime"])
    shapes = load_shapes()
    split = load_split(len(shapes["labels"]))
    if shapes["labels"].max(initial=0) >= len(classes):
        raise PipelineError(f"data/shapes.npz: labels go up to {shapes['labels'].max()}, "
                            f"but params.yaml generate.classes lists {len(classes)} classes (rerun generate)")
    x = {k: as_tensor(shapes["images"][split[k]], device) for k in ("train", "val", "test")}
    y = {k: torch.from_numpy(shapes["labels"][split[k]].astype("int64")).to(device) for k in x}
    torch.manual_seed(cfg["seed"])  # weight initialisation
    model = build_classifier(cfg, len(classes), x["train"].shape[-1]).to(device)
    rows = fit_classifier(model, x["train"], y["train"], x["val"], y["val"], cfg, show_progress(p["runtime"]["progress"]))
    per_class = {}
    for ci, name in enumerate(classes):
        mask = y["test"] == ci
        per_class[name] = accuracy(model, x["test"][mask], y["test"][mask]) if bool(mask.any()) else None
    metrics = {f"{k}_accuracy": accuracy(model, x[k], y[k]) for k in ("train", "val", "test")}
    metrics["test_accuracy_per_class"] = per_class
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["epoch", "train_loss", "train_accuracy", "val_accuracy"])
    w.writerows([[r[0]] + [f"{v:.6f}" for v in r[1:]] for r in rows])
    save_classifier("models/classifier.pt", model, classes, cfg, x["train"].shape[-1])
    write_bytes("logs/classifier.csv", buf.getvalue().encode())
    write_json("metrics/classifier.json", metrics)  # last: a metrics file means the stage completed
    print(f"train_classifier: {cfg['epochs']} epochs, test accuracy {metrics['test_accuracy']:.4f}")


if __name__ == "__main__":
    run_stage(main)
