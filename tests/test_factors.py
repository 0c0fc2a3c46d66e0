"""Factor measures: known answers for MIG, the probes and the image factors; the heat map."""
import json
import math

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from shapes_vae import plotting
from shapes_vae.factors import (
    discretise,
    factor_entropies,
    factor_measures,
    image_factors,
    mig,
    mutual_information_matrix,
    probe_accuracy,
    probe_r2,
)
from shapes_vae.render import render_circles, render_rectangles

N_TEST = 2250  # the paper's test split: 15 % of 15,000 images
BINS = 20
MILLER_MADOW_NATS = (BINS - 1) * (BINS - 1) / (2 * N_TEST)  # 0.080: plug-in bias, independent 20 x 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def synthetic_factors(n, seed):
    """Independent factors shaped like this project's: 3 balanced classes, two centroids, an area."""
    rng = np.random.default_rng(seed)
    return {
        "class": rng.permutation(np.arange(n) % 3),
        "centroid_x": rng.uniform(8.0, 20.0, n),
        "centroid_y": rng.uniform(8.0, 20.0, n),
        "area": rng.integers(40, 320, n),
    }


def code_of_factors(factors):
    """A code whose dimension k is an increasing affine map of factor k: equal-width bins are
    invariant to that map, so dimension k carries exactly factor k's discretised information."""
    columns = [np.asarray(v, np.float64) for v in factors.values()]
    return np.stack([2.5 * c - 7.0 for c in columns], axis=1)


# ---------------------------------------------------------------------------------------------
# image_factors


def test_image_factors_on_hand_drawn_images():
    images = np.zeros((3, 5, 6), np.uint8)
    images[0, 1, 4] = 1  # one pixel at row 1, column 4
    images[1, 2:4, 0:3] = 1  # a 2 x 3 block: rows 2-3, columns 0-2
    # image 2 stays empty: it gets the image centre ((W - 1) / 2, (H - 1) / 2) and area 0
    f = image_factors(images, np.array([2, 0, 1], np.uint8))
    np.testing.assert_array_equal(f["class"], [2, 0, 1])
    np.testing.assert_allclose(f["centroid_x"], [4.0, 1.0, 2.5])
    np.testing.assert_allclose(f["centroid_y"], [1.0, 2.5, 2.0])
    np.testing.assert_array_equal(f["area"], [1, 6, 0])
    assert f["class"].dtype == np.int64 and f["area"].dtype == np.int64


def test_image_factors_on_rendered_shapes():
    # a disc of radius 5 inside the image: 81 pixels (render.py), symmetric about its centre
    disc = render_circles(np.array([[13, 14]]), np.array([5]), 28)
    # rectangle from corner (5, 7) with extents (w, h) = (10, 4): 11 x 5 pixels, centre (10, 9)
    rect = render_rectangles(np.array([[5, 7]]), np.array([[10, 4]]), 28)
    images = torch.from_numpy(np.concatenate([disc, rect])[:, None])  # (N, 1, H, W) tensor works too
    f = image_factors(images, torch.tensor([0, 2]))
    np.testing.assert_allclose(f["centroid_x"], [13.0, 10.0])
    np.testing.assert_allclose(f["centroid_y"], [14.0, 9.0])
    np.testing.assert_array_equal(f["area"], [81, 55])


# ---------------------------------------------------------------------------------------------
# discretised MI, entropies, MIG


def test_mi_of_a_fair_bit_with_itself_is_log_2():
    bit = np.arange(1000) % 2
    mi = mutual_information_matrix(bit[:, None].astype(float), {"bit": bit}, bins=BINS)
    assert mi.shape == (1, 1)
    assert mi[0, 0] == pytest.approx(math.log(2.0), abs=1e-12)  # nats
    assert factor_entropies({"bit": bit}, BINS)[0] == pytest.approx(math.log(2.0), abs=1e-12)


def test_factor_with_few_values_keeps_them_but_latents_are_binned():
    values = np.array([0.0, 1.0, 100.0] * 10)
    # three distinct values <= 3 bins: kept, although 0 and 1 share the first equal-width bin
    np.testing.assert_array_equal(discretise(values, 3, keep_few_values=True)[:3], [0, 1, 2])
    np.testing.assert_array_equal(discretise(values, 3)[:3], [0, 0, 2])
    assert factor_entropies({"v": values}, bins=3)[0] == pytest.approx(math.log(3.0))
    # as a latent the same values are binned, so 0 and 1 merge: MI = H(2/3, 1/3), not log 3
    mi = mutual_information_matrix(values[:, None], {"v": values}, bins=3)[0, 0]
    assert mi == pytest.approx(-(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3))


