import numpy as np
import pytest

from shapes_vae.counts import class_counts, draw_class_labels
from shapes_vae.io import save_npz
from shapes_vae.render import (
    generate_dataset,
    render_circles,
    render_rectangles,
    render_triangles,
)


@pytest.mark.parametrize("r, expected", [(5, 81), (7, 149), (10, 317)])
def test_disc_covers_pixel_centres_within_radius(r, expected):
    img = render_circles([[14, 14]], [r], 32)[0]
    assert img.sum() == expected  # the reference's counts (Gauss circle problem)
    ys, xs = np.nonzero(img)
    assert ((xs - 14) ** 2 + (ys - 14) ** 2 <= r * r).all()


def test_disc_is_clipped_at_the_border():
    img = render_circles([[0, 0]], [3], 28)[0]
    # quarter disc: the pixels with x, y >= 0 and x^2 + y^2 <= 9
    assert img.sum() == sum(1 for x in range(4) for y in range(4) if x * x + y * y <= 9)


@pytest.mark.parametrize("x0, y0, s", [(5, 5, 10), (7, 3, 15), (0, 0, 0)])
def test_square_of_side_s_covers_s_plus_one_squared_pixels_in_place(x0, y0, s):
    img = render_rectangles([[x0, y0]], [[s, s]], 28)[0]
    assert img.sum() == (s + 1) ** 2
    expected = np.zeros((28, 28), np.uint8)
    expected[y0 : y0 + s + 1, x0 : x0 + s + 1] = 1
    assert (img == expected).all()


def test_rectangle_width_and_height():
    img = render_rectangles([[2, 4]], [[9, 3]], 28)[0]
    rows, cols = np.nonzero(img.any(1))[0], np.nonzero(img.any(0))[0]
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 7, 2, 11)
    assert img.sum() == 10 * 4


def test_right_triangle_known_pixels():
    img = render_triangles([[[0, 0], [4, 0], [0, 4]]], 28)[0]
    # centres inside or on the triangle: x, y >= 0, x + y <= 4 -> 15; its edges add none
    assert img.sum() == 15
    ys, xs = np.nonzero(img)
    assert (xs + ys <= 4).all()


def test_triangle_orientation_does_not_matter():
    a = render_triangles([[[3, 5], [20, 9], [8, 22]]], 28)
    b = render_triangles([[[8, 22], [20, 9], [3, 5]]], 28)
    assert (a == b).all() and a.sum() > 0


def test_random_triangles_stay_in_bounding_box_and_contain_vertices():
    rng = np.random.default_rng(0)
    v = rng.integers(5, 24, size=(500, 3, 2))
    imgs = render_triangles(v, 28)
    for img, tri in zip(imgs, v):
        ys, xs = np.nonzero(img)
        assert xs.min() >= tri[:, 0].min() and xs.max() <= tri[:, 0].max()
        assert ys.min() >= tri[:, 1].min() and ys.max() <= tri[:, 1].max()
        assert all(img[y, x] for x, y in tri)


def test_collinear_triangle_shows_as_an_8_connected_line():
    img = render_triangles([[[5, 5], [15, 10], [25, 15]]], 28)[0]
    # one pixel per column from x = 5 to 25 (the longer axis), nothing off the segment
    assert img.sum() == 21
    assert (img.sum(0)[5:26] == 1).all() and img[:, :5].sum() == 0 and img[:, 26:].sum() == 0
    ys = img.argmax(0)[5:26]
    assert (np.abs(np.diff(ys)) <= 1).all()


def test_point_triangle_is_one_pixel():
    assert render_triangles([[[7, 7], [7, 7], [7, 7]]], 28)[0].sum() == 1


def test_dataset_is_bit_for_bit_reproducible_and_seed_dependent(paper_params, tmp_path):
    p = paper_params["generate"] | {"n_images": 3000}
    a, b = generate_dataset(p), generate_dataset(p)
    save_npz(tmp_path / "a.npz", a)
    save_npz(tmp_path / "b.npz", b)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    c = generate_dataset(p | {"seed": p["seed"] + 1})
    assert not np.array_equal(a["images"], c["images"])


