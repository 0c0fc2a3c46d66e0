"""DVC stage `train_classifier`: the shape classifier that scores the VAEs' generated images.

Writes models/classifier.pt, its per-epoch log logs/classifier.csv and metrics/classifier.json
(accuracy on each split, and on the test images of each class).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package
import torch

from shapes_vae.classifier import accuracy, build_classifier, save_classifier
from shapes_vae.classifier_training import fit_classifier
from shapes_vae.data import load_labelled_subsets
from shapes_vae.errors import PipelineError, run_stage
from shapes_vae.io import staged_outputs, write_csv_log, write_metrics
from shapes_vae.params import load_params
from shapes_vae.runtime import configure_torch


PARAMS = ["classifier", "runtime.device", "runtime.threads", "generate.classes"]  # as dvc.yaml declares


def main(argv):
    p = load_params(PARAMS, untracked=["runtime.progress"])
    cfg, classes = p["classifier"], p["generate"]["classes"]
    device = configure_torch(p["runtime"])
    subsets = load_labelled_subsets(["train", "val", "test"], device)
    x, y = ({k: v[i] for k, v in subsets.items()} for i in (0, 1))
    top = max(int(labels.max()) for labels in y.values())
    if top >= len(classes):
        raise PipelineError(f"data/shapes.npz: labels go up to {top}, "
                            f"but params.yaml generate.classes lists {len(classes)} classes (rerun generate)")
    torch.manual_seed(cfg["seed"])  # weight initialisation
    model = build_classifier(cfg, len(classes), x["train"].shape[-1]).to(device)
    rows = fit_classifier(model, x["train"], y["train"], x["val"], y["val"], cfg, p["runtime"]["progress"])
    metrics = {f"{k}_accuracy": accuracy(model, x[k], y[k]) for k in ("train", "val", "test")}
    for ci, name in enumerate(classes):  # a class with no test image has no accuracy: left out
        mask = y["test"] == ci
        metrics[f"test_accuracy_{name}"] = accuracy(model, x["test"][mask], y["test"][mask]) if bool(mask.any()) else None
    outputs = ("models/classifier.pt", "logs/classifier.csv", "metrics/classifier.json")
    with staged_outputs(*outputs) as staged:
        save_classifier(staged(outputs[0]), model, classes, cfg, x["train"].shape[-1])
        write_csv_log(staged(outputs[1]), ["epoch", "train_loss", "train_accuracy", "val_accuracy"], rows)
        write_metrics(staged(outputs[2]), metrics)
    print(f"train_classifier: {cfg['epochs']} epochs, test accuracy {metrics['test_accuracy']:.4f}")


if __name__ == "__main__":
    run_stage(main)
