"""DVC stage `split`: stratified train / validation / test indices."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.errors import run_stage
from shapes_vae.io import load_npz, save_npz
from shapes_vae.params import load_params
from shapes_vae.split import stratified_split


# generate too: whether every part of the split gets an image depends on the data set it draws
PARAMS = ["generate", "split"]


def main(argv):
    p = load_params(PARAMS)["split"]
    labels = load_npz("data/shapes.npz", {"labels": ("u", 1)})["labels"]
    fractions = [p["train_fraction"], p["val_fraction"], p["test_fraction"]]
    train, val, test = stratified_split(labels, fractions, p["seed"])
    save_npz("data/split.npz", {"train": train, "val": val, "test": test})
    print(f"split: {len(train)} train / {len(val)} val / {len(test)} test -> data/split.npz")


if __name__ == "__main__":
    run_stage(main)
