"""Stratified train / validation / test split, saved as index arrays into the data set."""
import numpy as np

from shapes_vae.counts import split_cuts


def stratified_split(labels, fractions, seed):
    """Split indices 0..N-1 into len(fractions) disjoint sets covering them all.

    Within each class, the class's images are shuffled (seeded) and cut at the rounded
    cumulative fractions, so every class's count in every set is within one image of
    fraction * class count, and the sets are disjoint and cover the data set.
    Returns a list of sorted int64 index arrays, one per fraction.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        for part, chunk in zip(parts, np.split(idx, split_cuts(len(idx), fractions))):
            part.append(chunk)
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]