def test_code_of_exactly_the_factors_has_mig_near_one():
    factors = synthetic_factors(N_TEST, seed=1)
    codes = code_of_factors(factors)
    mi = mutual_information_matrix(codes, factors, BINS)
    np.testing.assert_allclose(np.diag(mi), factor_entropies(factors, BINS), rtol=1e-12)
    per_factor, mean = mig(codes, factors, BINS)
    # the gap is 1 minus the second-largest normalised MI, an independent dimension's bias
    assert np.all(per_factor > 0.95), per_factor
    assert mean > 0.95
    # a permuted assignment of dimensions to factors gives the same MIG
    per_factor_rolled, _ = mig(codes[:, [3, 0, 1, 2]], factors, BINS)
    np.testing.assert_allclose(per_factor_rolled, per_factor)


def test_independent_code_shows_only_the_plug_in_bias():
    mean_mi, max_mig = [], 0.0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        factors = synthetic_factors(N_TEST, seed=200 + seed)
        codes = rng.uniform(-1.0, 1.0, (N_TEST, 8))
        mi = mutual_information_matrix(codes, factors, BINS)
        mean_mi.append(mi[:, 1:3].mean())  # against the uniform centroids: 20 x 20 occupied cells
        max_mig = max(max_mig, float(mig(codes, factors, BINS)[0].max()))
    # the figure quoted in factors.py: about 0.08 nats for 20 x 20 bins and N = 2,250
    assert np.mean(mean_mi) == pytest.approx(MILLER_MADOW_NATS, rel=0.1)
    assert max_mig < 0.02  # the bias cancels in the gap: MIG near 0


def test_dependent_code_scores_far_above_the_bias():
    factors = synthetic_factors(N_TEST, seed=3)
    rng = np.random.default_rng(4)
    noisy_x = factors["centroid_x"] + rng.normal(0.0, 1.0, N_TEST)  # a noisy copy of one factor
    codes = np.stack([noisy_x, rng.normal(size=N_TEST)], axis=1)
    mi = mutual_information_matrix(codes, factors, BINS)
    assert mi[0, 1] > 10 * MILLER_MADOW_NATS
    per_factor, _ = mig(codes, factors, BINS)
    assert 0.2 < per_factor[1] < 0.9  # real but partial information
    assert np.all(np.delete(per_factor, 1) < 0.02)


def test_one_dimensional_code_gap_is_mi_over_entropy():
    factors = synthetic_factors(500, seed=5)
    codes = factors["centroid_y"] ** 2  # (N,) accepted as a 1-D code
    mi = mutual_information_matrix(codes, factors, BINS)
    per_factor, mean = mig(codes, factors, BINS)
    np.testing.assert_allclose(per_factor, mi[0] / factor_entropies(factors, BINS))
    assert mean == pytest.approx(per_factor.mean())
    assert per_factor[2] > 0.5  # y^2 is monotone on y > 0: most of y's information


def test_constant_factor_gives_nan_not_a_crash():
    factors = synthetic_factors(300, seed=6)
    factors["constant"] = np.full(300, 7.0)
    codes = code_of_factors(synthetic_factors(300, seed=6))
    per_factor, mean = mig(codes, factors, BINS)
    assert math.isnan(per_factor[-1])
    assert np.all(np.isfinite(per_factor[:-1]))
    assert mean == pytest.approx(per_factor[:-1].mean())  # the mean skips the undefined factor
    _, all_undefined = mig(codes, {"constant": factors["constant"]}, BINS)
    assert math.isnan(all_undefined)


def test_non_finite_codes_are_refused():
    codes = np.array([[0.0], [np.nan], [1.0]])
    with pytest.raises(ValueError, match="non-finite"):
        mutual_information_matrix(codes, {"v": np.array([0, 1, 2])}, BINS)


# ---------------------------------------------------------------------------------------------
# probes


def split_codes(codes, y, n_train):
    return codes[:n_train], y[:n_train], codes[n_train:], y[n_train:]


def test_linear_probe_recovers_a_factor_in_the_code():
    factors = synthetic_factors(3000, seed=7)
    rng = np.random.default_rng(8)
    area = factors["area"].astype(np.float64)
    codes = np.stack([rng.normal(size=3000), 0.01 * area + 3.0, rng.normal(size=3000)], axis=1)
    r2 = probe_r2(*split_codes(codes, area, 2000))
    assert r2 == pytest.approx(1.0, abs=1e-9)


def test_linear_probe_on_a_shuffled_factor_is_near_zero():
    factors = synthetic_factors(3000, seed=9)
    area = factors["area"].astype(np.float64)
    codes = code_of_factors(factors)
    shuffled = np.random.default_rng(10).permutation(area)
    r2 = probe_r2(*split_codes(codes, shuffled, 2000))
    assert -0.05 < r2 < 0.02  # held out: no better than the test mean (can dip below 0)


