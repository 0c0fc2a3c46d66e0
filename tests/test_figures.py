"""Figures: valid, non-blank, deterministic PNGs, written atomically, drawn from the model given
(shapes_vae.figures), and the generic drawing they share (shapes_vae.plotting)."""
import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from shapes_vae import figures, plotting
from shapes_vae.model import VAE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
H = W = 12
LATENT = 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_vae(seed=0):
    torch.manual_seed(seed)
    return VAE(latent_dim=LATENT, channels=(4, 8), hidden=5, image_size=H)


@pytest.fixture
def model():
    return tiny_vae(0)


@pytest.fixture
def other_model():
    return tiny_vae(1)


def decode_one(model, z):
    with torch.no_grad():
        z = torch.as_tensor(z, dtype=torch.float32)[None]
        return torch.sigmoid(model.decode(z))[0, 0].numpy().astype(np.float64)


def tile_at(grid, r, c, h=H, w=W, pad=1):
    top, left = pad + r * (h + pad), pad + c * (w + pad)
    return grid[top : top + h, left : left + w]


def grid_shape(nrows, ncols, h=H, w=W, pad=1):
    return (nrows * (h + pad) + pad, ncols * (w + pad) + pad)


def check_png(path):
    """A valid, non-blank PNG, alone in its folder (no temporary files left behind)."""
    assert path.exists()
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert b"Matplotlib" not in data  # no version string in the metadata
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert 80 <= img.shape[0] <= 2000 and 150 <= img.shape[1] <= 2000
    assert img[..., :3].var() > 0
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    return data


def binary_images(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 1, H, W)) < 0.3).astype(np.uint8)


# ---------------------------------------------------------------- tiling


def test_tile_shape_and_placement():
    imgs = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    grid = plotting.tile(imgs, 2, 3)
    assert grid.shape == grid_shape(2, 3, 2, 3)
    for i in range(5):
        np.testing.assert_array_equal(tile_at(grid, *divmod(i, 3), 2, 3), imgs[i])
    assert np.all(tile_at(grid, 1, 2, 2, 3) == plotting.PAD_VALUE)  # unused tile
    assert np.all(grid[0] == plotting.PAD_VALUE) and np.all(grid[:, 0] == plotting.PAD_VALUE)
    with pytest.raises(ValueError):
        plotting.tile(imgs, 2, 2)


def test_separator_mask_and_tile_centres_match_the_tiling():
    imgs = np.zeros((6, 2, 3))
    grid = plotting.tile(imgs, 2, 3)  # every tile 0, every separator PAD_VALUE
    np.testing.assert_array_equal(plotting.separator_mask(grid.shape, 2, 3), grid == plotting.PAD_VALUE)
    # the centre of tile r in a column of 2-pixel tiles lies between its two rows
    for r, centre in enumerate(plotting.tile_centres(2, 2)):
        top = 1 + r * 3
        assert centre == top + 0.5 and np.all(grid[top : top + 2, 1] == 0)


# ---------------------------------------------------------------- examples per class


