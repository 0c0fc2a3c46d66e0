"""Figures drawn from a trained model, written as PNG files.

Every figure is drawn from the model it is given (the reference drew its "standard" and
"modified" latent grids from one shared decoder, so they were the same picture). Decoded pixels
are sigmoid(logits), the Bernoulli probability. Randomness comes from a torch.Generator seeded
by a `seed` argument, and PNGs carry no software version, so equal inputs give equal bytes.

The object-oriented Figure API with the Agg canvas is used throughout: no pyplot, no global
state, no display needed. Each function returns the array it drew: the tiled image grid (2-D,
values in [0, 1]) for the picture figures, the (series, dimension) values for the bar chart.

Tiling convention (`_tile`): tiles of H x W separated by `pad` pixels of value 0.5 (drawn in
blue, not grey, so they stay visible when an untrained or blurry decoder outputs 0.5), with a
border of `pad` as well, so a grid of nrows x ncols tiles is
(nrows * (H + pad) + pad) x (ncols * (W + pad) + pad), and tile (r, c) starts at
(pad + r * (H + pad), pad + c * (W + pad)).
"""
import math

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from shapes_vae.evaluation import inference
from shapes_vae.io import atomic_path

DPI = 100
PAD_VALUE = 0.5  # separator value in the returned grids; shapes are 1 (white) on 0 (black)
SEPARATOR_COLOUR = "#4f7fbf"  # separators are drawn in colour, so they show against any grey
_PIXELS_PER_IMAGE_PIXEL = 2  # on-screen size of one image pixel in the PNG
_MIN_WIDTH_IN, _MAX_WIDTH_IN = 3.5, 11.0


def _tile(images, nrows, ncols, pad=1):
    """Tile images (K, H, W), K <= nrows * ncols, row-major into one 2-D float array.

    Unused tiles stay at the separator grey."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (K, H, W), got {images.shape}")
    k, h, w = images.shape
    if k > nrows * ncols:
        raise ValueError(f"{k} images do not fit in a {nrows} x {ncols} grid")
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), PAD_VALUE)
    for i in range(k):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top : top + h, left : left + w] = images[i]
    return grid


def _separator_mask(shape, h, w, pad=1):
    """True on the separator pixels of a grid made by _tile from H x W tiles."""
    rows = (np.arange(shape[0]) % (h + pad)) < pad
    cols = (np.arange(shape[1]) % (w + pad)) < pad
    return rows[:, None] | cols[None, :]


def _tile_centres(n, size, pad=1):
    """Pixel coordinates (imshow's, pixel centres at integers) of the centres of n tiles."""
    return [pad + i * (size + pad) + (size - 1) / 2 for i in range(n)]


def _new_figure(width_in, height_in):
    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None},
                        bbox_inches="tight", pad_inches=0.1)
    finally:
        fig.clear()  # drop the artists; the Figure is not registered anywhere (no pyplot)


def _grid_figure(grid, title, tile_shape):
    """A figure holding one axes that shows `grid` (tiles of tile_shape = (H, W)) at about
    2 screen pixels per image pixel, grey colormap, separators in SEPARATOR_COLOUR."""
    gh, gw = grid.shape
    width = min(max(gw * _PIXELS_PER_IMAGE_PIXEL / DPI, _MIN_WIDTH_IN), _MAX_WIDTH_IN)
    height = width * gh / gw + 0.6  # room for the title
    fig = _new_figure(width, height)
    ax = fig.add_subplot()
    shown = np.ma.masked_array(grid, mask=_separator_mask(grid.shape, *tile_shape))
    cmap = matplotlib.colormaps["gray"].with_extremes(bad=SEPARATOR_COLOUR)
    ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)
    return fig, ax


def _param(model):
    return next(model.parameters())


def _decode_probs(model, z):
    """sigmoid(decode(z)) as a numpy array (N, H, W)."""
    p = torch.sigmoid(model.decode(z))
    return p[:, 0].detach().cpu().numpy().astype(np.float64)


def _fmt(v):
    return f"{v:g}"