def test_linear_probe_constant_test_target_is_nan():
    codes = np.random.default_rng(11).normal(size=(40, 2))
    y = np.r_[np.arange(30.0), np.full(10, 4.0)]
    assert math.isnan(probe_r2(*split_codes(codes, y, 30)))


def test_class_probe_separable_code_is_near_one():
    labels = np.random.default_rng(12).permutation(np.arange(3000) % 3)
    rng = np.random.default_rng(13)
    # class means on a triangle, noise far smaller than their distance: linearly separable
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]])
    codes = np.hstack([centres[labels] + rng.normal(0.0, 0.3, (3000, 2)), rng.normal(size=(3000, 2))])
    accuracy = probe_accuracy(*split_codes(codes, labels, 2000))
    assert accuracy > 0.99


def test_class_probe_on_noise_is_about_chance():
    labels = np.random.default_rng(14).permutation(np.arange(4500) % 3)
    codes = np.random.default_rng(15).normal(size=(4500, 8))
    accuracy = probe_accuracy(*split_codes(codes, labels, 2250))
    assert abs(accuracy - 1 / 3) < 0.04  # 0.04 is more than 4 standard errors at N = 2,250


def test_class_probe_needs_more_than_the_mean():
    # classes differ only in a dimension's sign pattern relative to another: the probe is linear,
    # so an XOR-like layout stays near chance, while a linear layout is learnt (a probe, not a net)
    rng = np.random.default_rng(16)
    x = rng.normal(size=(3000, 2))
    xor_labels = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
    assert probe_accuracy(*split_codes(x, xor_labels, 2000)) < 0.6
    linear_labels = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    assert probe_accuracy(*split_codes(x, linear_labels, 2000)) > 0.98


# ---------------------------------------------------------------------------------------------
# factor_measures


def measures_of(train_codes, test_codes, train_factors, test_factors):
    return factor_measures(train_codes, train_factors, test_codes, test_factors, bins=BINS)


def test_factor_measures_keys_and_values_for_an_exact_code():
    train_f, test_f = synthetic_factors(3000, seed=17), synthetic_factors(N_TEST, seed=18)
    out = measures_of(code_of_factors(train_f), code_of_factors(test_f), train_f, test_f)
    names = ["class", "centroid_x", "centroid_y", "area"]
    expected_keys = (
        {"factor_names", "mig_mean", "mi_normalised"}
        | {f"mig_{n}" for n in names}
        | {f"entropy_nats_{n}" for n in names}
        | {"probe_accuracy_class"}
        | {f"probe_r2_{n}" for n in names[1:]}
    )
    assert set(out) == expected_keys
    assert out["factor_names"] == names
    assert out["mig_mean"] > 0.95 and all(out[f"mig_{n}"] > 0.95 for n in names)
    assert out["probe_accuracy_class"] == 1.0
    assert all(out[f"probe_r2_{n}"] > 0.999 for n in names[1:])
    mi_norm = np.array(out["mi_normalised"])
    assert mi_norm.shape == (4, 4)
    np.testing.assert_allclose(np.diag(mi_norm), 1.0)
    assert out["entropy_nats_class"] == pytest.approx(math.log(3.0), abs=1e-3)
    json.dumps(out, allow_nan=False)  # plain JSON: no NaN, no numpy types
    assert all(type(out[k]) is float for k in out if k.startswith(("mig_", "probe_", "entropy_")))


def test_factor_measures_constant_factor_is_json_null():
    train_f, test_f = synthetic_factors(600, seed=19), synthetic_factors(400, seed=20)
    train_f["constant"], test_f["constant"] = np.full(600, 3.0), np.full(400, 3.0)
    rng = np.random.default_rng(21)
    out = measures_of(rng.normal(size=(600, 3)), rng.normal(size=(400, 3)), train_f, test_f)
    assert out["mig_constant"] is None
    assert out["probe_r2_constant"] is None  # R^2 of a constant test target is undefined
    assert out["entropy_nats_constant"] == 0.0
    assert all(row[-1] is None for row in out["mi_normalised"])
    assert out["mig_mean"] is not None  # the mean is over the defined factors
    text = json.dumps(out, allow_nan=False)
    assert '"mig_constant": null' in text


def test_factor_measures_is_deterministic():
    train_f, test_f = synthetic_factors(1500, seed=22), synthetic_factors(700, seed=23)
    rng = np.random.default_rng(24)
    train_codes, test_codes = rng.normal(size=(1500, 8)), rng.normal(size=(700, 8))
    train_codes[:, 0] += train_f["class"]  # some signal, so the probe has something to fit
    test_codes[:, 0] += test_f["class"]
    first = measures_of(train_codes, test_codes, train_f, test_f)
    second = measures_of(train_codes.copy(), torch.from_numpy(test_codes), train_f, test_f)
    assert first == second
    assert 0.4 < first["probe_accuracy_class"] < 1.0


