"""DVC stage `factors@<variant>`: does the variant's latent code line up with the generative factors?

Encodes the training and test splits, computes the Mutual Information Gap per factor on the test
split, on the encoder means and on the channel code (a sampled z plus the variant's training
noise: what its decoder receives), and linear probes fitted on the training split's means
(shapes_vae.factors); writes the scores to metrics/factors/<variant>.json, the normalised mutual
information of each latent dimension with each factor to figures/factors/<variant>.json (one
record per dimension and factor) and its heat maps to figures/factors/<variant>.png, with the
collapsed dimensions marked.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.checkpoint import load_checkpoint
from shapes_vae.data import load_shapes, load_split, as_tensor
from shapes_vae.errors import run_stage
from shapes_vae.latents import active_dimensions, channel_latents, encode_all
from shapes_vae.factors import factor_measures, image_factors, split_measures
from shapes_vae.io import staged_outputs, write_json, write_metrics
from shapes_vae.params import load_params, variant_argument
from shapes_vae.plotting import plot_factor_heatmap
from shapes_vae.runtime import configure_torch


# exactly what dvc.yaml declares for this stage; the variant's own settings because its
# checkpoint changes with them anyway
PARAMS = ["architecture", "runtime.device", "runtime.backend", "runtime.threads", "factors", "models.{variant}"]


def main(argv):
    name = variant_argument(argv, "factors.py")
    p = load_params(PARAMS, variant=name)
    device = configure_torch(p["runtime"])
    shapes = load_shapes()
    split = load_split(len(shapes["labels"]))
    model, _ = load_checkpoint(f"models/{name}.pt", p["architecture"], shapes["images"].shape[-1], device,
                               p["runtime"]["backend"])
    cfg, sigma = p["factors"], p["models"][name]["noise_sigma"]
    codes, factors = {}, {}
    for part in ("train", "test"):
        images, labels = shapes["images"][split[part]], shapes["labels"][split[part]]
        codes[part] = encode_all(model, as_tensor(images, device))
        factors[part] = image_factors(images, labels)
    mu, logvar = codes["test"]
    channel = channel_latents(mu, logvar, sigma, cfg["seed"])
    result = factor_measures(codes["train"][0].numpy(), factors["train"], mu.numpy(), factors["test"], cfg["bins"],
                             channel_codes=channel.numpy())
    collapsed = [int(j) for j in (~active_dimensions(mu)).nonzero()[0]]
    channel_name = "channel: sampled z" + (f" + N(0, {sigma:g}²)" if sigma > 0 else "")
    scores, records = split_measures(result)
    metrics_path = Path(f"metrics/factors/{name}.json")
    figure_path, records_path = Path(f"figures/factors/{name}.png"), Path(f"figures/factors/{name}.json")
    with staged_outputs(metrics_path, figure_path, records_path) as staged:
        plot_factor_heatmap({"encoder means": result["mi_normalised"], channel_name: result["mi_channel_normalised"]},
                            result["factor_names"], staged(figure_path),
                            f"{name} VAE: I(z_j; factor) / H(factor), test set", collapsed)
        write_json(staged(records_path), records)
        write_metrics(staged(metrics_path), scores)
    print(f"factors {name}: mean MIG {_f(result['mig_mean'])} on the means, {_f(result['mig_channel_mean'])} "
          f"through the channel; class probe accuracy {_f(result.get('probe_accuracy_class'))}")


def _f(v):
    return "undefined" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    run_stage(main)
