"""DVC stage `novelty@<variant>`: are the variant's samples new shapes, and are its latent paths smooth?

Writes metrics/novelty/<variant>.json (shapes_vae.novelty: prior samples against their nearest
training image; straight latent paths between test images of different classes) and
figures/novelty/<variant>.png, the first paths decoded step by step.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch

from shapes_vae.checkpoint import load_checkpoint
from shapes_vae.classifier import load_classifier, predict_proba
from shapes_vae.data import load_labelled_subsets
from shapes_vae.errors import run_stage
from shapes_vae.io import staged_outputs, write_metrics
from shapes_vae.latents import encode_all
from shapes_vae.novelty import latent_paths, path_pairs, path_smoothness, plane_smoothness, sample_novelty
from shapes_vae.params import load_params, variant_argument
from shapes_vae.plotting import grid_figure, save, tile
from shapes_vae.runtime import configure_torch
from shapes_vae.sample_quality import prior_samples

# exactly what dvc.yaml declares for this stage; evaluate's confidence is the threshold the
# generation-quality scores use, so both call a shape the same way
PARAMS = ["architecture", "runtime.device", "runtime.backend", "runtime.threads", "novelty", "evaluate.confidence",
          "models.{variant}"]
SHOWN_PATHS = 6


def main(argv):
    name = variant_argument(argv, "novelty.py")
    p = load_params(PARAMS, variant=name)
    cfg = p["novelty"]
    device = configure_torch(p["runtime"])
    parts = load_labelled_subsets(["train", "test"], device)
    (train, _), (test, test_labels) = parts["train"], parts["test"]
    model, _ = load_checkpoint(f"models/{name}.pt", p["architecture"], test.shape[-1], device, p["runtime"]["backend"])
    classifier, classes = load_classifier("models/classifier.pt", device)
    samples = prior_samples(model, cfg["prior_samples"], cfg["seed"])
    predicted = predict_proba(classifier, samples).argmax(1).numpy()
    metrics = sample_novelty(samples.numpy(), predicted, train[:, 0].cpu().numpy(), classes)
    pairs = path_pairs(test_labels.cpu().numpy(), cfg["paths"], cfg["seed"])
    mu, _ = encode_all(model, test)
    modes, probs = latent_paths(model, classifier, mu[pairs[:, 0]], mu[pairs[:, 1]], cfg["steps"])
    metrics |= path_smoothness(modes.numpy(), probs.numpy(), p["evaluate"]["confidence"])
    metrics |= plane_smoothness(model, classifier)
    metrics_path, figure_path = Path(f"metrics/novelty/{name}.json"), Path(f"figures/novelty/{name}.png")
    shown, title = modes[:SHOWN_PATHS], f"{name} VAE: straight latent paths between test images of different classes"
    if len(shown) == 0:
        shown, title = torch.zeros(1, *modes.shape[1:]), f"{name} VAE: no latent paths (the test set holds one class)"
    with staged_outputs(metrics_path, figure_path) as staged:
        grid = tile(shown.reshape(-1, *shown.shape[-2:]).numpy(), len(shown), cfg["steps"])
        fig, _ = grid_figure(grid, title, shown.shape[-2:])
        save(fig, staged(figure_path))
        write_metrics(staged(metrics_path), metrics)
    print(f"novelty {name}: prior samples {metrics['prior_nearest_train_pixels_median']:g} pixels (median) from the "
          f"nearest training image, {metrics['prior_train_copy_share']:.1%} exact copies; "
          f"{metrics['path_verdict_changes_mean']} verdict changes per latent path (mean)")


if __name__ == "__main__":
    run_stage(main)
