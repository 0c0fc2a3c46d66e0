"""The README's figure: the data, then the two models' reconstructions and 2-D latent grids, put
side by side from the PNGs the `generate` and `evaluate` stages drew (one picture, nothing
recomputed)."""
import matplotlib.image

from shapes_vae.plotting import new_figure, save

WIDTH_IN = 10.0


def _show(ax, path, title):
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    if path is None or not path.exists():  # a 1-d latent has no 2-D grid: say so in its place
        ax.text(0.5, 0.5, "(not drawn for this configuration)", ha="center", va="center", fontsize=9)
        return
    ax.imshow(matplotlib.image.imread(path), interpolation="nearest")


def _aspect(path):
    """Height over width of a PNG (1 when it is absent)."""
    if path is None or not path.exists():
        return 1.0
    h, w = matplotlib.image.imread(path).shape[:2]
    return h / w


def plot_overview(examples, panels, path):
    """examples: the data's PNG; panels: [(variant, reconstructions PNG, latent grid PNG)]. The
    data and each variant's reconstructions take the full width, the latent grids share the last
    row; writes path."""
    ncols = len(panels)
    wide = [(examples, "The data")] + [(recon, f"Reconstructions: {v}") for v, recon, _ in panels]
    heights = [_aspect(p) * ncols for p, _ in wide] + [max(_aspect(grid) for _, _, grid in panels)]
    fig = new_figure(WIDTH_IN, WIDTH_IN / ncols * sum(heights) + 0.4 * len(heights))
    grid = fig.add_gridspec(len(heights), ncols, height_ratios=heights)
    for r, (png, title) in enumerate(wide):
        _show(fig.add_subplot(grid[r, :]), png, title)
    for c, (v, _, latent_grid) in enumerate(panels):
        _show(fig.add_subplot(grid[-1, c]), latent_grid, f"Latent grid: {v}")
    save(fig, path)
