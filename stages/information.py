"""DVC stage `information@<variant>`: how much information passes the variant's latent bottleneck, in bits.

metrics/information/<variant>.json: key names end in what the figure is: `_upper_bound` (the
rate, mean KL, which bounds I(X;Z) from above) or `_estimate` (Monte-Carlo I(X;Z) under the
aggregate posterior of the test set, at most log2 of the test images, metrics/data.json
`test_images`; and, for a variant trained with latent noise, the paper's Gaussian-channel formula
on the variance of the sampled z, `paper_bits_estimate`, with the other noise-dependent figures:
they are left out without noise, since the formula divides by the noise variance).
figures/bits_per_dim/<variant>.json holds the per-dimension figures, one record per latent
dimension, and figures/bits_per_dim/<variant>.png draws them.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.checkpoint import load_checkpoint
from shapes_vae.data import load_subsets
from shapes_vae.errors import run_stage
from shapes_vae.latents import encode_all, sample_latents
from shapes_vae.plotting import plot_bits_per_dim
from shapes_vae.information import (
    aggregate_posterior_mi_bits,
    encoder_noise_channel_bits,
    paper_bits,
    rate_bits,
)
from shapes_vae.io import staged_outputs, write_json, write_metrics
from shapes_vae.params import load_params, variant_argument
from shapes_vae.runtime import configure_torch


def rounded(values):
    return [round(float(v), 6) for v in values]


def channel_measures(mu, logvar, cfg, noise_sigma):
    """(totals, per-dimension lists) of one variant's channel; the noise-dependent figures only
    with noise."""
    seed, samples = cfg["seed"], cfg["mi_samples_per_image"]
    rate, rate_dims = rate_bits(mu, logvar)
    totals = {"rate_bits_upper_bound": rate, "mi_bits_estimate": aggregate_posterior_mi_bits(mu, logvar, seed, samples)}
    per_dim = {"rate_bits": rounded(rate_dims)}
    if noise_sigma > 0:  # the noisy channel the decoder saw in training: z + N(0, sigma^2)
        z = sample_latents(mu, logvar, seed)  # the paper's protocol: one sampled z per image
        total, dims = paper_bits(z, noise_sigma)
        enc_total, enc_dims = encoder_noise_channel_bits(mu, logvar, noise_sigma)
        totals |= {"mi_noisy_channel_bits_estimate": aggregate_posterior_mi_bits(mu, logvar, seed, samples, noise_sigma),
                   "paper_bits_estimate": total, "signal_variance_mean": float(z.double().var(0, unbiased=False).mean()),
                   "encoder_noise_channel_bits_estimate": enc_total}
        per_dim |= {"paper_bits": rounded(dims), "encoder_noise_channel_bits": rounded(enc_dims)}
    return totals, per_dim


def dimension_records(per_dim):
    """One record per latent dimension, {"dimension": j, <figure>: bits, ...}: DVC's plot data."""
    return [{"dimension": j, **{k: v[j] for k, v in per_dim.items()}} for j in range(len(per_dim["rate_bits"]))]


PARAMS = ["architecture", "runtime.device", "runtime.backend", "runtime.threads", "information",
          "models.{variant}.noise_sigma"]  # exactly what dvc.yaml declares for this stage


def main(argv):
    name = variant_argument(argv, "information.py")
    p = load_params(PARAMS, variant=name)
    device = configure_torch(p["runtime"])
    test = load_subsets(["test"], device)["test"]
    model, _ = load_checkpoint(f"models/{name}.pt", p["architecture"], test.shape[-1], device, p["runtime"]["backend"])
    mu, logvar = encode_all(model, test)
    result, per_dim = channel_measures(mu, logvar, p["information"], p["models"][name]["noise_sigma"])
    bars = {"rate (upper bound)": per_dim["rate_bits"]}
    if "paper_bits" in per_dim:
        bars["paper's estimate"] = per_dim["paper_bits"]
    else:
        print(f"information {name}: models.{name}.noise_sigma is 0, so the paper's bits are undefined (left out)")
    metrics_path = Path(f"metrics/information/{name}.json")
    figure_path, records_path = Path(f"figures/bits_per_dim/{name}.png"), Path(f"figures/bits_per_dim/{name}.json")
    with staged_outputs(metrics_path, figure_path, records_path) as staged:
        plot_bits_per_dim(bars, staged(figure_path), f"{name} VAE: bits per latent dimension")
        write_json(staged(records_path), dimension_records(per_dim))
        write_metrics(staged(metrics_path), result)
    paper = result.get("paper_bits_estimate")
    print(f"information {name}: rate {result['rate_bits_upper_bound']:.2f} bits, I(X;Z) {result['mi_bits_estimate']:.2f} bits"
          + ("" if paper is None else f", paper's estimate {paper:.2f} bits"))


if __name__ == "__main__":
    run_stage(main)
