import json
import math

import numpy as np
import pytest
import torch

from shapes_vae.evaluation import _decode_pass, active_units, evaluate_model, iwae_nll, per_image_seeds
from shapes_vae.model import VAE
from shapes_vae.objectives import kl_to_standard_normal, reconstruction_nats

N_IMAGES, SIZE, LATENT = 32, 12, 4


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny():
    """A tiny VAE on 12x12 images whose decoder depends strongly on z (so the IWAE gaps between
    K = 1, 10, 100 are large compared with their Monte-Carlo noise), and a few binary images."""
    torch.manual_seed(0)
    model = VAE(latent_dim=LATENT, channels=(4, 8), hidden=8, image_size=SIZE)
    with torch.no_grad():
        model.dec_dense.weight.mul_(30.0)
        model.enc_mu.bias.copy_(torch.linspace(-1, 1, LATENT))
    x = (torch.rand(N_IMAGES, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    return model, x


def _manual_bce(probs, x):
    p = probs.double().clamp(1e-7, 1 - 1e-7)
    x = x.double()
    return float(-(x * p.log() + (1 - x) * (1 - p).log()).mean())


def _sampled(model, x, seed):
    """By hand: (mu, logvar, z) with z = mu + sigma * eps, eps = randn((N, d)) of one generator seeded
    with seed, drawn for the whole set at once (the evaluation's documented draw)."""
    with torch.no_grad():
        mu, logvar = model.encode(x)
    eps = torch.randn((len(x), LATENT), generator=torch.Generator().manual_seed(seed))
    return mu, logvar, mu + torch.exp(0.5 * logvar) * eps


def test_paper_test_bce_matches_hand_computation(tiny):
    model, x = tiny
    mu, logvar, z = _sampled(model, x, 7)
    with torch.no_grad():
        expected = _manual_bce(torch.sigmoid(model.decode(z)), x)
    assert evaluate_model(model, x, seed=7, iwae_k=1)["test_bce"] == pytest.approx(expected, rel=1e-6)
    # the batch weighting is right: uneven batches (5 does not divide 32) give the same mean
    assert evaluate_model(model, x, seed=7, iwae_k=1, batch_size=5)["test_bce"] == pytest.approx(expected, rel=1e-6)
    assert _decode_pass(model, x, z, 5)[0] == pytest.approx(expected, rel=1e-6)


def test_paper_test_bce_depends_on_the_seed(tiny):
    model, x = tiny
    assert evaluate_model(model, x, seed=4, iwae_k=1)["test_bce"] != evaluate_model(model, x, seed=3, iwae_k=1)["test_bce"]


def test_mean_decode_bce_decodes_mu(tiny):
    model, x = tiny
    with torch.no_grad():
        mu, _ = model.encode(x)
        expected = _manual_bce(torch.sigmoid(model.decode(mu)), x)
    for batch_size in (512, 7):
        out = evaluate_model(model, x, seed=0, iwae_k=1, batch_size=batch_size)
        assert out["test_bce_mean_decode"] == pytest.approx(expected, rel=1e-6)


def test_functions_leave_training_mode_as_found(tiny):
    model, x = tiny
    model.train()
    evaluate_model(model, x[:4], seed=0, iwae_k=2)
    assert model.training
    model.eval()
    iwae_nll(model, x[:2], k=3, seed=0)
    assert not model.training


def test_elbo_terms_hand_computation(tiny):
    """recon from the same sampled z as test_bce (seed 5), the closed-form KL, and their sum."""
    model, x = tiny
    mu, logvar, z = _sampled(model, x, 5)
    with torch.no_grad():
        logits = model.decode(z)
    recon = float(reconstruction_nats(logits, x).mean())
    kl = float(kl_to_standard_normal(mu, logvar).mean())
    t = evaluate_model(model, x, seed=5, iwae_k=1, batch_size=6)
    assert t["recon_nats"] == pytest.approx(recon, rel=1e-5)
    assert t["kl_nats"] == pytest.approx(kl, rel=1e-5)
    assert t["neg_elbo_nats"] == pytest.approx(recon + kl, rel=1e-5)
    assert t["test_bce"] == pytest.approx(_manual_bce(torch.sigmoid(logits), x), rel=1e-6)  # the same z


def test_iwae_k1_is_the_sampled_negative_elbo(tiny):
    """With the same draws, K = 1 is -mean[log p(x|z) + log p(z) - log q(z|x)] exactly; image i's
    draw comes from a generator seeded with per_image_seeds(seed, N)[i]."""
    model, x = tiny
    seeds = per_image_seeds(11, N_IMAGES)
    eps = torch.stack([torch.randn(LATENT, generator=torch.Generator().manual_seed(s)) for s in seeds]).double()
    with torch.no_grad():
        mu, logvar = model.encode(x)
        z = mu.double() + torch.exp(0.5 * logvar.double()) * eps
        log_px = -reconstruction_nats(model.decode(z.float()), x).double()
    log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(1)
    log_qz = -0.5 * (eps.pow(2) + logvar.double() + math.log(2 * math.pi)).sum(1)
    expected = float(-(log_px + log_pz - log_qz).mean())
    assert iwae_nll(model, x, k=1, seed=11) == pytest.approx(expected, rel=1e-6)
    assert iwae_nll(model, x, k=1, seed=11, batch_size=3) == pytest.approx(expected, rel=1e-6)


def test_per_image_seeds_are_distinct_63_bit_and_seeded():
    a = per_image_seeds(3, 1000)
    assert len(set(a)) == 1000 and all(0 <= s < 2**63 for s in a)
    assert per_image_seeds(3, 1000) == a and per_image_seeds(4, 1000) != a


def _known_likelihood_model(mu, logvar, n_latent=2):
    """A VAE whose encoder gives every image the posterior N(mu, diag exp(logvar)) and whose decoder
    ignores z: p(x|z) = p(x) for every z, so -log p(x) is known exactly (the reconstruction term of
    any z) and every importance-weighted bound must reach it as K grows."""
    torch.manual_seed(3)
    model = VAE(latent_dim=n_latent, channels=(4, 8), hidden=8, image_size=SIZE)
    with torch.no_grad():
        model.dec_dense.weight.zero_()
        model.dec_dense.bias.uniform_(-2, 2)  # pixel logits that vary across the image
        model.enc_mu.weight.zero_()
        model.enc_mu.bias.copy_(torch.tensor(mu))
        model.enc_logvar.weight.zero_()
        model.enc_logvar.bias.copy_(torch.tensor(logvar))
    return model


def _exact_nll(model, x):
    """-log p(x) per image, averaged, by hand: the Bernoulli log-likelihood of the decoder's output
    (which is the same for every z) written out with log-sigmoids."""
    with torch.no_grad():
        logits = model.decode(torch.zeros(1, model.latent_dim)).double()
    x = x.double()
    log_p = x * torch.nn.functional.logsigmoid(logits) + (1 - x) * torch.nn.functional.logsigmoid(-logits)
    return float(-log_p.flatten(1).sum(1).mean())


def test_iwae_is_exact_when_the_posterior_is_the_prior(tiny):
    """q(z|x) = p(z) and p(x|z) = p(x): every importance weight is p(x), so the bound equals
    -log p(x) exactly for every K; a wrong log K (deleted, its sign flipped, or off by 0.1 nats), a
    log-density constant counted on one side only, would all show here."""
    _, x = tiny
    model = _known_likelihood_model([0.0, 0.0], [0.0, 0.0])
    exact = _exact_nll(model, x)
    for k in (1, 7, 50):
        assert iwae_nll(model, x, k=k, seed=1) == pytest.approx(exact, abs=1e-4), k


def test_iwae_reaches_the_exact_likelihood_as_k_grows(tiny):
    """q(z|x) away from the prior: K = 1 is -log p(x) + KL(q || p) in expectation (the closed form,
    checked on many images), and K = 2000 is within 0.03 nats of -log p(x) (its bias and noise are
    about 0.01 here), while log K alone is 7.6 nats."""
    mu, logvar = [0.8, -0.5], [math.log(0.5), math.log(1.6)]
    model = _known_likelihood_model(mu, logvar)
    x = (torch.rand(4000, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    exact = _exact_nll(model, x)
    kl = sum(0.5 * (m * m + math.exp(lv) - 1 - lv) for m, lv in zip(mu, logvar))  # about 0.61 nats
    # K = 1 over 4000 images: the Monte-Carlo standard error of the mean is about 0.015 nats
    assert iwae_nll(model, x, k=1, seed=4) - exact == pytest.approx(kl, abs=0.05)
    assert iwae_nll(model, x[:8], k=2000, seed=5) == pytest.approx(_exact_nll(model, x[:8]), abs=0.03)


def test_iwae_is_below_neg_elbo_and_non_increasing_in_k(tiny):
    model, x = tiny
    values = [iwae_nll(model, x, k=k, seed=0) for k in (1, 10, 100)]
    assert values[0] > values[1] > values[2]
    neg_elbo = evaluate_model(model, x, seed=0, iwae_k=1)["neg_elbo_nats"]
    assert values[2] < neg_elbo
    assert all(math.isfinite(v) for v in values)


def test_iwae_chunking_over_k_and_images_does_not_change_the_result(tiny):
    model, x = tiny
    x = x[:8]
    whole = iwae_nll(model, x, k=50, seed=2, batch_size=10_000)  # one decoder call
    chunked = iwae_nll(model, x, k=50, seed=2, batch_size=20)  # 3 chunks per image, one partial
    several = iwae_nll(model, x, k=50, seed=2, batch_size=120)  # 2 images per step
    assert chunked == pytest.approx(whole, rel=1e-6)
    assert several == pytest.approx(whole, rel=1e-6)


def test_bad_k_and_batch_size_are_refused(tiny):
    model, x = tiny
    with pytest.raises(ValueError, match="k must be >= 1"):
        iwae_nll(model, x, k=0, seed=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        evaluate_model(model, x, seed=0, iwae_k=1, batch_size=0)


def test_active_units_on_constructed_mu():
    rng = np.random.default_rng(0)
    n = 1000
    mu = np.stack(
        [
            np.full(n, 3.0),  # constant: inactive
            rng.normal(0, math.sqrt(0.001), n),  # var 0.001: inactive
            rng.normal(0, math.sqrt(0.05), n),  # var 0.05: active
            rng.normal(0, 1.0, n),  # var 1: active
        ],
        axis=1,
    )
    assert active_units(mu) == 2
    assert active_units(torch.from_numpy(mu).float()) == 2
    assert active_units(mu, threshold=0.1) == 1
    # population variance: [0, 0.2] has variance 0.01 exactly -> not strictly above the threshold
    assert active_units(np.array([[0.0], [0.2]]), threshold=0.011) == 0


def test_evaluate_model_keys_types_and_batch_size_independence(tiny):
    model, x = tiny
    out = evaluate_model(model, x, seed=0, iwae_k=5, batch_size=16)
    # the keys the metrics files, gather and the report read
    assert set(out) == {"test_bce", "test_bce_mean_decode", "recon_nats", "kl_nats", "neg_elbo_nats",
                        "iwae_nll_nats", "active_units"}
    for key, value in out.items():
        assert type(value) in (float, int), key
        assert math.isfinite(value), key
    assert type(out["active_units"]) is int
    assert out["iwae_nll_nats"] == pytest.approx(iwae_nll(model, x, k=5, seed=0, batch_size=16), rel=1e-12)
    with torch.no_grad():
        mu = model.encode(x)[0].double().numpy()
    assert out["active_units"] == int((((mu - mu.mean(0)) ** 2).mean(0) > 0.01).sum())
    # every figure is the same for another (uneven) batch size
    other = evaluate_model(model, x, seed=0, iwae_k=5, batch_size=7)
    for key in out:
        assert other[key] == pytest.approx(out[key], rel=1e-5), key
    json.dumps(out)


def test_subset_figures_are_the_means_over_each_subset(tiny):
    """Per image, the paper's BCE and the negative ELBO of the same z as evaluate_model: the whole
    set's subset equals its figures, and two halves average to it."""
    from shapes_vae.evaluation import subset_figures

    model, x = tiny
    whole = evaluate_model(model, x, seed=5, iwae_k=1, batch_size=7)
    first = np.arange(N_IMAGES) < 10
    out = subset_figures(model, x, 5, {"all": np.ones(N_IMAGES, bool), "first": first, "rest": ~first,
                                        "none": np.zeros(N_IMAGES, bool)}, batch_size=7)
    assert out["test_bce_all"] == pytest.approx(whole["test_bce"], rel=1e-5)
    assert out["neg_elbo_nats_all"] == pytest.approx(whole["neg_elbo_nats"], rel=1e-5)
    _, _, z_all = _sampled(model, x, 5)  # the whole set's z, by hand; its first ten
    with torch.no_grad():
        expected = _manual_bce(torch.sigmoid(model.decode(z_all[:10])), x[:10])
    assert out["test_bce_first"] == pytest.approx(expected, rel=1e-5)
    assert (10 * out["neg_elbo_nats_first"] + 22 * out["neg_elbo_nats_rest"]) / 32 == pytest.approx(whole["neg_elbo_nats"], rel=1e-6)
    assert out["test_bce_none"] is None and out["neg_elbo_nats_none"] is None
