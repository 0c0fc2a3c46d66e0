"""The VAE objective, written once.

Reduction, as the reference: each term is summed over an image (784 pixels, 8 latent
dimensions) and then averaged over the batch, so the loss is in nats per image.
"""
import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)  # in every Gaussian log-density of the evaluation measures


def reconstruction_nats(logits, x):
    """Bernoulli negative log-likelihood of x under sigmoid(logits), summed per image: (N,).

    BCE with logits is the numerically stable form of sigmoid followed by BCE.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def kl_per_dimension(mu, logvar):
    """Closed-form KL( N(mu, exp(logvar)) || N(0, 1) ) of each latent dimension: (N, d)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_to_standard_normal(mu, logvar):
    """The KL to N(0, I) summed over latent dimensions: (N,)."""
    return kl_per_dimension(mu, logvar).sum(1)


def vae_loss(logits, x, mu, logvar, beta):
    """Batch means of (reconstruction + beta * KL, reconstruction, KL), in nats per image."""
    recon = reconstruction_nats(logits, x).mean()
    kl = kl_to_standard_normal(mu, logvar).mean()
    return recon + beta * kl, recon, kl


def clipped_bce_per_pixel(probs, x, eps=1e-7):
    """The paper's 'test BCE': mean per-pixel BCE with probabilities clipped to [eps, 1 - eps]."""
    p = probs.clamp(eps, 1.0 - eps)
    return -(x * torch.log(p) + (1.0 - x) * torch.log(1.0 - p)).mean()