def test_examples_per_class_rows_hold_only_their_class(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    images = (rng.random((n, H, W)) < 0.4).astype(np.uint8)
    labels = rng.integers(0, 3, n)
    labels[labels == 2] = 0
    labels[:3] = 2  # class 2 has only 3 images
    path = tmp_path / "examples.png"
    grid = plotting.plot_examples_per_class(images, labels, ["circle", "triangle", "rectangle"], path, per_class=5)
    check_png(path)
    assert grid.shape == grid_shape(3, 5)
    for k in range(3):
        of_class = images[labels == k]
        for j in range(5):
            tile = tile_at(grid, k, j)
            if j < len(of_class):
                np.testing.assert_array_equal(tile, of_class[j])
            else:
                assert np.all(tile == plotting.PAD_VALUE)
    # every shown tile is an image of its own row's class and of no other class
    for k in range(3):
        others = images[labels != k]
        for j in range(min(5, int((labels == k).sum()))):
            assert not any(np.array_equal(tile_at(grid, k, j), o) for o in others)


# ---------------------------------------------------------------- reconstructions


def test_reconstructions(tmp_path, model):
    x = torch.as_tensor(binary_images(10), dtype=torch.float32)
    path = tmp_path / "recon.png"
    model.train()
    grid = figures.plot_reconstructions(model, x, path, "tiny: reconstructions", n=6, seed=3)
    assert model.training  # mode restored
    check_png(path)
    assert grid.shape == grid_shape(3, 6)
    with torch.no_grad():
        mu, logvar = model.encode(x[:6])
    for j in range(6):
        np.testing.assert_array_equal(tile_at(grid, 0, j), x[j, 0].numpy())
        np.testing.assert_allclose(tile_at(grid, 1, j), decode_one(model, mu[j]), atol=1e-6)
    # the sampled row: z = mu + sigma * eps with eps from a Generator seeded by `seed`
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    z = mu + torch.exp(0.5 * logvar) * eps
    for j in range(6):
        np.testing.assert_allclose(tile_at(grid, 2, j), decode_one(model, z[j]), atol=1e-6)
    # numpy input of shape (N, H, W) works the same
    grid_np = figures.plot_reconstructions(model, x[:, 0].numpy(), tmp_path / "recon.png", "t", n=6, seed=3)
    np.testing.assert_array_equal(grid_np, grid)


def test_reconstructions_wrap_into_several_rows(tmp_path, model):
    x = torch.as_tensor(binary_images(20), dtype=torch.float32)
    grid = figures.plot_reconstructions(model, x, tmp_path / "r.png", "t", n=20)
    assert grid.shape == grid_shape(6, 16)  # 2 rows of 16 per block
    np.testing.assert_array_equal(tile_at(grid, 1, 3), x[19, 0].numpy())
    np.testing.assert_array_equal(tile_at(grid, 1, 4), plotting.PAD_VALUE * np.ones((H, W)))


# ---------------------------------------------------------------- prior samples


def test_prior_samples(tmp_path, model):
    path = tmp_path / "prior.png"
    grid = figures.plot_prior_samples(model, path, "tiny: prior samples", seed=5)
    check_png(path)
    assert grid.shape == grid_shape(8, 8)
    z = torch.randn((64, LATENT), generator=torch.Generator().manual_seed(5))
    np.testing.assert_allclose(tile_at(grid, 2, 7), decode_one(model, z[23]), atol=1e-6)
    again = figures.plot_prior_samples(model, tmp_path / "prior.png", "tiny: prior samples", seed=5)
    np.testing.assert_array_equal(again, grid)
    other_seed = figures.plot_prior_samples(model, tmp_path / "prior.png", "tiny: prior samples", seed=6)
    assert not np.allclose(other_seed, grid)


def test_prior_samples_non_square_count(tmp_path, model):
    grid = figures.plot_prior_samples(model, tmp_path / "p.png", "t", seed=0, n=10)
    assert grid.shape == grid_shape(3, 4)


# ---------------------------------------------------------------- latent grid


@pytest.mark.parametrize("dims", [(0, 1), (2, 0)])
def test_latent_grid_known_answer(tmp_path, model, dims):
    n, span = 5, 1.5
    path = tmp_path / "grid.png"
    grid = figures.plot_latent_grid(model, path, "tiny: latent grid", n=n, span=span, dims=dims)
    check_png(path)
    assert grid.shape == grid_shape(n, n)
    v = np.linspace(-span, span, n)
    for r, c in [(0, 0), (0, n - 1), (n - 1, 0), (1, 3), (n - 1, n - 1)]:
        z = np.zeros(LATENT, dtype=np.float32)
        z[dims[0]] = v[c]  # across
        z[dims[1]] = v[n - 1 - r]  # up: the top row is +span
        np.testing.assert_allclose(tile_at(grid, r, c), decode_one(model, z), atol=1e-6)


def test_latent_grid_rejects_bad_dims(tmp_path, model):
    for dims in [(0, 0), (0, LATENT)]:
        with pytest.raises(ValueError):
            figures.plot_latent_grid(model, tmp_path / "g.png", "t", dims=dims)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- traversal


def test_latent_traversal(tmp_path, model):
    n, span = 7, 3.0
    path = tmp_path / "trav.png"
    grid = figures.plot_latent_traversal(model, path, "tiny: traversal", n=n, span=span)
    check_png(path)
    assert grid.shape == grid_shape(LATENT, n)  # one row per latent dimension
    v = np.linspace(-span, span, n)
    for d in range(LATENT):
        for j in (0, 2, n - 1):
            z = np.zeros(LATENT, dtype=np.float32)
            z[d] = v[j]
            np.testing.assert_allclose(tile_at(grid, d, j), decode_one(model, z), atol=1e-6)


# ---------------------------------------------------------------- bits per dimension


def test_bits_per_dim(tmp_path):
    bits = {"standard": [0.1 * i for i in range(8)], "modified (rate)": [1.0] * 8}
    path = tmp_path / "bits.png"
    values = plotting.plot_bits_per_dim(bits, path, "bits per latent dimension")
    check_png(path)
    np.testing.assert_array_equal(values, np.array([bits["standard"], bits["modified (rate)"]]))
    with pytest.raises(ValueError):
        plotting.plot_bits_per_dim({"a": [1.0, 2.0], "b": [1.0]}, tmp_path / "bad.png", "t")


def test_rate_distortion_points_in_order_of_rate(tmp_path):
    rows = [{"distortion_nats": 40.0, "rate_bits": 9.0, "beta": 1.0},
            {"distortion_nats": 80.0, "rate_bits": 2.5, "beta": 10.0},
            {"distortion_nats": "55.5", "rate_bits": "4", "beta": 5.0}]  # CSV strings are read as numbers
    path = tmp_path / "rd.png"
    drawn = plotting.plot_rate_distortion(rows, path, "rate against distortion", "beta")
    check_png(path)
    np.testing.assert_array_equal(drawn, [[80.0, 2.5, 0, 0], [55.5, 4.0, 0, 0], [40.0, 9.0, 0, 0]])
    rows[0] |= {"distortion_sd": 1.5, "rate_sd": "0.25"}  # a point's spread over seeds: error bars
    rows[1] |= {"distortion_sd": None, "rate_sd": ""}  # one run: no bar
    drawn = plotting.plot_rate_distortion(rows, path, "rate against distortion", "beta")
    np.testing.assert_array_equal(drawn, [[80.0, 2.5, 0, 0], [55.5, 4.0, 0, 0], [40.0, 9.0, 1.5, 0.25]])
    with pytest.raises(ValueError):
        plotting.plot_rate_distortion([], tmp_path / "empty.png", "t", "beta")


# ---------------------------------------------------------------- across all figures


def _draw_all(model, folder, title="tiny"):
    x = torch.as_tensor(binary_images(8), dtype=torch.float32)
    images, labels = binary_images(12)[:, 0], np.arange(12) % 3
    return {
        "examples": plotting.plot_examples_per_class(images, labels, ["a", "b", "c"], folder / "examples.png", 3),
        "recon": figures.plot_reconstructions(model, x, folder / "recon.png", title, n=8),
        "prior": figures.plot_prior_samples(model, folder / "prior.png", title, seed=0),
        "grid": figures.plot_latent_grid(model, folder / "grid.png", title, n=4),
        "trav": figures.plot_latent_traversal(model, folder / "trav.png", title, n=5),
        "bits": plotting.plot_bits_per_dim({"s": [1.0, 2.0, 0.5]}, folder / "bits.png", title),
    }


def test_same_inputs_give_identical_png_bytes(tmp_path, model):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    _draw_all(model, a)
    _draw_all(model, b)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and len(names) == 6  # no temp files
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_different_models_give_different_figures(tmp_path, model, other_model):
    """The reference drew both models' latent grids from one shared decoder."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    grids_a, grids_b = _draw_all(model, a), _draw_all(other_model, b)
    for key in ["recon", "prior", "grid", "trav"]:
        assert grids_a[key].shape == grids_b[key].shape
        assert not np.allclose(grids_a[key], grids_b[key]), key
        assert (a / f"{key}.png").read_bytes() != (b / f"{key}.png").read_bytes(), key
