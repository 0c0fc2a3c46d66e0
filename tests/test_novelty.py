"""Novelty and smoothness of a VAE's latent space, on known answers."""
import numpy as np
import pytest
import torch

from shapes_vae.novelty import path_pairs, path_smoothness, sample_novelty


def _img(*pixels, size=4):
    img = np.zeros((size, size), np.float32)
    for r, c in pixels:
        img[r, c] = 1
    return img


def test_sample_novelty_counts_pixels_to_the_nearest_training_image():
    train = np.stack([_img((0, 0)), _img((3, 3), (3, 2))])
    samples = np.stack([_img((0, 0)), _img((0, 0), (1, 1)), _img((3, 3), (3, 2), (2, 2), (2, 3))])[:, None]
    out = sample_novelty(samples, np.array([0, 0, 1]), train, ["a", "b", "c"])
    # distances 0 (a copy), 1, 2: median 1, one copy in three
    assert out["prior_nearest_train_pixels_median"] == 1.0 and out["prior_train_copy_share"] == pytest.approx(1 / 3)
    assert out["prior_nearest_train_pixels_median_a"] == 0.5 and out["prior_train_copy_share_a"] == 0.5
    assert out["prior_nearest_train_pixels_median_b"] == 2.0 and out["prior_train_copy_share_b"] == 0.0
    assert out["prior_nearest_train_pixels_median_c"] is None  # no sample called c


def test_path_pairs_join_different_classes_and_follow_the_seed():
    labels = np.array([0, 0, 0, 1, 2, 2])
    pairs = path_pairs(labels, 50, seed=3)
    assert pairs.shape == (50, 2) and all(labels[a] != labels[b] for a, b in pairs)
    assert np.array_equal(pairs, path_pairs(labels, 50, seed=3)) and not np.array_equal(pairs, path_pairs(labels, 50, seed=4))
    assert len(path_pairs(np.zeros(5, int), 3, seed=0)) == 0


def test_path_smoothness_on_a_hand_made_path():
    # one path of 4 steps: 0 pixels change, then 3, then 1; the verdict goes a, a, b, b
    frames = np.stack([_img(), _img(), _img((0, 0), (0, 1), (0, 2)), _img((0, 0), (0, 1))])[None]
    probs = np.array([[[0.95, 0.05], [0.6, 0.4], [0.3, 0.7], [0.05, 0.95]]])
    out = path_smoothness(frames, probs, confidence=0.9)
    assert out["path_step_pixels_median"] == 1.0  # median of 0, 3, 1
    assert out["path_largest_step_pixels_median"] == 3.0
    assert out["path_verdict_changes_mean"] == 1.0
    assert out["path_unsure_share"] == 0.5  # 0.6 and 0.7 fall below 0.9


def test_latent_paths_start_and_end_at_the_two_codes():
    from shapes_vae.classifier import build_classifier
    from shapes_vae.model import VAE
    from shapes_vae.novelty import latent_paths
    from shapes_vae.sample_quality import decode_modes

    torch.manual_seed(0)
    vae = VAE(latent_dim=3, channels=(4, 8), hidden=8, image_size=12)
    classifier = build_classifier({"channels": [4, 8], "hidden": 8}, 3, 12)
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    modes, probs = latent_paths(vae, classifier, a, b, steps=5)
    assert modes.shape == (2, 5, 12, 12) and probs.shape == (2, 5, 3)
    assert torch.equal(modes[:, 0], decode_modes(vae, a)[:, 0]) and torch.equal(modes[:, -1], decode_modes(vae, b)[:, 0])
    assert torch.equal(modes[:, 2], decode_modes(vae, (a + b) / 2)[:, 0])
    none, none_probs = latent_paths(vae, classifier, a[:0], b[:0], steps=5)  # one class: no pairs
    assert none.shape == (0, 5, 12, 12) and none_probs.shape == (0, 5, 3)


class _CountingClassifier(torch.nn.Module):
    """Calls an image class 1 when more than 7 pixels are lit, else class 0."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(2))

    def forward(self, x):
        many = (x.flatten(1).sum(1) > 7).float()
        return torch.stack([1 - many, many], dim=1) * 10 + self.bias


def test_plane_smoothness_counts_changes_between_grid_neighbours():
    """The paper's plane is 15 x 15 points, z[0] = linspace(-1.5, 1.5, 15) across. A decoder that
    lights pixel j when z[0] passes the j-th midpoint between grid values changes exactly one pixel
    on each of the 210 steps across and none on the 210 steps down: median 0.5; the classifier's
    verdict (more than 7 pixels) flips once per row, 15 of 420 neighbouring pairs."""
    from shapes_vae.model import VAE
    from shapes_vae.novelty import plane_smoothness

    v = torch.linspace(-1.5, 1.5, 15)
    midpoints = (v[1:] + v[:-1]) / 2
    vae = VAE(latent_dim=2, channels=(4, 8), hidden=8, image_size=12)
    lit = lambda z: torch.cat([(z[:, :1] > midpoints).float(), torch.zeros(len(z), 144 - 14)], dim=1)
    vae.decode = lambda z: (lit(z) * 20 - 10).reshape(-1, 1, 12, 12)
    out = plane_smoothness(vae, _CountingClassifier())
    assert out["plane_step_pixels_median"] == 0.5
    assert out["plane_verdict_change_share"] == pytest.approx(15 / 420)
