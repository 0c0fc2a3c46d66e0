"""Stratified train / validation / test split, saved as index arrays into the data set."""
import numpy as np

from shapes_vae.counts import split_cuts


def stratified_split(labels, fractions, seed, groups=None):
    """Split indices 0..N-1 into len(fractions) disjoint sets covering them all.

    Within each class, the class's images are shuffled (seeded) and cut at the rounded
    cumulative fractions, so every class's count in every set is within one image of
    fraction * class count, and the sets are disjoint and cover the data set.
    Returns a list of sorted int64 index arrays, one per fraction.

    groups: (N,) ids of images that must stay together (the copies of one image,
    shapes_vae.copies.copy_groups), or None. With groups, `grouped_split` cuts instead.
    """
    if groups is not None:
        return grouped_split(labels, groups, fractions, seed)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        for part, chunk in zip(parts, np.split(idx, split_cuts(len(idx), fractions))):
            part.append(chunk)
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]


def grouped_split(labels, groups, fractions, seed):
    """The stratified split with every group of images kept in one part.

    A group belongs to the class of its first image. Within each class, the class's groups are
    shuffled (seeded) and cut at the group boundaries nearest to the rounded cumulative fractions of
    the class's image count, so each part's count of a class is within one group of
    fraction * class count and no group is split. Returns sorted int64 index arrays, one per fraction."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    rng = np.random.default_rng(seed)
    ids, first, members_of = np.unique(groups, return_index=True, return_inverse=True)
    members = [[] for _ in ids]
    for i, g in enumerate(members_of.reshape(-1)):
        members[g].append(i)
    parts = [[] for _ in fractions]
    for c in np.unique(labels):
        mine = rng.permutation(np.flatnonzero(labels[first] == c))  # this class's groups, shuffled
        sizes = np.array([len(members[g]) for g in mine])
        boundaries = np.concatenate([[0], np.cumsum(sizes)])  # images before each group
        targets = split_cuts(int(sizes.sum()), fractions)
        cuts = [int(np.abs(boundaries - t).argmin()) for t in targets]  # nearest group boundary
        for part, chunk in zip(parts, np.split(mine, cuts)):
            part.extend(i for g in chunk for i in members[g])
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
