"""Exact copies and nearest neighbours among binary images.

The shapes come from a small space (integer centres, radii, corners and sides), so many images of
the data set are pixel-for-pixel copies of one another, and a test image often has a copy in the
training split. Everything here compares images exactly, pixel by pixel; distances are Hamming
distances (the number of pixels that differ) between binary images.
"""
import numpy as np


def _flat(images):
    """(N, H, W) or (N, 1, H, W) of 0/1 -> (N, H*W) uint8."""
    images = np.asarray(images)
    return (images.reshape(len(images), -1) != 0).astype(np.uint8)


def copy_groups(images):
    """(N,) int64: the same id for images that are identical pixel for pixel, ids 0..G-1 in the
    order of the images' bytes (np.unique's)."""
    return np.unique(_flat(images), axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def has_copy_in(images, reference):
    """(N,) bool: whether each of `images` has an identical image in `reference`."""
    groups = copy_groups(np.concatenate([_flat(images), _flat(reference)]))
    return np.isin(groups[: len(images)], groups[len(images):])


def nearest_distances(queries, reference, exclude_same_index=False, batch_size=1024):
    """(N,) int64: for each query, the fewest pixels in which it differs from any reference image.

    Counted as |a| + |b| - 2 a.b over the pixel vectors (exact: float32 holds these integers).
    With exclude_same_index, query i is not compared with reference i (a set against itself: the
    distance to the nearest *other* image, 0 when it has a copy)."""
    q, r = _flat(queries).astype(np.float32), _flat(reference).astype(np.float32)
    r_sizes = r.sum(axis=1)
    out = np.empty(len(q), np.int64)
    for i in range(0, len(q), batch_size):
        block = q[i : i + batch_size]
        d = block.sum(axis=1, keepdims=True) + r_sizes[None, :] - 2.0 * (block @ r.T)
        if exclude_same_index:
            rows = np.arange(len(block))
            d[rows, i + rows] = np.inf
        out[i : i + batch_size] = np.rint(d.min(axis=1)).astype(np.int64)
    return out


def dataset_copies(images, labels, split, class_names):
    """The data set's own numbers: its images and test images; distinct images per class; per class the share of the validation
    and test images with an exact copy in the training split; and the yardsticks for novelty, the
    median pixels from a test image to its nearest training image (overall and per class) and from
    a training image to its nearest other training image.

    split: {"train", "val", "test": index arrays}. Returns a flat JSON-ready dict."""
    labels, images = np.asarray(labels), np.asarray(images)
    train = images[split["train"]]
    test_d = nearest_distances(images[split["test"]], train)
    train_d = nearest_distances(train, train, exclude_same_index=True)
    groups = copy_groups(images)
    out = {"distinct_images": int(len(np.unique(groups))), "images": int(len(groups)), "test_images": int(len(split["test"]))}
    train_groups = groups[split["train"]]
    for c, name in enumerate(class_names):
        out[f"distinct_{name}"] = int(len(np.unique(groups[labels == c])))
    for part in ("val", "test"):
        idx = np.asarray(split[part])
        copied = np.isin(groups[idx], train_groups)
        out[f"{part}_with_train_copy_share"] = float(copied.mean()) if len(idx) else None
        for c, name in enumerate(class_names):
            mine = labels[idx] == c
            out[f"{part}_with_train_copy_share_{name}"] = float(copied[mine].mean()) if mine.any() else None
    out["test_nearest_train_pixels_median"] = float(np.median(test_d))
    out["train_nearest_other_train_pixels_median"] = float(np.median(train_d)) if len(train) > 1 else None
    test_labels = labels[split["test"]]
    for c, name in enumerate(class_names):
        mine = test_d[test_labels == c]
        out[f"test_nearest_train_pixels_median_{name}"] = float(np.median(mine)) if len(mine) else None
    return out
