"""Information measures of the latent channel, in bits.

Inputs may be numpy arrays or torch tensors (mu, logvar, z: (N, d)); everything is computed in
float64 numpy. Conventions: "bound" marks a figure that provably lies on one side of the quantity
it stands for; "estimate" marks a Monte-Carlo or plug-in figure with sampling error.

- `paper_bits`: the paper's figure (a Gaussian-channel capacity formula applied to the variance of
  the sampled z). It is an estimate of the capacity of a Gaussian channel with that input power,
  not a measurement of how much information about x actually passes.
- `encoder_noise_channel_bits`: the same formula counting the encoder's own noise as noise too.
- `rate_bits`: mean KL(q(z|x) || N(0, I)), an upper bound on I(X; Z) under the encoder.
- `aggregate_posterior_mi_bits`: a Monte-Carlo estimate of I(X; Z) with X uniform over the set,
  bounded above by log2 N.
"""
import math

import numpy as np
import torch

from shapes_vae.objectives import LOG_2PI, kl_per_dimension

LN2 = math.log(2.0)


def _np(a):
    """float64 numpy array from an array-like or a torch tensor (detached, on the CPU)."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def gaussian_channel_bits(signal_var, noise_var):
    """Capacity of a Gaussian channel, 0.5 * log2(1 + signal_var / noise_var), elementwise (bits
    per dimension). Exact for Gaussian input of variance signal_var and additive independent
    Gaussian noise of variance noise_var; for any other input of that variance it is an upper bound
    on the information passed."""
    return 0.5 * np.log2(1.0 + _np(signal_var) / _np(noise_var))


def paper_bits(z_samples, noise_sigma):
    """The paper's estimate: per-dimension variance of the sampled z over the test set (population
    variance, ddof = 0, as numpy's / TensorFlow's default variance that the reference used), fed to
    `gaussian_channel_bits` with noise variance noise_sigma ** 2, summed over dimensions.

    An estimate (plug-in, from one z per image) of a channel capacity, i.e. of what a Gaussian
    input of that variance could carry through N(0, noise_sigma^2) noise; it ignores the encoder's
    own sampling noise, which is part of the "signal" variance here. Returns (total, per_dim)."""
    if noise_sigma <= 0:
        raise ValueError(f"noise_sigma must be > 0, got {noise_sigma}")
    z = _np(z_samples)
    per_dim = gaussian_channel_bits(z.var(axis=0, ddof=0), float(noise_sigma) ** 2)
    return float(per_dim.sum()), per_dim


def encoder_noise_channel_bits(mu, logvar, noise_sigma):
    """The Gaussian-channel formula with the encoder's own variance counted as noise: per dim,
    signal = Var_x(mu) (population, ddof = 0), noise = mean_x exp(logvar) + noise_sigma ** 2.

    An estimate (a Gaussian-channel approximation: it treats each dimension as signal plus
    independent Gaussian noise of the average encoder variance). noise_sigma may be 0.
    Returns (total, per_dim)."""
    mu, logvar = _np(mu), _np(logvar)
    noise = np.exp(logvar).mean(axis=0) + float(noise_sigma) ** 2
    per_dim = gaussian_channel_bits(mu.var(axis=0, ddof=0), noise)
    return float(per_dim.sum()), per_dim


def rate_bits(mu, logvar):
    """Mean over the set of the closed-form KL(N(mu, exp(logvar)) || N(0, I)), in bits per image.

    An upper bound on I(X; Z) under the encoder (the rate: I(X;Z) = rate - KL(q(z) || p(z))).
    Returns (total, per_dim); per_dim[k] is the mean KL of dimension k."""
    kl = kl_per_dimension(torch.as_tensor(_np(mu)), torch.as_tensor(_np(logvar)))
    per_dim = kl.numpy().mean(axis=0) / LN2
    return float(per_dim.sum()), per_dim


def _log_normal_matrix(z, mu, var, chunk_elems):
    """log N(z_a; mu_b, diag var_b) for all a, b: (M, N), in row chunks of ~chunk_elems values."""
    m, d = z.shape
    n = mu.shape[0]
    const = -0.5 * (d * LOG_2PI + np.log(var).sum(axis=1))  # (N,)
    rows = max(1, chunk_elems // max(1, n * d))
    out = np.empty((m, n))
    for a in range(0, m, rows):
        diff = z[a : a + rows, None, :] - mu[None, :, :]  # (rows, N, d)
        out[a : a + rows] = const[None, :] - 0.5 * (diff**2 / var[None, :, :]).sum(axis=2)
    return out


def _logsumexp_rows(a):
    top = a.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=1, keepdims=True)))[:, 0]


def _mi_bits(mu, var, src, eps, chunk_elems):
    """src: (M,) the image each draw belongs to; eps: (M, d) standard-normal draws."""
    n, d = mu.shape
    z = mu[src] + np.sqrt(var[src]) * eps
    total = 0.0
    # row chunks of the (M, N) matrix so that at most ~chunk_elems values are alive at a time
    rows = max(1, chunk_elems // max(1, n * d))
    for a in range(0, len(src), rows):
        logq = _log_normal_matrix(z[a : a + rows], mu, var, chunk_elems)  # (rows, N)
        own = logq[np.arange(logq.shape[0]), src[a : a + rows]]
        total += float((own - (_logsumexp_rows(logq) - math.log(n))).sum())
    return total / len(src) / LN2


def aggregate_posterior_mi_bits(
    mu, logvar, seed, n_samples_per_x=1, noise_sigma=0.0, per_dim=False, chunk_elems=4_000_000
):
    """Monte-Carlo estimate of I(X; Z) in bits, X uniform over the N given images, Z ~ q(z|x) and
    the aggregate posterior q(z) = (1/N) sum_j q(z|x_j):

        I = E_{i, z ~ q(z|x_i)} [ log q(z|x_i) - log (1/N) sum_j q(z|x_j) ].

    An unbiased estimate (MC over z only; q(z) is computed exactly as the N-component mixture) of
    the mutual information for the *empirical* distribution of X. It is bounded above by log2 N:
    each term is <= log N exactly, since the j = i component is part of the mixture; so when the
    posteriors barely overlap it saturates at log2 N (about 11.1 bits for N = 2,250) and then
    understates the information for the true data distribution. Individual terms may be negative,
    so the estimate lies in (-inf, log2 N]; nothing is clamped.

    noise_sigma > 0 measures the noisy channel z' = z + N(0, noise_sigma^2 I) of the modified model:
    noise_sigma^2 is added to every component's variance. n_samples_per_x z are drawn per image
    from numpy's default_rng(seed). The (N * n_samples_per_x, N) log-density matrix is computed in
    row chunks of about chunk_elems float64 values (x d during the computation).

    per_dim=True also returns the per-dimension estimates I(X; Z_k) (each computed with the 1-D
    marginals, same draws); they do not add up to the total in general. Returns total, or
    (total, per_dim array) when per_dim is True.
    """
    mu, logvar = _np(mu), _np(logvar)
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(f"mu and logvar must both be (N, d), got {mu.shape} and {logvar.shape}")
    if int(n_samples_per_x) < 1:
        raise ValueError(f"n_samples_per_x must be >= 1, got {n_samples_per_x}")
    var = np.exp(logvar) + float(noise_sigma) ** 2
    n_samples_per_x = int(n_samples_per_x)
    src = np.repeat(np.arange(mu.shape[0]), n_samples_per_x)  # the image each z is drawn for
    eps = np.random.default_rng(seed).standard_normal((len(src), mu.shape[1]))
    total = _mi_bits(mu, var, src, eps, chunk_elems)
    if not per_dim:
        return total
    dims = np.array(
        [_mi_bits(mu[:, k : k + 1], var[:, k : k + 1], src, eps[:, k : k + 1], chunk_elems) for k in range(mu.shape[1])]
    )
    return total, dims
