"""How many images each class and each part of the split get: known from the params before
anything is rendered, so validation can refuse a split part left empty before any stage works."""
import numpy as np


def draw_class_labels(rng, n, n_classes, class_draw):
    """The data set's first draw: each image's class."""
    if class_draw == "uniform":  # as the reference: class drawn per image, roughly balanced
        return rng.integers(0, n_classes, size=n)
    labels = np.arange(n) % n_classes  # exactly balanced: counts differ by at most one
    return rng.permutation(labels)


def class_counts(p):
    """How many images of each class the data set of `generate` params p holds."""
    rng = np.random.default_rng(p["seed"])
    labels = draw_class_labels(rng, p["n_images"], len(p["classes"]), p["class_draw"])
    return np.bincount(labels, minlength=len(p["classes"])).tolist()


def split_cuts(n, fractions):
    """Where a class of n shuffled images is cut: at the rounded cumulative fractions."""
    return np.rint(np.cumsum(fractions)[:-1] * n).astype(np.int64)


def split_sizes(counts, fractions):
    """The size of each part of the stratified split of classes of these counts."""
    sizes = np.zeros(len(fractions), np.int64)
    for n in counts:
        sizes += np.diff(np.concatenate([[0], split_cuts(n, fractions), [n]]))
    return sizes.tolist()