def test_dataset_factors_match_the_configured_geometry(paper_params):
    # the three shapes whatever a branch's classes are: this checks each shape's geometry
    p = paper_params["generate"] | {"n_images": 3000, "classes": ["circle", "triangle", "rectangle"]}
    p["rectangle"] = p["rectangle"] | {"aspect_min": 1.0, "aspect_max": 1.0}  # the reference's squares
    c, r, t, size = p["circle"], p["rectangle"], p["triangle"], p["image_size"]
    d = generate_dataset(p)
    images, labels = d["images"], d["labels"]
    assert images.dtype == np.uint8 and set(np.unique(images)) == {0, 1}
    assert images.shape == (3000, size, size)
    circ, tri, sq = (labels == p["classes"].index(k) for k in ("circle", "triangle", "rectangle"))
    assert circ.any() and tri.any() and sq.any()
    radius = d["radius"][circ]
    assert radius.min() >= c["radius_min"] and radius.max() <= c["radius_max"] and (d["radius"][~circ] == -1).all()
    side = d["extent_wh"][sq]
    assert (side[:, 0] == side[:, 1]).all() and side.min() >= r["side_min"] and side.max() <= r["side_max"]
    assert (d["corner_xy"][sq] >= r["corner_min"]).all() and (d["corner_xy"][sq] + side <= r["far_edge_max"]).all()
    assert (d["n_pixels"][sq] == (side[:, 0] + 1) ** 2).all()
    v = d["vertices_xy"][tri]
    assert v.min() >= t["vertex_min"] and v.max() <= t["vertex_max"]
    assert (d["n_pixels"] == images.reshape(3000, -1).sum(1)).all()
    # each image agrees with its own factors
    i = np.flatnonzero(circ)[0]
    assert (images[i] == render_circles([d["centre_xy"][i].astype(int)], [d["radius"][i]], size)[0]).all()


def test_balanced_class_draw_and_triangle_rejection(paper_params):
    p = paper_params["generate"] | {"n_images": 3001, "class_draw": "balanced", "classes": ["circle", "triangle"]}
    p["triangle"] = p["triangle"] | {"min_pixels": 30}
    d = generate_dataset(p)
    counts = np.bincount(d["labels"], minlength=len(p["classes"]))
    assert counts.max() - counts.min() <= 1 and counts.sum() == 3001
    assert d["n_pixels"][d["labels"] == p["classes"].index("triangle")].min() >= 30


@pytest.mark.parametrize("class_draw, n", [("uniform", 50), ("balanced", 50), ("uniform", 1)])
def test_class_counts_are_the_counts_generate_draws(paper_params, class_draw, n):
    p = paper_params["generate"] | {"n_images": n, "class_draw": class_draw}
    counts = class_counts(p)
    assert counts == np.bincount(generate_dataset(p)["labels"], minlength=len(p["classes"])).tolist()
    assert len(counts) == len(p["classes"]) and sum(counts) == n
    if class_draw == "uniform" and n > 1:  # drawn with generate's seed
        assert class_counts(p | {"seed": p["seed"] + 1}) != counts


@pytest.mark.parametrize("min_pixels", [0, 5])
def test_a_class_that_draws_no_image_is_rendered_as_none(paper_params, min_pixels):
    """Small data sets can draw no image of a class (here the triangle): generate still works."""
    p = paper_params["generate"] | {"n_images": 6, "class_draw": "uniform", "classes": ["circle", "triangle", "rectangle"]}
    p["triangle"] = p["triangle"] | {"min_pixels": min_pixels}
    p["seed"] = next(s for s in range(1000) if class_counts(p | {"seed": s})[1] == 0)
    d = generate_dataset(p)
    assert len(d["images"]) == 6 and not (d["labels"] == 1).any()
    assert (d["vertices_xy"] == -1).all()


def test_uniform_class_draw_is_roughly_balanced():
    labels = draw_class_labels(np.random.default_rng(0), 15000, 3, "uniform")
    counts = np.bincount(labels)
    assert len(counts) == 3 and (np.abs(counts - 5000) < 200).all()


def test_true_rectangles_with_an_aspect_range(paper_params):
    p = paper_params["generate"] | {"n_images": 600, "classes": ["rectangle"]}
    p["rectangle"] = p["rectangle"] | {"side_min": 4, "side_max": 8, "aspect_min": 0.5, "aspect_max": 2.0}
    d = generate_dataset(p)
    w, h = d["extent_wh"][:, 0], d["extent_wh"][:, 1]
    assert (w != h).any()
    assert (d["n_pixels"] == (w + 1) * (h + 1)).all()
    assert (d["corner_xy"][:, 1] + h <= p["rectangle"]["far_edge_max"]).all()
