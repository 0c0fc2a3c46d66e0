"""Figures drawn from a trained model, written as PNG files (the drawing itself: shapes_vae.plotting).

Every figure is drawn from the model it is given (the reference drew its "standard" and
"modified" latent grids from one shared decoder, so they were the same picture). Decoded pixels
are sigmoid(logits), the Bernoulli probability. Randomness comes from a torch.Generator seeded
by a `seed` argument, so equal inputs give equal bytes. Each function returns the array it drew:
the tiled image grid (2-D, values in [0, 1]), or the predicted classes for the classified samples.
"""
import math

import numpy as np
import torch

from shapes_vae.inference import inference
from shapes_vae.latents import sample_latents
from shapes_vae.plotting import PAD_VALUE, fmt, grid_figure, new_figure, save, tile, tile_centres


def _param(model):
    return next(model.parameters())


def _decode_probs(model, z):
    """sigmoid(decode(z)) as a numpy array (N, H, W)."""
    p = torch.sigmoid(model.decode(z))
    return p[:, 0].detach().cpu().numpy().astype(np.float64)


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
    with inference(model):
        mu, logvar = model.encode(x)
        z = sample_latents(mu, logvar, seed)
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
    grid = tile(tiles, 3 * rows_per_block, ncols)
    fig, ax = grid_figure(grid, title, (h, w))
    centres = tile_centres(3 * rows_per_block, h)
    block_centres = [np.mean(centres[b * rows_per_block : (b + 1) * rows_per_block]) for b in range(3)]
    ax.set_yticks(block_centres, ["input", "decoded mean", "decoded sample"])
    save(fig, path)
    return grid


def plot_prior_samples(model, path, title, seed, n=64):
    """decode(z), z ~ N(0, I), tiled in a ceil(sqrt(n))-wide grid (8 x 8 for n = 64)."""
    p = _param(model)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, model.latent_dim), generator=g, dtype=p.dtype).to(p.device)
    with inference(model):
        probs = _decode_probs(model, z)
    ncols = math.ceil(math.sqrt(n))
    grid = tile(probs, math.ceil(n / ncols), ncols)
    fig, _ = grid_figure(grid, title, probs.shape[1:])
    save(fig, path)
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
    grid = tile(probs, n, n)
    fig, ax = grid_figure(grid, title, (h, w))
    xc, yc = tile_centres(n, w), tile_centres(n, h)
    ax.set_xticks([xc[0], xc[-1]], [fmt(-span), fmt(span)])
    ax.set_yticks([yc[0], yc[-1]], [fmt(span), fmt(-span)])
    ax.set_xlabel(f"z[{dims[0]}]")
    ax.set_ylabel(f"z[{dims[1]}]")
    save(fig, path)
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
    grid = tile(probs, d, n)
    fig, ax = grid_figure(grid, title, (h, w))
    xc = tile_centres(n, w)
    ax.set_xticks([xc[0], xc[n // 2], xc[-1]], [fmt(-span), fmt(float(v[n // 2])), fmt(span)])
    ax.set_yticks(tile_centres(d, h), [f"z[{i}]" for i in range(d)])
    ax.set_xlabel("value of the varied dimension (others 0)")
    save(fig, path)
    return grid


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
    fig = new_figure(1.0 * ncols, 1.12 * nrows + 0.4)
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
    save(fig, path)
    return predicted
