"""DVC stage `evaluate@<variant>`: test-set metrics and figures of one trained variant.

Writes metrics/<variant>.json (the paper's test BCE beside sounder measures, and the generation
quality scored by the shape classifier) and the variant's own figures in figures/<variant>/ --
each drawn from this variant's decoder, never another's. The two are committed together: a
failure anywhere leaves the last run's metrics and figures as they were.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package
from shapes_vae import figures
from shapes_vae.checkpoint import load_checkpoint
from shapes_vae.classifier import load_classifier
from shapes_vae.data import load_labelled_subsets
from shapes_vae.errors import run_stage
from shapes_vae.copies import has_copy_in
from shapes_vae.evaluation import evaluate_model, subset_figures
from shapes_vae.io import staged_outputs, write_metrics
from shapes_vae.params import load_params, variant_argument
from shapes_vae.runtime import configure_torch
from shapes_vae.sample_quality import sample_quality


# exactly what dvc.yaml declares for this stage; the variant's own settings because its
# checkpoint changes with them anyway
PARAMS = ["architecture", "runtime.device", "runtime.backend", "runtime.threads", "evaluate", "models.{variant}"]


def main(argv):
    name = variant_argument(argv, "evaluate.py")
    p = load_params(PARAMS, variant=name)
    cfg = p["evaluate"]
    device = configure_torch(p["runtime"])
    parts = load_labelled_subsets(["train", "test"], device)
    test, test_labels = parts["test"]
    model, _ = load_checkpoint(f"models/{name}.pt", p["architecture"], test.shape[-1], device, p["runtime"]["backend"])
    classifier, classes = load_classifier("models/classifier.pt", device)
    metrics = evaluate_model(model, test, cfg["seed"], cfg["iwae_k"], cfg["batch_size"])
    quality, samples, probs = sample_quality(model, classifier, classes, test, test_labels, cfg["prior_samples"],
                                             cfg["seed"], cfg["confidence"], cfg["batch_size"])
    metrics.update(quality)
    # the paper's figures per class, and on the test images with no exact copy in the training split
    unseen = ~has_copy_in(test.cpu().numpy(), parts["train"][0].cpu().numpy())
    subsets = {name: (test_labels == c).cpu().numpy() for c, name in enumerate(classes)} | {"unseen": unseen}
    metrics.update(subset_figures(model, test, cfg["seed"], subsets, cfg["batch_size"]))
    metrics_path, figure_dir = Path(f"metrics/{name}.json"), Path("figures") / name
    title = f"{name} VAE"
    model = model.cpu()
    with staged_outputs(metrics_path, figure_dir) as staged:
        out = staged(figure_dir)
        figures.plot_reconstructions(model, test[:16].cpu(), out / "reconstructions.png", title, seed=cfg["seed"])
        figures.plot_prior_samples(model, out / "prior_samples.png", title, seed=cfg["seed"])
        if model.latent_dim >= 2:
            figures.plot_latent_grid(model, out / "latent_grid.png", title)
        else:
            print(f"evaluate {name}: no 2-D latent grid for a {model.latent_dim}-d latent (skipped)")
        figures.plot_latent_traversal(model, out / "latent_traversal.png", title)
        figures.plot_classified_samples(samples, probs, classes, cfg["confidence"], out / "prior_samples_classified.png",
                                        f"{title}: prior samples as the classifier sees them (red: top probability < {cfg['confidence']:g})")
        write_metrics(staged(metrics_path), metrics)
    print(f"evaluate {name}: test BCE (paper protocol) {metrics['test_bce']:.4f}, "
          f"-ELBO {metrics['neg_elbo_nats']:.2f} nats, IWAE(K={cfg['iwae_k']}) {metrics['iwae_nll_nats']:.2f} nats, "
          f"prior samples recognised {metrics['prior_confident_share']:.1%}")


if __name__ == "__main__":
    run_stage(main)
