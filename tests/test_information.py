import math

import numpy as np
import pytest
import torch

from shapes_vae.information import (
    aggregate_posterior_mi_bits,
    encoder_noise_channel_bits,
    gaussian_channel_bits,
    paper_bits,
    rate_bits,
)


def test_gaussian_channel_one_bit():
    assert gaussian_channel_bits(3.0, 1.0) == 1.0
    np.testing.assert_allclose(gaussian_channel_bits([0.0, 3.0, 15.0], 1.0), [0.0, 1.0, 2.0])


def test_paper_bits_on_synthetic_gaussians():
    rng = np.random.default_rng(0)
    variances = np.array([0.25, 1.0, 3.0, 0.75])
    z = rng.normal(0.0, np.sqrt(variances), size=(200_000, 4))
    total, per_dim = paper_bits(z, noise_sigma=0.5)
    expected = 0.5 * np.log2(1 + variances / 0.25)
    np.testing.assert_allclose(per_dim, expected, atol=0.01)
    assert total == pytest.approx(per_dim.sum(), rel=1e-12)
    assert total == pytest.approx(expected.sum(), abs=0.02)
    # torch input works the same
    t_total, _ = paper_bits(torch.from_numpy(z), 0.5)
    assert t_total == pytest.approx(total, rel=1e-12)


def test_paper_bits_uses_population_variance():
    # values 0 and 2: population variance 1 (ddof=0), sample variance 2 (ddof=1)
    total, per_dim = paper_bits(np.array([[0.0], [2.0]]), noise_sigma=1.0)
    assert total == pytest.approx(0.5)  # 0.5 * log2(1 + 1/1)


def test_encoder_noise_channel_bits_hand_case():
    # dim 0: Var(mu) = 1, encoder var 1, sigma 1 -> 0.5*log2(1 + 1/2); dim 1: Var(mu) = 0 -> 0
    mu = np.array([[-1.0, 5.0], [1.0, 5.0]])
    logvar = np.zeros((2, 2))
    total, per_dim = encoder_noise_channel_bits(mu, logvar, noise_sigma=1.0)
    np.testing.assert_allclose(per_dim, [0.5 * math.log2(1.5), 0.0])
    assert total == pytest.approx(per_dim.sum())
    # without encoder noise counted it would be the paper-style 0.5*log2(1 + 1/1)
    assert per_dim[0] < 0.5


def test_rate_bits_zero_and_hand_case():
    total, per_dim = rate_bits(np.zeros((5, 3)), np.zeros((5, 3)))
    assert total == 0.0 and np.all(per_dim == 0.0)
    mu = np.zeros((4, 3))
    mu[:, 1] = 1.0  # KL = 0.5 * mu^2 = 0.5 nats in dim 1
    total, per_dim = rate_bits(mu, np.zeros((4, 3)))
    assert total == pytest.approx(0.5 / math.log(2))
    np.testing.assert_allclose(per_dim, [0.0, 0.5 / math.log(2), 0.0], atol=1e-15)
    # variance term: logvar = log 2 in one dim -> 0.5 * (2 - 1 - ln 2) nats
    total, _ = rate_bits(np.zeros((1, 1)), np.full((1, 1), math.log(2.0)))
    assert total == pytest.approx(0.5 * (1 - math.log(2)) / math.log(2))


def test_rate_is_the_training_kl_in_bits_for_arrays_and_tensors():
    """The rate is the mean of the KL term the VAE is trained with, converted to bits."""
    rng = np.random.default_rng(7)
    mu, logvar = rng.normal(size=(50, 4)), rng.normal(size=(50, 4)) - 1
    total, per_dim = rate_bits(mu, logvar)
    kl = 0.5 * (mu ** 2 + np.exp(logvar) - 1 - logvar)  # nats per dimension, written out
    assert total == pytest.approx(float(kl.sum(1).mean()) / math.log(2), rel=1e-12)
    np.testing.assert_allclose(per_dim, kl.mean(0) / math.log(2), rtol=1e-12)
    t_total, t_per_dim = rate_bits(torch.from_numpy(mu).float(), torch.from_numpy(logvar).float())
    assert t_total == pytest.approx(total, rel=1e-5)
    np.testing.assert_allclose(t_per_dim, per_dim, rtol=1e-5)


