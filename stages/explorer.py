"""DVC stage `explorer`: explorer.html, the latent explorer of every trained variant.

One self-contained page (no network, no server: open it from disk) that runs each variant's
encoder and decoder in the browser on the test images; see docs/explorer.md.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.checkpoint import load_checkpoint
from shapes_vae.data import load_shapes, load_split
from shapes_vae.errors import run_stage
from shapes_vae.explorer import page_data, page_html
from shapes_vae.io import write_bytes
from shapes_vae.params import load_params

# exactly what dvc.yaml declares for this stage: the variants and their settings (the page names
# each with its beta and shows its noise_sigma), the architecture the checkpoints must have, and
# the class names of the test images' labels
PARAMS = ["architecture", "generate.classes", "models"]
PAGE = Path("explorer.html")


def main(argv):
    p = load_params(PARAMS)
    shapes = load_shapes()
    test = load_split(len(shapes["labels"]))["test"]
    images, labels = shapes["images"][test], shapes["labels"][test]
    size = images.shape[-1]
    variants = {}
    for name, cfg in p["models"].items():
        model, _ = load_checkpoint(f"models/{name}.pt", p["architecture"], size, "cpu", "plain")
        variants[name] = {"state_dict": model.state_dict(), **cfg}
    html = page_html(page_data(variants, p["architecture"], size, images, labels, p["generate"]["classes"]))
    write_bytes(PAGE, html.encode("utf-8"))
    print(f"explorer: {PAGE} ({len(html.encode()) / 1e6:.2f} MB: {len(variants)} variants, {len(test)} test images)")


if __name__ == "__main__":
    run_stage(main)
