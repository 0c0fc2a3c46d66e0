"""Exact copies, nearest neighbours and the split that keeps copies together, on known answers."""
import numpy as np
import pytest

from shapes_vae.copies import copy_groups, dataset_copies, has_copy_in, nearest_distances
from shapes_vae.split import grouped_split


def _image(*pixels, size=4):
    img = np.zeros((size, size), np.uint8)
    for r, c in pixels:
        img[r, c] = 1
    return img


A, B, C, D = _image((0, 0)), _image((0, 0), (1, 1)), _image((3, 3)), _image((2, 2), (2, 3), (3, 2))


def test_copy_groups_and_copies_in_another_set():
    groups = copy_groups(np.stack([A, B, A, C, B]))
    assert groups[0] == groups[2] and groups[1] == groups[4]
    assert len({groups[0], groups[1], groups[3]}) == 3
    assert has_copy_in(np.stack([A, C, D]), np.stack([B, C, A])).tolist() == [True, True, False]


def test_nearest_distances_count_differing_pixels():
    queries, reference = np.stack([A, D, C]), np.stack([B, C])
    brute = [min(int((q != r).sum()) for r in reference) for q in queries]
    assert brute == [1, 4, 0]  # A is B less one pixel; D shares no pixel with C (3 + 1); C is in the reference
    assert nearest_distances(queries, reference).tolist() == brute
    assert nearest_distances(queries, reference, batch_size=2).tolist() == brute
    # a set against itself: the nearest other image, 0 for an image with a copy
    same = np.stack([A, B, A, D])
    assert nearest_distances(same, same, exclude_same_index=True).tolist() == [0, 1, 0, 4]


def test_dataset_copies_on_a_hand_made_split():
    images = np.stack([A, A, B, C, D])
    labels = np.array([0, 0, 0, 1, 1])
    split = {"train": np.array([0, 3]), "val": np.array([1, 4]), "test": np.array([2])}
    out = dataset_copies(images, labels, split, ["round", "square"])
    assert out["distinct_images"] == 4 and out["images"] == 5 and out["test_images"] == 1
    assert out["distinct_round"] == 2 and out["distinct_square"] == 2
    assert out["val_with_train_copy_share"] == 0.5  # image 1 is a copy of image 0, image 4 has none
    assert out["val_with_train_copy_share_round"] == 1.0 and out["val_with_train_copy_share_square"] == 0.0
    assert out["test_with_train_copy_share"] == 0.0 and out["test_with_train_copy_share_square"] is None
    assert out["test_nearest_train_pixels_median"] == 1.0  # B against A (image 0) and C
    assert out["train_nearest_other_train_pixels_median"] == 2.0  # A and C differ in two pixels
    assert out["test_nearest_train_pixels_median_round"] == 1.0 and out["test_nearest_train_pixels_median_square"] is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_split_keeps_copies_together_and_the_fractions_within_a_group(seed):
    rng = np.random.default_rng(seed)
    n_groups = 300
    sizes = rng.integers(1, 12, n_groups)  # copies per distinct image
    groups = np.repeat(np.arange(n_groups), sizes)
    group_class = rng.integers(0, 3, n_groups)
    labels = group_class[groups]
    order = rng.permutation(len(groups))  # copies scattered through the data set
    groups, labels = groups[order], labels[order]
    fractions = [0.7, 0.15, 0.15]
    parts = grouped_split(labels, groups, fractions, seed)
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(len(groups)))  # disjoint and covering
    owner = {}
    for k, part in enumerate(parts):
        for g in np.unique(groups[part]):
            assert owner.setdefault(g, k) == k, f"group {g} is in two parts"
    for c in range(3):
        n_c, biggest = (labels == c).sum(), sizes[group_class == c].max()
        for part, f in zip(parts, fractions):
            assert abs((labels[part] == c).sum() - f * n_c) <= biggest  # within one group of the target
    again = grouped_split(labels, groups, fractions, seed)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


def test_grouped_split_of_distinct_images_is_within_one_image_of_the_fractions():
    labels = np.random.default_rng(5).integers(0, 3, 1001)
    parts = grouped_split(labels, np.arange(1001), [0.7, 0.15, 0.15], 3)
    for c in range(3):
        n_c = (labels == c).sum()
        for part, f in zip(parts, [0.7, 0.15, 0.15]):
            assert abs((labels[part] == c).sum() - f * n_c) <= 1