def test_factor_measures_refuses_mismatched_factor_names():
    f = synthetic_factors(50, seed=25)
    g = {"area": f["area"]}
    with pytest.raises(ValueError, match="differ"):
        measures_of(np.zeros((50, 2)), np.zeros((50, 2)), f, g)


def test_a_collapsed_dimension_carries_its_factor_on_the_means_but_not_through_the_channel():
    """Dimension 0's mean is a tiny deterministic function of the area (range 1e-3) with a posterior
    at the prior (sigma 1); dimension 1 carries the centroid at a scale the noise does not hide. On
    the means the collapsed dimension looks as informative about the area as a perfect code; through
    the channel (z = mu + sigma * eps) it keeps only the plug-in bias (about 0.03 normalised)."""
    rng = np.random.default_rng(0)
    n = 3000
    area = rng.integers(20, 120, n).astype(float)
    cx = rng.uniform(5, 22, n)
    mu = np.stack([1e-3 * (area - 70) / 50, (cx - 13.5) * 2.0], axis=1)
    logvar = np.log(np.stack([np.ones(n), np.full(n, 0.01)], axis=1))
    z = mu + np.exp(0.5 * logvar) * rng.standard_normal((n, 2))
    factors = {"area": area, "centroid_x": cx}
    out = factor_measures(mu, factors, mu, factors, bins=BINS, channel_codes=z)
    means, channel = np.array(out["mi_normalised"]), np.array(out["mi_channel_normalised"])
    assert means[0, 0] > 0.5 and channel[0, 0] < 0.06  # the collapsed dimension, against the area
    assert means[1, 1] > 0.5 and channel[1, 1] > 0.5  # the live dimension survives the noise
    assert out["mig_area"] > 0.4 and out["mig_channel_area"] < 0.06
    assert out["mig_channel_mean"] < out["mig_mean"]


def test_channel_latents_are_the_sampled_z_plus_the_training_noise():
    from shapes_vae.latents import channel_latents, sample_latents

    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(20000, 3, generator=g), torch.randn(20000, 3, generator=g) * 0.3
    assert torch.equal(channel_latents(mu, logvar, 0.0, 7), sample_latents(mu, logvar, 7))
    noise = (channel_latents(mu, logvar, 0.5, 7) - sample_latents(mu, logvar, 7)).double()
    assert float(noise.std()) == pytest.approx(0.5, rel=0.02) and abs(float(noise.mean())) < 0.01
    # independent of the encoder noise: no correlation between the two draws
    eps = (sample_latents(mu, logvar, 7) - mu).double() / torch.exp(0.5 * logvar.double())
    assert abs(float(np.corrcoef(eps.flatten(), noise.flatten())[0, 1])) < 0.02


def test_active_dimensions_on_constructed_means():
    from shapes_vae.latents import active_dimensions

    rng = np.random.default_rng(1)
    mu = np.stack([np.full(1000, 3.0), rng.normal(0, 0.03, 1000), rng.normal(0, 0.3, 1000)], axis=1)
    np.testing.assert_array_equal(active_dimensions(mu), [False, False, True])  # var 0, ~0.001, ~0.09
    assert list(active_dimensions(torch.tensor([[0.0], [0.2]]), threshold=0.0099)) == [True]  # var 0.01 exactly


# ---------------------------------------------------------------------------------------------
# heat map


def test_factor_heatmap_writes_a_deterministic_png(tmp_path):
    matrix = [[0.95, 0.02, None], [0.01, 0.6, None], [0.3, 0.0, None]]
    panels = {"means": matrix, "channel": [[0.5, 0.0, None]] * 3}
    names = ["class", "area", "constant"]
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    drawn = plotting.plot_factor_heatmap(panels, names, a, "MI / H", collapsed=[1])
    plotting.plot_factor_heatmap(panels, names, b, "MI / H", collapsed=[1])
    assert drawn["means"].shape == (3, 3)
    np.testing.assert_array_equal(drawn["means"][:, :2], [[0.95, 0.02], [0.01, 0.6], [0.3, 0.0]])
    assert np.all(np.isnan(drawn["means"][:, 2]))
    data = a.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert data == b.read_bytes()
    pixels = mpimg.imread(a)
    assert pixels.ndim == 3 and pixels[..., :3].std() > 0.05  # not blank
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temp file left
    plotting.plot_factor_heatmap(panels, names, b, "MI / H")
    assert b.read_bytes() != data  # the collapsed dimension's mark is drawn


def test_factor_heatmap_refuses_a_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="matrix"):
        plotting.plot_factor_heatmap({"means": [[0.1, 0.2]]}, ["class"], tmp_path / "x.png", "t")
