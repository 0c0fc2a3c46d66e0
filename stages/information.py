"""DVC stage `information`: how much information passes the latent bottleneck, in bits.

metrics/information.json holds, for the modified model, the paper's figure `bits_total` (an
estimate: Gaussian-channel formula on the variance of the sampled z) and `bits_per_dim`; for
both models, key names end in what the figure is: `_upper_bound` (the rate, mean KL, which
bounds I(X;Z) from above) or `_estimate` (Monte-Carlo I(X;Z) under the aggregate posterior of
the test set, at most log2 N = `mi_ceiling_bits`).
"""
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.checkpoint import load_checkpoint
from shapes_vae.data import load_subsets
from shapes_vae.errors import run_stage
from shapes_vae.evaluation import encode_all, sample_latents
from shapes_vae.figures import plot_bits_per_dim
from shapes_vae.information import (
    aggregate_posterior_mi_bits,
    encoder_noise_channel_bits,
    paper_bits,
    rate_bits,
)
from shapes_vae.io import write_json
from shapes_vae.params import load_params
from shapes_vae.runtime import configure_torch


def rounded(values):
    return [round(float(v), 6) for v in values]


def channel_measures(mu, logvar, seed, samples, noise_sigma):
    rate, rate_dims = rate_bits(mu, logvar)
    out = {
        "rate_bits_upper_bound": rate,
        "rate_bits_per_dim": rounded(rate_dims),
        "mi_bits_estimate": aggregate_posterior_mi_bits(mu, logvar, seed, samples),
    }
    if noise_sigma > 0:  # the noisy channel the decoder saw in training: z + N(0, sigma^2)
        out["mi_noisy_channel_bits_estimate"] = aggregate_posterior_mi_bits(mu, logvar, seed, samples, noise_sigma)
    return out


def main(argv):
    p = load_params(["architecture", "runtime", "models", "information"])
    cfg = p["information"]
    device = configure_torch(p["runtime"])
    test = load_subsets(["test"], device)["test"]
    result = {"n_test_images": len(test), "mi_ceiling_bits": math.log2(len(test))}
    per_dim_bars = {}
    for name in ("standard", "modified"):
        model, _ = load_checkpoint(f"models/{name}.pt", p["architecture"], test.shape[-1], device)
        mu, logvar = encode_all(model, test)
        sigma = p["models"][name]["noise_sigma"]
        measures = channel_measures(mu, logvar, cfg["seed"], cfg["mi_samples_per_image"], sigma)
        if sigma > 0:
            z = sample_latents(mu, logvar, cfg["seed"])  # the paper's protocol: one sampled z per image
            total, dims = paper_bits(z, sigma)
            enc_total, enc_dims = encoder_noise_channel_bits(mu, logvar, sigma)
            measures |= {
                "paper_bits_estimate": total,
                "paper_bits_per_dim": rounded(dims),
                "signal_variance_mean": float(z.double().var(0, unbiased=False).mean()),
                "encoder_noise_channel_bits_estimate": enc_total,
                "encoder_noise_channel_bits_per_dim": rounded(enc_dims),
            }
            per_dim_bars[f"{name}: paper estimate"] = dims
        per_dim_bars[f"{name}: rate (upper bound)"] = measures["rate_bits_per_dim"]
        result[name] = measures
    modified = result["modified"]
    if "paper_bits_estimate" in modified:  # the paper's figure under its fixed names
        result["bits_total"] = modified["paper_bits_estimate"]
        result["bits_per_dim"] = modified["paper_bits_per_dim"]
    plot_bits_per_dim(per_dim_bars, "figures/bits_per_dim.png", "Bits per latent dimension")
    write_json("metrics/information.json", result)
    print(f"information: modified model {result.get('bits_total', float('nan')):.2f} bits (paper's estimate), "
          f"rates {result['standard']['rate_bits_upper_bound']:.2f} / {modified['rate_bits_upper_bound']:.2f} bits")


if __name__ == "__main__":
    run_stage(main)
