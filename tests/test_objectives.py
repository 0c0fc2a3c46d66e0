import math

import pytest
import torch

from shapes_vae.model import VAE
from shapes_vae.objectives import (
    clipped_bce_per_pixel,
    kl_per_dimension,
    kl_to_standard_normal,
    reconstruction_nats,
    vae_loss,
)


def test_kl_is_zero_at_the_prior():
    assert kl_to_standard_normal(torch.zeros(4, 8), torch.zeros(4, 8)).abs().max() == 0


def test_kl_hand_computed():
    mu = torch.tensor([[1.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    # 0.5 * (mu^2 + var - 1 - log var) per dimension: 0.5 * 1 + 0.5 * (4 + 4 - 1 - log 4)
    expected = 0.5 + 0.5 * (7.0 - math.log(4.0))
    assert torch.allclose(kl_to_standard_normal(mu, logvar), torch.tensor([expected]))
    # per dimension: 0.5 * 1 for the first, 0.5 * (4 + 4 - 1 - log 4) for the second
    assert torch.allclose(kl_per_dimension(mu, logvar), torch.tensor([[0.5, 0.5 * (7.0 - math.log(4.0))]]))


def test_kl_matches_a_monte_carlo_estimate_to_one_percent():
    """E_q[log q(z) - log p(z)] over 400,000 draws (standard error about 0.2% here), with the
    densities from torch.distributions: a KL off by 5% (a constant, a sign) fails."""
    mu = torch.tensor([[0.7, -1.2, 0.1]], dtype=torch.float64)
    logvar = torch.log(torch.tensor([[0.4, 2.5, 1.0]], dtype=torch.float64))
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    z = mu + torch.exp(0.5 * logvar) * torch.randn(400_000, 3, generator=torch.Generator().manual_seed(0),
                                                   dtype=torch.float64)
    p = torch.distributions.Normal(torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    monte_carlo = float((q.log_prob(z) - p.log_prob(z)).sum(1).mean())
    closed_form = float(kl_to_standard_normal(mu, logvar)[0])
    assert closed_form == pytest.approx(monte_carlo, rel=0.01)


def test_bce_with_logits_equals_clipped_sigmoid_bce():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 1, 28, 28, generator=g, dtype=torch.float64) * 3  # clipping does not bind
    x = (torch.rand(5, 1, 28, 28, generator=g) > 0.5).double()
    per_pixel = reconstruction_nats(logits, x).sum() / x.numel()
    assert torch.allclose(per_pixel, clipped_bce_per_pixel(torch.sigmoid(logits), x), rtol=1e-12)


def test_loss_sums_over_pixels_and_averages_over_the_batch():
    logits = torch.zeros(3, 1, 28, 28)  # p = 0.5 everywhere: log 2 nats per pixel
    x = torch.ones(3, 1, 28, 28)
    mu, logvar = torch.zeros(3, 8), torch.zeros(3, 8)
    mu[0, 0] = 2.0  # KL of image 0 is 2, batch mean 2/3
    total, recon, kl = vae_loss(logits, x, mu, logvar, beta=10.0)
    assert math.isclose(recon.item(), 784 * math.log(2), rel_tol=1e-6)
    assert math.isclose(kl.item(), 2 / 3, rel_tol=1e-6)
    assert math.isclose(total.item(), recon.item() + 10 * 2 / 3, rel_tol=1e-6)


def test_model_shapes_and_parameter_count():
    m = VAE()
    logits, mu, logvar, z = m(torch.zeros(2, 1, 28, 28))
    assert logits.shape == (2, 1, 28, 28) and mu.shape == logvar.shape == z.shape == (2, 8)
    # conv 1->32, 32->64, dense 3136->16, heads 16->8 x2, dense 8->3136, deconv 64->64, 64->32, 32->1
    expected = (9 * 32 + 32) + (9 * 32 * 64 + 64) + (3136 * 16 + 16) + 2 * (16 * 8 + 8) + (8 * 3136 + 3136) \
        + (9 * 64 * 64 + 64) + (9 * 64 * 32 + 32) + (9 * 32 + 1)
    assert sum(p.numel() for p in m.parameters()) == expected
    small = VAE(latent_dim=3, channels=(4, 8), hidden=5, image_size=12)
    assert small(torch.zeros(1, 1, 12, 12))[0].shape == (1, 1, 12, 12)


def test_extra_noise_changes_only_the_decoded_sample():
    m = VAE()
    x = (torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    a = m(x, 0.0, torch.Generator().manual_seed(5))
    b = m(x, 0.5, torch.Generator().manual_seed(5))
    assert torch.equal(a[1], b[1]) and torch.equal(a[3], b[3])  # same posterior and same z
    assert not torch.allclose(a[0], b[0])  # decoded from z + noise
