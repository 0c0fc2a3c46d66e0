"""A trained VAE's latent codes: the encoder's (mu, logvar) of a whole set, and one sampled z per
image. Shared by evaluation, the information and factor measures, and the figures, so that a
change to one of those reruns only its own stages."""
import torch

from shapes_vae.inference import inference
from shapes_vae.model import reparameterize


def model_device(model):
    return next(model.parameters()).device


def check_batch_size(batch_size):
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


def encode_all(model, x, batch_size=512):
    """(mu, logvar) of the whole set, each (N, d) float32 on the CPU, encoded in batches."""
    batch_size, device = check_batch_size(batch_size), model_device(model)
    mus, logvars = [], []
    with inference(model):
        for i in range(0, len(x), batch_size):
            mu, logvar = model.encode(x[i : i + batch_size].to(device))
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
    return torch.cat(mus), torch.cat(logvars)


def sample_latents(mu, logvar, seed):
    """One z per row, z = mu + exp(logvar / 2) * eps, eps = randn((N, d)) from a Generator seeded
    with seed (drawn at once for the whole set, so the z do not depend on any batching)."""
    return _sampled(mu, logvar, torch.Generator().manual_seed(int(seed)))


def _sampled(mu, logvar, generator):
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    return reparameterize(mu, logvar, eps.to(mu.device))


def channel_latents(mu, logvar, noise_sigma, seed):
    """What the decoder receives in training: one z per row, as `sample_latents(mu, logvar, seed)`,
    plus N(0, noise_sigma^2) noise drawn next from the same generator (none when noise_sigma is 0)."""
    g = torch.Generator().manual_seed(int(seed))
    z = _sampled(mu, logvar, g)
    if noise_sigma > 0:
        z = z + noise_sigma * torch.randn(mu.shape, generator=g, dtype=mu.dtype).to(mu.device)
    return z


def active_dimensions(mu, threshold=0.01):
    """(d,) bool: the latent dimensions whose mean varies over the set, Var_x(mu_j) > threshold
    (Burda et al. 2016's active units; population variance). The others are collapsed: their
    posterior barely moves from image to image."""
    mu = torch.as_tensor(mu).detach().cpu().double()
    return (mu.var(dim=0, unbiased=False) > threshold).numpy()
