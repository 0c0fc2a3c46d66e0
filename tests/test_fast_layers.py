"""The fast CPU layers compute the plain layers' function (Keras alignment included), and the
fast VAE trains like the plain one (bench/baseline.py) from the same weights."""
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.baseline import BaselineVAE, baseline_step  # noqa: E402
from shapes_vae import fast_layers  # noqa: E402
from shapes_vae.model import VAE  # noqa: E402
from shapes_vae.objectives import vae_loss  # noqa: E402
from shapes_vae.train_step import adam, epoch_batches, train_step  # noqa: E402

TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-5, atol=1e-5)}


@pytest.fixture(autouse=True)
def nan_filled_new_memory():
    """Every test here runs with torch filling each new uninitialised tensor with NaN, so a fast
    path reading memory it has not written (a pad row left unzeroed, say) fails the comparison.
    The trainer turns that fill off for speed (runtime.configure_torch); this is why it may."""
    was = torch.are_deterministic_algorithms_enabled(), torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    yield
    torch.use_deterministic_algorithms(was[0], warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = was[1]


def ref_conv(x, w, b):  # Keras 'same', stride 2: pad bottom/right, then a plain conv, ReLU
    return F.relu(F.conv2d(F.pad(x, (0, 1, 0, 1)), w, b, stride=2))


def ref_deconv(x, w, b):  # Keras 'same', stride 2: rows/cols 0..2n-1 of the full result, ReLU
    h, wd = x.shape[-2:]
    return F.relu(F.conv_transpose2d(x, w, b, stride=2)[..., : 2 * h, : 2 * wd])


def ref_out(x, w, b):
    return F.conv_transpose2d(x, w, b, stride=1, padding=1)


def assert_same_function(fast, ref, x, w, b, dtype):
    """Outputs and gradients w.r.t. input, weight and bias agree, for a random output grad,
    relative to each tensor's scale (float32 sums of hundreds of terms can cancel to ~0)."""
    tol = TOL[dtype]
    ins = [t.to(dtype).detach().requires_grad_() for t in (x, w, b)]
    refs = [t.to(dtype).detach().requires_grad_() for t in (x, w, b)]
    y, y_ref = fast(*ins), ref(*refs)
    assert y.shape == y_ref.shape
    if ref in (ref_conv, ref_deconv):  # a ReLU that never or always fires would test nothing
        assert 0.2 < (y_ref > 0).double().mean() < 0.8
    assert_close_scaled(y, y_ref, tol)
    g = torch.randn(y.shape, dtype=dtype, generator=torch.Generator().manual_seed(3))
    y.backward(g)
    y_ref.backward(g)
    for a, r in zip(ins, refs):
        assert_close_scaled(a.grad, r.grad, tol)


def assert_close_scaled(a, r, tol, msg=None):
    scale = r.abs().max().clamp_min(1e-12)
    torch.testing.assert_close(a / scale, r / scale, **tol, msg=msg)


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cin,cout,n", [(64, 64, 7), (64, 32, 14), (3, 5, 6), (8, 16, 16), (1, 4, 3)])
def test_same_conv_transpose2d(dtype, cin, cout, n):
    x, w, b = rand(4, cin, n, n, seed=1), rand(cin, cout, 3, 3, seed=2) * 0.2, rand(cout, seed=3)
    assert_same_function(fast_layers.same_conv_transpose2d_relu, ref_deconv, x, w, b, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cin,cout,size", [(1, 32, 28), (32, 64, 14), (3, 5, 12), (4, 8, 32)])
def test_same_conv2d(dtype, cin, cout, size):
    x, w, b = rand(4, cin, size, size, seed=1), rand(cout, cin, 3, 3, seed=2) * 0.2, rand(cout, seed=3)
    assert_same_function(fast_layers.same_conv2d_relu, ref_conv, x, w, b, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cin,cout,size", [(32, 1, 28), (5, 1, 12), (8, 1, 32), (8, 3, 12)])
def test_output_conv_transpose2d(dtype, cin, cout, size):
    x, w, b = rand(4, cin, size, size, seed=1), rand(cin, cout, 3, 3, seed=2) * 0.2, rand(cout, seed=3)
    assert_same_function(_apply_out, ref_out, x, w, b, dtype)


def _apply_out(x, w, b):
    """Call the fast layer but route gradients back to the test's own leaf tensors."""
    layer = fast_layers.ConvTranspose2d(w.shape[0], w.shape[1], 3, stride=1, padding=1)
    del layer.weight, layer.bias  # use the caller's tensors as the parameters
    layer.weight, layer.bias = w, b
    return layer(x)


def test_layers_accept_any_memory_format():
    x = rand(4, 8, 14, 14).contiguous(memory_format=torch.channels_last)
    w, b = rand(8, 4, 3, 3), rand(4)
    torch.testing.assert_close(fast_layers.same_conv_transpose2d_relu(x, w, b), ref_deconv(x, w, b), rtol=1e-5, atol=1e-5)
    xs = rand(4, 8, 28, 28)[..., ::2, ::2]  # a non-contiguous view
    w2 = rand(4, 8, 3, 3)
    torch.testing.assert_close(fast_layers.same_conv2d_relu(xs, w2, b), ref_conv(xs, w2, b), rtol=1e-5, atol=1e-5)


def pair(dtype=torch.float32, **kw):
    torch.manual_seed(0)
    fast = VAE(**kw).to(dtype)
    base = BaselineVAE(**kw).to(dtype)
    base.load_state_dict(fast.state_dict())
    return fast, base


def test_gradients_only_where_asked():
    """Frozen weights or a constant input: the layers return no gradient for them, and the right
    one for the rest (the backward passes skip what autograd does not need)."""
    x, w, b = rand(2, 8, 6, 6, seed=1), rand(8, 4, 3, 3, seed=2), rand(4, seed=3)
    for fast, ref, wt in ((fast_layers.same_conv_transpose2d_relu, ref_deconv, w),
                          (fast_layers.same_conv2d_relu, ref_conv, w.transpose(0, 1).contiguous())):
        xg, bg = x.clone().requires_grad_(), b.clone().requires_grad_()
        fast(xg, wt, bg).sum().backward()
        xr, br = x.clone().requires_grad_(), b.clone().requires_grad_()
        ref(xr, wt, br).sum().backward()
        torch.testing.assert_close(xg.grad, xr.grad, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(bg.grad, br.grad, rtol=1e-5, atol=1e-5)


def test_same_parameters_as_baseline():
    fast, base = pair()
    assert {k: v.shape for k, v in fast.state_dict().items()} == {k: v.shape for k, v in base.state_dict().items()}
    assert sum(p.numel() for p in fast.parameters()) == sum(p.numel() for p in base.parameters())


def binary_images(n, size=28, seed=0):
    return (torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed)) > 0.7).float()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kw", [{}, {"image_size": 12, "channels": (4, 8)}, {"image_size": 32, "latent_dim": 3}])
def test_vae_outputs_and_gradients_match_baseline(dtype, kw):
    fast, base = pair(dtype, **kw)
    x = binary_images(16, kw.get("image_size", 28)).to(dtype)
    results = []
    for model in (fast, base):
        logits, mu, logvar, z = model(x, 0.3, torch.Generator().manual_seed(5))
        vae_loss(logits, x, mu, logvar, 1.0)[0].backward()
        results.append(([logits, mu, logvar, z], {k: p.grad for k, p in model.named_parameters()}))
    (outs, grads), (outs_ref, grads_ref) = results
    tol = TOL[dtype]
    for a, r in zip(outs, outs_ref):
        assert_close_scaled(a, r, tol)
    for k in grads_ref:
        assert_close_scaled(grads[k], grads_ref[k], tol, msg=k)


@pytest.fixture
def one_thread():
    """Small batches gain nothing from a second thread and suffer badly when the CPU is shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_short_training_run_tracks_baseline(one_thread):
    fast, base = pair()
    data = binary_images(640, seed=1)
    opt_f = adam(fast.parameters(), 1e-3)  # the trainer's optimizer
    opt_b = torch.optim.Adam(base.parameters(), lr=1e-3)
    gen_f, gen_b = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    losses_f, losses_b = [], []
    order = list(epoch_batches(len(data), 32, torch.Generator().manual_seed(0)))
    for idx in order[:20]:
        x = data[idx]
        total, recon, kl = train_step(fast, opt_f, x, 1.0, 0.1, gen_f)
        assert not total.requires_grad
        losses_f.append(total.item())
        losses_b.append(baseline_step(base, opt_b, x, 1.0, 0.1, gen_b)[0])
    torch.testing.assert_close(torch.tensor(losses_f), torch.tensor(losses_b), rtol=1e-4, atol=1e-3)
    assert losses_f[-1] < losses_f[0]
    for (k, p), q in zip(fast.named_parameters(), base.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4, msg=k)


def test_epoch_batches_is_a_seeded_permutation():
    a = list(epoch_batches(10, 4, torch.Generator().manual_seed(0)))
    b = list(epoch_batches(10, 4, torch.Generator().manual_seed(0)))
    assert [len(t) for t in a] == [4, 4, 2]
    assert torch.equal(torch.cat(a).sort().values, torch.arange(10))
    assert all(torch.equal(s, t) for s, t in zip(a, b))


def test_stock_config_falls_back_to_plain_layer():
    layer = fast_layers.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    ref = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    ref.load_state_dict(layer.state_dict())
    x = rand(2, 4, 5, 5)
    torch.testing.assert_close(layer(x), ref(x))


def test_no_bias_and_unbatched_input():
    """A bias-free layer is the plain function without bias; a 3-D (unbatched) input to the
    logits layer takes the stock path, as nn.ConvTranspose2d accepts it."""
    x, w = rand(2, 8, 5, 7, seed=1), rand(8, 4, 3, 3, seed=2)
    torch.testing.assert_close(fast_layers.same_conv_transpose2d_relu(x, w, None),
                               ref_deconv(x, w, None), rtol=1e-5, atol=1e-5)
    layer = fast_layers.ConvTranspose2d(4, 1, 3, stride=1, padding=1)
    x3 = rand(4, 6, 6, seed=4)
    torch.testing.assert_close(layer(x3), ref_out(x3.unsqueeze(0), layer.weight, layer.bias)[0])
