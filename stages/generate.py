"""DVC stage `generate`: render the shapes data set and a figure of examples per class."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package, without installing
from shapes_vae.errors import run_stage
from shapes_vae.io import save_npz, staged_outputs
from shapes_vae.params import load_params
from shapes_vae.render import generate_dataset


PARAMS = ["generate"]  # exactly what dvc.yaml declares for this stage


def main(argv):
    p = load_params(PARAMS)["generate"]
    data = generate_dataset(p)
    from shapes_vae.plotting import plot_examples_per_class  # matplotlib only after validation

    with staged_outputs("data/shapes.npz", "figures/examples.png") as staged:
        save_npz(staged("data/shapes.npz"), data)
        plot_examples_per_class(data["images"], data["labels"], list(data["class_names"]), staged("figures/examples.png"))
    per_class = np.bincount(data["labels"], minlength=len(p["classes"]))
    counts = ", ".join(f"{n} {c}" for c, n in zip(p["classes"], per_class))
    print(f"generate: {len(data['labels'])} images of {p['image_size']}x{p['image_size']} ({counts}) -> data/shapes.npz")


if __name__ == "__main__":
    run_stage(main)
