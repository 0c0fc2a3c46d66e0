import numpy as np
import pytest

from shapes_vae.counts import split_cuts, split_sizes
from shapes_vae.split import stratified_split


@pytest.mark.parametrize("n, seed", [(15000, 0), (1001, 7), (37, 3)])
def test_split_is_disjoint_covering_and_stratified(n, seed):
    labels = np.random.default_rng(seed).integers(0, 3, n)
    fractions = [0.7, 0.15, 0.15]
    parts = stratified_split(labels, fractions, seed)
    joined = np.concatenate(parts)
    assert len(joined) == n and len(np.unique(joined)) == n  # disjoint and covering
    for c in range(3):
        n_c = (labels == c).sum()
        for part, f in zip(parts, fractions):
            assert abs((labels[part] == c).sum() - f * n_c) <= 1  # within one image of exact


def test_paper_split_sizes_and_seeding():
    labels = np.random.default_rng(1).integers(0, 3, 15000)
    train, val, test = stratified_split(labels, [0.7, 0.15, 0.15], 5)
    assert abs(len(train) - 10500) <= 3 and abs(len(val) - 2250) <= 3 and abs(len(test) - 2250) <= 3
    again = stratified_split(labels, [0.7, 0.15, 0.15], 5)
    other = stratified_split(labels, [0.7, 0.15, 0.15], 6)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again))
    assert not np.array_equal(test, other[2])


@pytest.mark.parametrize("n, fractions", [(15000, [0.7, 0.15, 0.15]), (37, [0.8, 0.1, 0.1]), (7, [0.5, 0.25, 0.25]),
                                          (2, [0.7, 0.15, 0.15]), (101, [0.6, 0.4])])
def test_split_sizes_are_the_sizes_of_the_split(n, fractions):
    """split_sizes (what params validation uses to refuse an empty part) from the class counts alone."""
    for seed in range(3):
        labels = np.random.default_rng(seed).integers(0, 3, n)
        counts = np.bincount(labels, minlength=4).tolist()  # a class with no image too
        sizes = split_sizes(counts, fractions)
        assert sizes == [len(part) for part in stratified_split(labels, fractions, seed)]
        assert sum(sizes) == n


def test_cuts_round_to_the_nearest_image():
    """Counts where rounding and flooring the cumulative fractions differ: 7 images at 0.7 / 0.15 /
    0.15 reach 4.9 and 5.95 (cut at 5 and 6, not 4 and 5); 13 at 0.6 / 0.2 / 0.2 reach 7.8 and 10.4."""
    assert split_cuts(7, [0.7, 0.15, 0.15]).tolist() == [5, 6]
    assert split_cuts(13, [0.6, 0.2, 0.2]).tolist() == [8, 10]
    assert [len(p) for p in stratified_split(np.zeros(7, int), [0.7, 0.15, 0.15], 0)] == [5, 1, 1]
    labels = np.repeat([0, 1], [7, 13])
    assert [len(p) for p in stratified_split(labels, [0.6, 0.2, 0.2], 0)] == [4 + 8, 2 + 2, 1 + 3]
    assert split_sizes([7, 13], [0.7, 0.15, 0.15]) == [5 + 9, 1 + 2, 1 + 2]