def plot_examples_per_class(images, labels, class_names, path, per_class=8,
                            title="Examples per class"):
    """One row per class with the first `per_class` images of that class.

    images: uint8 (N, H, W) in {0, 1}; labels: int (N,), index into class_names.
    A class with fewer images leaves its remaining tiles grey."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise ValueError(f"expected images (N, H, W) and labels (N,), got {images.shape}, {labels.shape}")
    h, w = images.shape[1:]
    k = len(class_names)
    tiles = np.full((k * per_class, h, w), PAD_VALUE)
    for ci in range(k):
        chosen = images[labels == ci][:per_class]
        tiles[ci * per_class : ci * per_class + len(chosen)] = chosen
    grid = _tile(tiles, k, per_class)
    fig, ax = _grid_figure(grid, title, (h, w))
    ax.set_yticks(_tile_centres(k, h), [str(name) for name in class_names])
    _save(fig, path)
    return grid


def plot_reconstructions(model, x, path, title, n=16, seed=0):
    """n test inputs, their reconstructions decoded from mu, and decoded from one z ~ q(z|x).

    x: (N, 1, H, W) or (N, H, W), tensor or array, values in [0, 1]. Each of the three blocks
    has min(n, 16) columns and as many rows as needed; the rows are labelled."""
    p = _param(model)
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x)
    if x.ndim == 3:
        x = x[:, None]
    x = x[:n].to(device=p.device, dtype=p.dtype)
    n = x.shape[0]
    h, w = x.shape[-2:]
    g = torch.Generator().manual_seed(seed)
    with inference(model):
        mu, logvar = model.encode(x)
        eps = torch.randn(mu.shape, generator=g, dtype=mu.dtype).to(mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        blocks = [
            x[:, 0].detach().cpu().numpy().astype(np.float64),
            _decode_probs(model, mu),
            _decode_probs(model, z),
        ]
    ncols = min(n, 16)
    rows_per_block = math.ceil(n / ncols)
    tiles = np.full((3 * rows_per_block * ncols, h, w), PAD_VALUE)
    for b, block in enumerate(blocks):
        start = b * rows_per_block * ncols
        tiles[start : start + n] = block
    grid = _tile(tiles, 3 * rows_per_block, ncols)
    fig, ax = _grid_figure(grid, title, (h, w))
    centres = _tile_centres(3 * rows_per_block, h)
    block_centres = [np.mean(centres[b * rows_per_block : (b + 1) * rows_per_block]) for b in range(3)]
    ax.set_yticks(block_centres, ["input", "decoded mean", "decoded sample"])
    _save(fig, path)
    return grid


def plot_prior_samples(model, path, title, seed, n=64):
    """decode(z), z ~ N(0, I), tiled in a ceil(sqrt(n))-wide grid (8 x 8 for n = 64)."""
    p = _param(model)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, model.latent_dim), generator=g, dtype=p.dtype).to(p.device)
    with inference(model):
        probs = _decode_probs(model, z)
    ncols = math.ceil(math.sqrt(n))
    grid = _tile(probs, math.ceil(n / ncols), ncols)
    fig, _ = _grid_figure(grid, title, probs.shape[1:])
    _save(fig, path)
    return grid


def latent_grid_z(latent_dim, n=15, span=1.5, dims=(0, 1)):
    """The z values of the latent grid, (n * n, latent_dim), row-major over tiles.

    Column c has z[dims[0]] = v[c] and row r has z[dims[1]] = v[n - 1 - r] (the top row is
    +span, as on a plot's y axis), v = linspace(-span, span, n); other dimensions are 0."""
    d0, d1 = dims
    if not (0 <= d0 < latent_dim and 0 <= d1 < latent_dim) or d0 == d1:
        raise ValueError(f"dims must be two different dimensions below {latent_dim}, got {dims}")
    v = torch.linspace(-span, span, n, dtype=torch.float64)
    z = torch.zeros((n, n, latent_dim), dtype=torch.float64)
    z[:, :, d0] = v[None, :]
    z[:, :, d1] = v.flip(0)[:, None]
    return z.reshape(n * n, latent_dim)


def plot_latent_grid(model, path, title, n=15, span=1.5, dims=(0, 1)):
    """The paper's 2-D latent grid: z[dims[0]] across, z[dims[1]] up, the rest 0 (latent_grid_z)."""
    p = _param(model)
    z = latent_grid_z(model.latent_dim, n, span, dims).to(device=p.device, dtype=p.dtype)
    with inference(model):
        probs = _decode_probs(model, z)
    h, w = probs.shape[1:]
    grid = _tile(probs, n, n)
    fig, ax = _grid_figure(grid, title, (h, w))
    xc, yc = _tile_centres(n, w), _tile_centres(n, h)
    ax.set_xticks([xc[0], xc[-1]], [_fmt(-span), _fmt(span)])
    ax.set_yticks([yc[0], yc[-1]], [_fmt(span), _fmt(-span)])
    ax.set_xlabel(f"z[{dims[0]}]")
    ax.set_ylabel(f"z[{dims[1]}]")
    _save(fig, path)
    return grid


def plot_latent_traversal(model, path, title, n=9, span=3.0):
    """Row d: dimension d over linspace(-span, span, n) left to right, the other dimensions 0."""
    p = _param(model)
    d = model.latent_dim
    v = torch.linspace(-span, span, n, dtype=torch.float64)
    z = torch.zeros((d, n, d), dtype=torch.float64)
    for i in range(d):
        z[i, :, i] = v
    with inference(model):
        probs = _decode_probs(model, z.reshape(d * n, d).to(device=p.device, dtype=p.dtype))
    h, w = probs.shape[1:]
    grid = _tile(probs, d, n)
    fig, ax = _grid_figure(grid, title, (h, w))
    xc = _tile_centres(n, w)
    ax.set_xticks([xc[0], xc[n // 2], xc[-1]], [_fmt(-span), _fmt(float(v[n // 2])), _fmt(span)])
    ax.set_yticks(_tile_centres(d, h), [f"z[{i}]" for i in range(d)])
    ax.set_xlabel("value of the varied dimension (others 0)")
    _save(fig, path)
    return grid


def plot_bits_per_dim(bits_by_model, path, title):
    """Grouped bar chart: x = latent dimension, one bar per series, y = bits.

    bits_by_model: dict series name -> per-dimension values (all the same length).
    Returns the values drawn, shape (series, dimensions), in the dict's order."""
    names = list(bits_by_model)
    if not names:
        raise ValueError("bits_by_model is empty")
    values = np.array([np.asarray(bits_by_model[k], dtype=np.float64) for k in names])
    if values.ndim != 2:
        raise ValueError("every series must have the same number of dimensions")
    s, d = values.shape
    fig = _new_figure(max(4.5, 0.6 * d * max(1, s / 2) + 1.5), 3.6)
    ax = fig.add_subplot()
    width = 0.8 / s
    x = np.arange(d)
    for i, name in enumerate(names):
        ax.bar(x + (i - (s - 1) / 2) * width, values[i], width, label=name)
    ax.set_xticks(x, [str(j) for j in x])
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("bits")
    ax.set_title(title)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _save(fig, path)
    return values


def plot_classified_samples(images, probs, class_names, confidence, path, title, n=32, ncols=8):
    """The first n images (N, 1, H, W) or (N, H, W), one small panel each, captioned with the
    classifier's most probable class and its probability; captions below `confidence` are red.
    Returns the predicted class index of each image shown."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4:
        images = images[:, 0]
    probs = np.asarray(probs, dtype=np.float64)
    n = min(n, len(images))
    nrows = math.ceil(n / ncols)
    fig = _new_figure(1.0 * ncols, 1.12 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    predicted = probs[:n].argmax(1)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        k = int(predicted[i])
        ax.imshow(images[i], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(f"{class_names[k]} {probs[i, k]:.2f}", fontsize=7,
                     color="black" if probs[i, k] >= confidence else "red")
    fig.suptitle(title)
    _save(fig, path)
    return predicted


def plot_rate_distortion(rows, path, title, label_key):
    """Rate (bits) against distortion (nats per image), one point per row, labelled.

    rows: dicts with keys "distortion_nats", "rate_bits" and label_key. Returns the (distortion,
    rate) pairs drawn, in the order of rate."""
    pts = sorted(((float(r["distortion_nats"]), float(r["rate_bits"]), r[label_key]) for r in rows),
                 key=lambda t: t[1])
    if not pts:
        raise ValueError("no rows to plot")
    fig = _new_figure(5.5, 4.0)
    ax = fig.add_subplot()
    d, rate = [p[0] for p in pts], [p[1] for p in pts]
    ax.plot(d, rate, "o-", color="#1f77b4")
    for x, y, label in pts:
        ax.annotate(f"{label_key} {_fmt(label) if isinstance(label, (int, float)) else label}", (x, y),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("distortion: test reconstruction, nats per image")
    ax.set_ylabel("rate: mean KL to the prior, bits")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return np.array([[x, y] for x, y, _ in pts])
