"""Drawing arrays and tables as PNG files: the tiling of image grids, bar charts, heat maps and
scatter plots that the stages share. Nothing here knows about a model.

The object-oriented Figure API with the Agg canvas is used throughout: no pyplot, no global
state, no display needed. PNGs carry no software version, so equal inputs give equal bytes. Each
function returns the array it drew.

Tiling convention (`tile`): tiles of H x W separated by `pad` pixels of value 0.5 (drawn in
blue, not grey, so they stay visible when an untrained or blurry decoder outputs 0.5), with a
border of `pad` as well, so a grid of nrows x ncols tiles is
(nrows * (H + pad) + pad) x (ncols * (W + pad) + pad), and tile (r, c) starts at
(pad + r * (H + pad), pad + c * (W + pad)).
"""
import matplotlib
import matplotlib.patches
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from shapes_vae.io import atomic_path

DPI = 100
PAD_VALUE = 0.5  # separator value in the returned grids; shapes are 1 (white) on 0 (black)
SEPARATOR_COLOUR = "#4f7fbf"  # separators are drawn in colour, so they show against any grey
_PIXELS_PER_IMAGE_PIXEL = 2  # on-screen size of one image pixel in the PNG
_MIN_WIDTH_IN, _MAX_WIDTH_IN = 3.5, 11.0


def tile(images, nrows, ncols, pad=1):
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


def separator_mask(shape, h, w, pad=1):
    """True on the separator pixels of a grid made by tile from H x W tiles."""
    rows = (np.arange(shape[0]) % (h + pad)) < pad
    cols = (np.arange(shape[1]) % (w + pad)) < pad
    return rows[:, None] | cols[None, :]


def tile_centres(n, size, pad=1):
    """Pixel coordinates (imshow's, pixel centres at integers) of the centres of n tiles."""
    return [pad + i * (size + pad) + (size - 1) / 2 for i in range(n)]


def new_figure(width_in, height_in):
    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def save(fig, path):
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None},
                        bbox_inches="tight", pad_inches=0.1)
    finally:
        fig.clear()  # drop the artists; the Figure is not registered anywhere (no pyplot)


def grid_figure(grid, title, tile_shape):
    """A figure holding one axes that shows `grid` (tiles of tile_shape = (H, W)) at about
    2 screen pixels per image pixel, grey colormap, separators in SEPARATOR_COLOUR."""
    gh, gw = grid.shape
    width = min(max(gw * _PIXELS_PER_IMAGE_PIXEL / DPI, _MIN_WIDTH_IN), _MAX_WIDTH_IN)
    height = width * gh / gw + 0.6  # room for the title
    fig = new_figure(width, height)
    ax = fig.add_subplot()
    shown = np.ma.masked_array(grid, mask=separator_mask(grid.shape, *tile_shape))
    cmap = matplotlib.colormaps["gray"].with_extremes(bad=SEPARATOR_COLOUR)
    ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)
    return fig, ax


def fmt(v):
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
    grid = tile(tiles, k, per_class)
    fig, ax = grid_figure(grid, title, (h, w))
    ax.set_yticks(tile_centres(k, h), [str(name) for name in class_names])
    save(fig, path)
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
    fig = new_figure(max(4.5, 0.6 * d * max(1, s / 2) + 1.5), 3.6)
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
    save(fig, path)
    return values


def plot_rate_distortion(rows, path, title, label_key):
    """Rate (bits) against distortion (nats per image), one point per row, labelled, with error
    bars where a row gives its spread.

    rows: dicts with keys "distortion_nats", "rate_bits", label_key and optionally
    "distortion_sd", "rate_sd" (None or absent: no bar). Returns the (distortion, rate,
    distortion bar, rate bar) rows drawn, in the order of rate (0 where there is no bar)."""
    sd = lambda r, k: float(r[k]) if r.get(k) not in (None, "") else 0.0
    pts = sorted(((float(r["distortion_nats"]), float(r["rate_bits"]), r[label_key], sd(r, "distortion_sd"), sd(r, "rate_sd"))
                  for r in rows), key=lambda t: t[1])
    if not pts:
        raise ValueError("no rows to plot")
    fig = new_figure(5.5, 4.0)
    ax = fig.add_subplot()
    d, rate, d_sd, rate_sd = ([p[i] for p in pts] for i in (0, 1, 3, 4))
    ax.errorbar(d, rate, xerr=d_sd, yerr=rate_sd, fmt="o-", color="#1f77b4", ecolor="#7f7f7f", capsize=3)
    for x, y, label, _, _ in pts:
        ax.annotate(f"{label_key} {fmt(label) if isinstance(label, (int, float)) else label}", (x, y),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("distortion: test reconstruction, nats per image")
    ax.set_ylabel("rate: mean KL to the prior, bits")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    save(fig, path)
    return np.array([[p[0], p[1], p[3], p[4]] for p in pts])


def plot_factor_heatmap(panels, factor_names, path, title, collapsed=()):
    """Heat maps of the normalised mutual information I(z_j; v_k) / H(v_k) (shapes_vae.factors),
    one panel per code measured (e.g. {"encoder means": m, "channel": m2}): latent dimensions as
    rows, factors as columns, colours on a fixed [0, 1] scale with a colour bar, each cell annotated
    with its value ("n/a" where undefined: None or NaN, a constant factor). The dimensions listed in
    `collapsed` (posterior near the prior) are labelled so, with their row hatched.

    panels: {title: (d, K) nested lists or array, None allowed}. Returns {title: the (d, K)
    float64 array drawn, NaN where a cell was None}."""
    drawn = {}
    for name, matrix in panels.items():
        values = np.array([[np.nan if v is None else float(v) for v in row] for row in matrix], dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(factor_names):
            raise ValueError(f"{name}: expected a (d, {len(factor_names)}) matrix, got shape {values.shape}")
        drawn[name] = values
    d, k = next(iter(drawn.values())).shape
    if any(v.shape != (d, k) for v in drawn.values()):
        raise ValueError("every panel's matrix must have the same shape")
    fig = new_figure((1.1 * k + 1.2) * len(drawn) + 1.6, 0.45 * d + 1.6)
    axes = fig.subplots(1, len(drawn), squeeze=False)[0]
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d0d0d0")
    labels = [f"z[{j}] (collapsed)" if j in collapsed else f"z[{j}]" for j in range(d)]
    for ax, (name, values) in zip(axes, drawn.items()):
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto",
                          interpolation="nearest")
        for (r, c), v in np.ndenumerate(values):
            # dark text on the light (high) end of viridis, light text on the dark end, so it stays legible
            ax.text(c, r, "n/a" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if np.isnan(v) or v > 0.6 else "white")
        for j in collapsed:
            ax.add_patch(matplotlib.patches.Rectangle((-0.5, j - 0.5), k, 1, fill=False, hatch="//",
                                                      edgecolor="#ff8080", linewidth=0))
        ax.set_xticks(range(k), [str(f) for f in factor_names])
        ax.set_yticks(range(d), labels if ax is axes[0] else [""] * d)
        ax.set_xlabel("factor")
        ax.set_title(name, fontsize=9)
    axes[0].set_ylabel("latent dimension")
    fig.suptitle(title)
    fig.colorbar(image, ax=list(axes), label="I(z; v) / H(v)")
    save(fig, path)
    return drawn
