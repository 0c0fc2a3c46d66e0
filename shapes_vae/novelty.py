"""The paper's last two claims as numbers: does a VAE generate novel shapes, and is the path
between two shapes in its latent space smooth?

- Novelty: each prior sample's mode (shapes_vae.sample_quality) against its nearest training
  image, in pixels that differ (shapes_vae.copies.nearest_distances), and the share that are exact
  copies of a training image; per class as the shape classifier calls the samples. The data set's
  own yardsticks (a test image's, and a training image's, nearest other training image) are in
  metrics/data.json.
- Smoothness: straight latent paths between the encoder means of pairs of test images of
  different classes, decoded to modes at evenly spaced steps: how many pixels change from one step
  to the next, how often the classifier's verdict changes along a path, and how many points of a
  path it cannot call with confidence; and the same between neighbours of the 2-D latent grid the
  paper drew (shapes_vae.figures.latent_grid_z, as figures/<variant>/latent_grid.png shows it).
"""
import numpy as np
import torch

from shapes_vae.classifier import predict_proba
from shapes_vae.copies import nearest_distances
from shapes_vae.figures import latent_grid_z
from shapes_vae.sample_quality import decode_modes


def _median(values):
    return float(np.median(values)) if len(values) else None


def sample_novelty(samples, predicted, train_images, class_names):
    """Distances of decoded samples (N, 1, H, W) to their nearest training image, overall and per
    predicted class (N,): medians in pixels and the share of exact copies."""
    d = nearest_distances(np.asarray(samples)[:, 0], train_images)
    predicted = np.asarray(predicted)
    out = {"prior_nearest_train_pixels_median": _median(d), "prior_train_copy_share": float((d == 0).mean())}
    for c, name in enumerate(class_names):
        mine = d[predicted == c]
        out[f"prior_nearest_train_pixels_median_{name}"] = _median(mine)
        out[f"prior_train_copy_share_{name}"] = float((mine == 0).mean()) if len(mine) else None
    return out


def path_pairs(labels, n_pairs, seed):
    """(n_pairs, 2) indices of pairs of images of different classes, drawn with `seed` (empty when
    the labels hold one class)."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return np.zeros((0, 2), np.int64)
    rng = np.random.default_rng(seed)
    pairs = []
    while len(pairs) < n_pairs:
        a, b = rng.integers(0, len(labels), 2)
        if labels[a] != labels[b]:
            pairs.append((a, b))
    return np.array(pairs, np.int64)


def latent_paths(vae, classifier, mu_start, mu_end, steps, batch_size=500):
    """Modes decoded along z(t) = (1 - t) mu_start + t mu_end, t = 0, 1/(steps-1), ..., 1, and the
    classifier's probabilities of each: ((P, steps, H, W) float32, (P, steps, K))."""
    if len(mu_start) == 0:  # no pair of different classes (a data set of one class)
        size = vae.image_size
        return torch.zeros(0, steps, size, size), torch.zeros(0, steps, classifier.out.out_features)
    t = torch.linspace(0.0, 1.0, steps)[None, :, None]
    z = ((1 - t) * mu_start[:, None, :] + t * mu_end[:, None, :]).reshape(-1, mu_start.shape[1])
    modes = decode_modes(vae, z, batch_size)
    probs = predict_proba(classifier, modes, batch_size)
    p = len(mu_start)
    return modes.reshape(p, steps, *modes.shape[-2:]), probs.reshape(p, steps, -1)


def path_smoothness(modes, probs, confidence):
    """Summary of latent paths (as `latent_paths` returns them): per step, the pixels that change
    (median over all steps, and the median over paths of each path's largest step); the classifier's
    verdict changes per path (mean); the share of path points whose top probability < confidence."""
    modes, probs = np.asarray(modes), np.asarray(probs)
    if len(modes) == 0:
        return {k: None for k in ("path_step_pixels_median", "path_largest_step_pixels_median",
                                  "path_verdict_changes_mean", "path_unsure_share")}
    steps = (modes[:, 1:] != modes[:, :-1]).reshape(modes.shape[0], modes.shape[1] - 1, -1).sum(axis=2)
    verdicts = probs.argmax(axis=2)
    return {"path_step_pixels_median": float(np.median(steps)),
            "path_largest_step_pixels_median": float(np.median(steps.max(axis=1))),
            "path_verdict_changes_mean": float((verdicts[:, 1:] != verdicts[:, :-1]).sum(axis=1).mean()),
            "path_unsure_share": float((probs.max(axis=2) < confidence).mean())}


def plane_smoothness(vae, classifier, batch_size=500):
    """The paper's 2-D latent plane (the latent grid figure's z), decoded to modes: the pixels that
    change between neighbouring grid points, across and down (median), and the share of
    neighbouring pairs the classifier calls differently. None for a 1-dimensional code."""
    if vae.latent_dim < 2:
        return {"plane_step_pixels_median": None, "plane_verdict_change_share": None}
    z = latent_grid_z(vae.latent_dim).float()
    n = round(len(z) ** 0.5)
    modes = decode_modes(vae, z, batch_size)
    verdicts = predict_proba(classifier, modes, batch_size).argmax(1).reshape(n, n).numpy()
    grid = modes.reshape(n, n, -1).numpy()
    steps = np.concatenate([(grid[:, 1:] != grid[:, :-1]).sum(axis=2).ravel(), (grid[1:] != grid[:-1]).sum(axis=2).ravel()])
    changes = np.concatenate([(verdicts[:, 1:] != verdicts[:, :-1]).ravel(), (verdicts[1:] != verdicts[:-1]).ravel()])
    return {"plane_step_pixels_median": float(np.median(steps)), "plane_verdict_change_share": float(changes.mean())}
