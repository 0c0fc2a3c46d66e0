"""DVC stage `split`: stratified train / validation / test indices, and the data set's own numbers.

data/split.npz holds the parts; metrics/data.json how many distinct images each class has and, per
class, the share of validation and test images that have an exact copy in the training split (the
paper's protocol allows copies; `split.group_copies: true` keeps every copy of an image in one part).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.copies import copy_groups, dataset_copies
from shapes_vae.errors import PipelineError, run_stage
from shapes_vae.io import load_npz, save_npz, staged_outputs, write_metrics
from shapes_vae.params import load_params
from shapes_vae.split import stratified_split


# generate too: whether every part of the split gets an image depends on the data set it draws
PARAMS = ["generate", "split"]


def main(argv):
    params = load_params(PARAMS)
    p = params["split"]
    shapes = load_npz("data/shapes.npz", {"images": ("u", 3), "labels": ("u", 1)})
    images, labels = shapes["images"], shapes["labels"]
    fractions = [p["train_fraction"], p["val_fraction"], p["test_fraction"]]
    groups = copy_groups(images) if p["group_copies"] else None
    train, val, test = stratified_split(labels, fractions, p["seed"], groups)
    parts = {"train": train, "val": val, "test": test}
    for k, idx in parts.items():
        if len(idx) == 0:  # only possible with group_copies: validation counts images, not copies
            raise PipelineError(f"split.group_copies: the copies of each image kept together leave the {k} set empty "
                                f"(generate.n_images {len(labels)}); use more images or group_copies: false")
    copies = dataset_copies(images, labels, parts, params["generate"]["classes"])
    with staged_outputs("data/split.npz", "metrics/data.json") as staged:
        save_npz(staged("data/split.npz"), parts)
        write_metrics(staged("metrics/data.json"), copies)
    print(f"split: {len(train)} train / {len(val)} val / {len(test)} test -> data/split.npz; "
          f"{copies['test_with_train_copy_share']:.1%} of the test images have a copy in the training split")


if __name__ == "__main__":
    run_stage(main)