def test_aggregate_mi_in_range_for_random_inputs():
    rng = np.random.default_rng(1)
    for n, d in [(50, 2), (300, 8)]:
        mu = rng.normal(size=(n, d)) * rng.uniform(0.1, 3)
        logvar = rng.normal(size=(n, d)) - 1
        mi = aggregate_posterior_mi_bits(mu, logvar, seed=0, n_samples_per_x=4)
        assert 0.0 <= mi <= math.log2(n) + 1e-12


def test_aggregate_mi_saturates_at_log2_n_for_separated_posteriors():
    n = 400
    mu = np.random.default_rng(2).uniform(-1000, 1000, size=(n, 8))
    logvar = np.full((n, 8), -20.0)
    mi = aggregate_posterior_mi_bits(mu, logvar, seed=0)
    assert mi == pytest.approx(math.log2(n), abs=1e-9)


def test_aggregate_mi_zero_for_identical_posteriors():
    n = 300
    mu = np.tile([0.3, -1.0, 2.0], (n, 1))
    logvar = np.tile([0.0, -1.0, 1.0], (n, 1))
    assert aggregate_posterior_mi_bits(mu, logvar, seed=0) == pytest.approx(0.0, abs=1e-9)


def test_aggregate_mi_gaussian_known_answer():
    """mu ~ N(0, 1) over many images, posterior variance 1: I ~ 0.5*log2(1 + 1/1) = 0.5 bit; with
    extra channel noise sigma = 1 (variance 2), I ~ 0.5*log2(1 + 1/2)."""
    rng = np.random.default_rng(3)
    n = 2000
    mu = rng.normal(size=(n, 1))
    logvar = np.zeros((n, 1))
    mi = aggregate_posterior_mi_bits(mu, logvar, seed=0, n_samples_per_x=5)
    assert mi == pytest.approx(0.5, abs=0.04)
    mi_noisy = aggregate_posterior_mi_bits(mu, logvar, seed=0, n_samples_per_x=5, noise_sigma=1.0)
    assert mi_noisy == pytest.approx(0.5 * math.log2(1.5), abs=0.04)


def test_aggregate_mi_noise_equals_widened_posteriors_and_chunking_invariant():
    rng = np.random.default_rng(4)
    mu = rng.normal(size=(120, 3))
    logvar = rng.normal(size=(120, 3)) - 1
    noisy = aggregate_posterior_mi_bits(mu, logvar, seed=5, n_samples_per_x=2, noise_sigma=0.5)
    widened = aggregate_posterior_mi_bits(mu, np.log(np.exp(logvar) + 0.25), seed=5, n_samples_per_x=2)
    assert noisy == pytest.approx(widened, rel=1e-12)
    small_chunks = aggregate_posterior_mi_bits(
        mu, logvar, seed=5, n_samples_per_x=2, noise_sigma=0.5, chunk_elems=100
    )
    assert small_chunks == pytest.approx(noisy, rel=1e-12)
    assert noisy < aggregate_posterior_mi_bits(mu, logvar, seed=5, n_samples_per_x=2)


def test_aggregate_mi_per_dim():
    rng = np.random.default_rng(6)
    mu = rng.normal(size=(200, 3)) * np.array([0.0, 1.0, 3.0])
    logvar = np.zeros((200, 3))
    total, per_dim = aggregate_posterior_mi_bits(mu, logvar, seed=0, per_dim=True)
    assert per_dim.shape == (3,)
    assert per_dim[0] == pytest.approx(0.0, abs=1e-9)  # no spread in mu: nothing passes
    assert per_dim[0] < per_dim[1] < per_dim[2]
    assert total == aggregate_posterior_mi_bits(mu, logvar, seed=0)
    one_d_total, one_d = aggregate_posterior_mi_bits(mu[:, 2:], logvar[:, 2:], seed=0, per_dim=True)
    assert one_d[0] == pytest.approx(one_d_total, rel=1e-12)
