"""Test-set measurements of a trained VAE: the paper's protocol and sounder figures beside it.

Every function here is a pure function of (model, images, seeds): no file I/O, batched so that
memory stays bounded, run under torch.no_grad() with the model in eval mode (its previous mode is
restored afterwards). Images x are (N, 1, 28, 28) float32 in {0, 1}.

Randomness. Each function that samples takes an integer seed and builds its own torch.Generator
(on the CPU; the noise is moved to the model's device), so results never depend on the global RNG:

- the paper's test BCE and the ELBO terms (`evaluate_model`) decode one z per image, drawn for the
  whole set at once (`sample_latents`), so they do not depend on batch_size and share the same z;
- `iwae_nll` draws image i's K samples from its own generator (seeded from `per_image_seeds`), so the
  estimate is the same for any batch_size (any chunking over images or over K).
"""
import math

import numpy as np
import torch

from shapes_vae.inference import inference
from shapes_vae.latents import active_dimensions, check_batch_size, encode_all, model_device, sample_latents
from shapes_vae.model import reparameterize
from shapes_vae.objectives import LOG_2PI, clipped_bce_per_pixel, kl_to_standard_normal, reconstruction_nats


def _decode_pass(model, x, z, batch_size):
    """One decoding of z for the whole set: (clipped per-pixel BCE averaged over all images and
    pixels, mean reconstruction nats per image)."""
    dev = model_device(model)
    bce_total, recon_total = 0.0, 0.0
    with inference(model):
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size].to(dev)
            logits = model.decode(z[i : i + batch_size].to(dev))
            # clipped_bce_per_pixel is a mean over its batch: weight it by the batch's pixel count
            bce_total += float(clipped_bce_per_pixel(torch.sigmoid(logits), xb)) * xb.numel()
            recon_total += float(reconstruction_nats(logits, xb).double().sum())
    return bce_total / x.numel(), recon_total / len(x)


def _elbo_dict(recon, mu, logvar):
    kl = float(kl_to_standard_normal(mu.double(), logvar.double()).mean())
    return {"recon_nats": recon, "kl_nats": kl, "neg_elbo_nats": recon + kl}


def per_image_seeds(seed, n):
    """n distinct, well-mixed 63-bit seeds derived from (seed): image i's IWAE samples come from
    torch.Generator().manual_seed(per_image_seeds(seed, n)[i])."""
    state = np.random.SeedSequence(int(seed)).generate_state(int(n), dtype=np.uint64)
    return [int(s) >> 1 for s in state]


def _eps_from_seeds(seeds, k, d):
    out = torch.empty(len(seeds), k, d)
    for i, s in enumerate(seeds):
        out[i] = torch.randn((k, d), generator=torch.Generator().manual_seed(s))
    return out


def iwae_log_weights(model, x, mu, logvar, eps, batch_size):
    """log w_ij = log p(x_i|z_ij) + log p(z_ij) - log q(z_ij|x_i), z_ij = mu_i + sigma_i * eps_ij.

    x: (B, 1, H, W), mu / logvar: (B, d), eps: (B, K, d). Returns (B, K) float64. The B*K decoder
    calls are made batch_size (image, sample) pairs at a time.
    """
    dev = model_device(model)
    b, k, d = eps.shape
    mu64, logvar64, eps64 = mu.double(), logvar.double(), eps.double()
    z64 = reparameterize(mu64[:, None, :], logvar64[:, None, :], eps64)  # (B, K, d)
    # log q(z|x) from eps directly: -0.5 * sum(log 2pi + logvar + eps^2)
    log_q = -0.5 * (LOG_2PI * d + logvar64.sum(1)[:, None] + eps64.pow(2).sum(2))
    log_p = -0.5 * (LOG_2PI * d + z64.pow(2).sum(2))
    z_flat = z64.reshape(b * k, d).to(torch.float32)
    img_of = torch.arange(b).repeat_interleave(k)  # pair p = (image p // K, sample p % K)
    log_px = torch.empty(b * k, dtype=torch.float64)
    for p in range(0, b * k, batch_size):
        idx = img_of[p : p + batch_size]
        logits = model.decode(z_flat[p : p + batch_size].to(dev))
        log_px[p : p + batch_size] = -reconstruction_nats(logits, x[idx].to(dev)).double().cpu()
    return log_px.view(b, k) + log_p - log_q


