"""Rendering binary shape images, vectorised over all images at once.

Pixel rules (pixel (row y, column x) has its centre at the integer point (x, y); no anti-aliasing,
every pixel is exactly 0 or 1), matching the reference's drawing library (docs/reference.md):
- disc of centre (cx, cy), radius r: the pixels whose centres lie within distance r,
  (x - cx)^2 + (y - cy)^2 <= r^2 (81, 149, 317 pixels for r = 5, 7, 10 when fully inside);
- rectangle from corner (x0, y0) with extents (w, h): x0 <= x <= x0 + w and y0 <= y <= y0 + h,
  i.e. (w + 1) x (h + 1) pixels (the reference's "side s" square is s + 1 pixels wide);
- triangle: the pixels whose centres lie inside or on the triangle, plus its three edges drawn
  as 8-connected lines (each edge steps one pixel along its longer axis and rounds the other
  coordinate half up), so a collinear triangle still shows as a line.
Shapes are clipped to the image.
"""
import numpy as np

from shapes_vae.counts import draw_class_labels
from shapes_vae.errors import PipelineError


def _pixel_grid(size):
    ys, xs = np.mgrid[0:size, 0:size].astype(np.int32)
    return xs, ys


def render_circles(centres, radii, size):
    """centres (N, 2) ints (x, y), radii (N,) ints -> uint8 (N, size, size)."""
    xs, ys = _pixel_grid(size)
    cx, cy = (np.asarray(centres, np.int32)[:, i, None, None] for i in (0, 1))
    r = np.asarray(radii, np.int32)[:, None, None]
    return ((xs - cx) ** 2 + (ys - cy) ** 2 <= r * r).astype(np.uint8)


def render_rectangles(corners, extents, size):
    """corners (N, 2) top-left (x0, y0), extents (N, 2) (w, h) -> uint8 (N, size, size)."""
    xs, ys = _pixel_grid(size)
    x0, y0 = (np.asarray(corners, np.int32)[:, i, None, None] for i in (0, 1))
    w, h = (np.asarray(extents, np.int32)[:, i, None, None] for i in (0, 1))
    return ((xs >= x0) & (xs <= x0 + w) & (ys >= y0) & (ys <= y0 + h)).astype(np.uint8)


def _draw_lines(images, p0, p1):
    """Draw 8-connected segments p0 -> p1 (each (N, 2) ints, x, y) into images in place."""
    n, size = images.shape[0], images.shape[1]
    if n == 0:
        return
    d = p1 - p0
    steps = np.abs(d).max(axis=1)  # pixels along the longer axis, minus one
    t = np.arange(steps.max() + 1, dtype=np.int64)[None, :]
    valid = t <= steps[:, None]
    denom = np.maximum(steps, 1)[:, None]
    # x = x0 + round(t * dx / steps), rounding half up, in exact integer arithmetic
    x = p0[:, 0, None] + (2 * t * d[:, 0, None] + denom) // (2 * denom)
    y = p0[:, 1, None] + (2 * t * d[:, 1, None] + denom) // (2 * denom)
    valid &= (x >= 0) & (x < size) & (y >= 0) & (y < size)
    rows = np.broadcast_to(np.arange(n)[:, None], valid.shape)
    images[rows[valid], y[valid], x[valid]] = 1


def render_triangles(vertices, size):
    """vertices (N, 3, 2) ints (x, y) -> uint8 (N, size, size)."""
    v = np.asarray(vertices, np.int64)
    xs, ys = _pixel_grid(size)

    def edge(a, b):  # cross((b - a), (p - a)) for every pixel p: its sign says which side p is on
        ax, ay = v[:, a, 0, None, None], v[:, a, 1, None, None]
        bx, by = v[:, b, 0, None, None], v[:, b, 1, None, None]
        return (bx - ax) * (ys - ay) - (by - ay) * (xs - ax)

    e0, e1, e2 = edge(0, 1), edge(1, 2), edge(2, 0)
    inside = ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))
    # a collinear triangle has every edge function zero along its whole line: draw only its edges
    twice_area = (v[:, 1, 0] - v[:, 0, 0]) * (v[:, 2, 1] - v[:, 0, 1]) - (v[:, 1, 1] - v[:, 0, 1]) * (
        v[:, 2, 0] - v[:, 0, 0]
    )
    images = (inside & (twice_area != 0)[:, None, None]).astype(np.uint8)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        _draw_lines(images, v[:, a], v[:, b])
    return images


def _uniform_ints(rng, lo, hi, shape):
    return rng.integers(lo, hi, size=shape, endpoint=True)


def generate_dataset(p):
    """Draw every image's factors from p (the validated `generate` params) and render them.

    Returns a dict of arrays in the dSprites spirit: the images, labels and each image's
    generative factors (-1 where a factor does not apply to the image's class).
    """
    rng = np.random.default_rng(p["seed"])
    n, size, classes = p["n_images"], p["image_size"], p["classes"]
    labels = draw_class_labels(rng, n, len(classes), p["class_draw"])
    images = np.zeros((n, size, size), np.uint8)
    radius = np.full(n, -1, np.int16)
    corner = np.full((n, 2), -1, np.int16)
    extent = np.full((n, 2), -1, np.int16)
    vertices = np.full((n, 3, 2), -1, np.int16)
    centre = np.zeros((n, 2), np.float32)
    for k, shape in enumerate(classes):
        idx = np.flatnonzero(labels == k)
        m = len(idx)
        if shape == "circle":
            c = p["circle"]
            xy = _uniform_ints(rng, c["centre_min"], c["centre_max"], (m, 2))
            r = _uniform_ints(rng, c["radius_min"], c["radius_max"], m)
            images[idx] = render_circles(xy, r, size)
            radius[idx], centre[idx] = r, xy
        elif shape == "rectangle":
            c = p["rectangle"]
            side = _uniform_ints(rng, c["side_min"], c["side_max"], m)
            aspect = rng.uniform(c["aspect_min"], c["aspect_max"], m)
            wh = np.stack([side, np.rint(side * aspect).astype(np.int64)], axis=1)
            # top-left uniform in [corner_min, far_edge_max - extent], per axis
            xy = rng.integers(c["corner_min"], c["far_edge_max"] - wh, endpoint=True)
            images[idx] = render_rectangles(xy, wh, size)
            corner[idx], extent[idx], centre[idx] = xy, wh, xy + wh / 2
        else:
            c = p["triangle"]
            v = _uniform_ints(rng, c["vertex_min"], c["vertex_max"], (m, 3, 2))
            tri = render_triangles(v, size)
            # optional rejection of thin / degenerate triangles, redrawing only the rejected ones
            for _ in range(1000):
                bad = np.flatnonzero(tri.reshape(m, size * size).sum(1) < c["min_pixels"])  # m may be 0
                if len(bad) == 0:
                    break
                v[bad] = _uniform_ints(rng, c["vertex_min"], c["vertex_max"], (len(bad), 3, 2))
                tri[bad] = render_triangles(v[bad], size)
            else:
                raise PipelineError(
                    f"generate.triangle.min_pixels = {c['min_pixels']} rejects nearly every triangle "
                    f"the vertex range can draw"
                )
            images[idx] = tri
            vertices[idx], centre[idx] = v, v.mean(axis=1)
    return {
        "images": images,
        "labels": labels.astype(np.uint8),
        "class_names": np.array(classes),
        "centre_xy": centre,
        "radius": radius,
        "corner_xy": corner,
        "extent_wh": extent,
        "vertices_xy": vertices,
        "n_pixels": images.reshape(n, -1).sum(1, dtype=np.int32),
    }