def iwae_nll(model, x, k, seed, batch_size=512):
    """Importance-weighted bound (Burda et al. 2016) on -log p(x), in nats per image:

        -mean_i [ logsumexp_j (log p(x_i|z_j) + log p(z_j) - log q(z_j|x_i)) - log K ],
        z_j ~ q(z|x_i), j = 1..K.

    An upper bound on -log p(x) in expectation; it is non-increasing in K and equals the
    (sampled-KL) negative ELBO for K = 1. Image i's K samples come from its own generator
    (`per_image_seeds`), so the figure is identical for every batch_size.

    Memory: batch_size is the number of (image, sample) pairs decoded at once, so decoder
    activations scale as O(batch_size), independent of K and N (a few hundred kB of float32 per
    pair at peak for the paper's VAE, i.e. of order 0.1 GB at batch_size = 512); images are
    processed max(1, batch_size // K) at a time, so the eps / z / log-weight buffers are
    O(max(batch_size, K) * d). K = 5000 with batch_size = 512 holds one image's 5000 x 8 draws and
    decodes them 512 at a time. Time scales as N * K decoder evaluations.
    """
    k, batch_size = int(k), check_batch_size(batch_size)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = len(x)
    mu, logvar = encode_all(model, x, batch_size)
    seeds = per_image_seeds(seed, n)
    images_per_step = max(1, batch_size // k)
    total = 0.0
    with inference(model):
        for i in range(0, n, images_per_step):
            j = min(n, i + images_per_step)
            eps = _eps_from_seeds(seeds[i:j], k, mu.shape[1])
            log_w = iwae_log_weights(model, x[i:j], mu[i:j], logvar[i:j], eps, batch_size)
            total += float((torch.logsumexp(log_w, dim=1) - math.log(k)).sum())
    return -total / n


def active_units(mu, threshold=0.01):
    """Number of latent dimensions whose variance of mu over the set exceeds threshold
    (`shapes_vae.latents.active_dimensions`). mu: (N, d) tensor or array."""
    return int(active_dimensions(mu, threshold).sum())


def per_image_terms(model, x, seed, batch_size=512):
    """Each image's (paper's clipped BCE per pixel, negative ELBO in nats) for the same sampled z as
    `evaluate_model` (one z per image, drawn for the whole set at once with `seed`): (N,), (N,)."""
    batch_size = check_batch_size(batch_size)
    mu, logvar = encode_all(model, x, batch_size)
    z = sample_latents(mu, logvar, seed)
    kl = kl_to_standard_normal(mu.double(), logvar.double())
    bce, recon = [], []
    with inference(model):
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size].to(model_device(model))
            logits = model.decode(z[i : i + batch_size].to(xb.device))
            probs = torch.sigmoid(logits)
            bce += [float(clipped_bce_per_pixel(p, t)) for p, t in zip(probs, xb)]
            recon.append(reconstruction_nats(logits, xb).double().cpu())
    return np.array(bce), (torch.cat(recon) + kl).numpy()


def subset_figures(model, x, seed, subsets, batch_size=512):
    """The paper's test BCE and the negative ELBO (nats per image) on named subsets of x, {name: (N,)
    bool mask}: {f"test_bce_{name}", f"neg_elbo_nats_{name}"}, None for an empty subset."""
    bce, neg_elbo = per_image_terms(model, x, seed, batch_size)
    out = {}
    for name, mask in subsets.items():
        mask = np.asarray(mask, dtype=bool)
        out[f"test_bce_{name}"] = float(bce[mask].mean()) if mask.any() else None
        out[f"neg_elbo_nats_{name}"] = float(neg_elbo[mask].mean()) if mask.any() else None
    return out


def evaluate_model(model, x, seed, iwae_k, batch_size=512):
    """All test-set figures of one model, as a flat dict of plain Python floats / ints:

    test_bce              the paper's protocol (one sampled z per image, clipped per-pixel BCE)
    test_bce_mean_decode  the same, decoding mu
    recon_nats, kl_nats, neg_elbo_nats   beta = 1 ELBO terms, nats per image (same z as test_bce)
    iwae_nll_nats         importance-weighted bound on -log p(x), nats per image, K = iwae_k
    active_units          dims with Var_x(mu) > 0.01
    """
    batch_size = check_batch_size(batch_size)
    mu, logvar = encode_all(model, x, batch_size)
    # one decoding of the sampled z serves test_bce and the ELBO terms, one decoding of mu the
    # mean-decode BCE
    test_bce, recon = _decode_pass(model, x, sample_latents(mu, logvar, seed), batch_size)
    terms = _elbo_dict(recon, mu, logvar)
    out = {
        "test_bce": float(test_bce),
        "test_bce_mean_decode": float(_decode_pass(model, x, mu, batch_size)[0]),
        "recon_nats": float(terms["recon_nats"]),
        "kl_nats": float(terms["kl_nats"]),
        "neg_elbo_nats": float(terms["neg_elbo_nats"]),
        "iwae_nll_nats": float(iwae_nll(model, x, iwae_k, seed, batch_size)),
        "active_units": active_units(mu),
    }
    return out
