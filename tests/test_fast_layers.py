"""The fast CPU layers, applied in the model's frame (maps and kernels rotated by 180 degrees),
compute the plain Keras-aligned layers' function, and the fast VAE trains like the plain one
(bench/baseline.py) from the same weights."""
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.baseline import BaselineVAE, baseline_step  # noqa: E402
from shapes_vae import fast_layers  # noqa: E402
from shapes_vae.model import VAE, rot180, to_rotated_nhwc  # noqa: E402
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


def in_model_frame(fast):
    """A fast layer as the model applies it: on the rotated map with the rotated kernel, the
    result rotated back (model.py's docstring explains why that is the Keras-aligned layer)."""
    return lambda x, w, b: rot180(fast(rot180(x), rot180(w), b))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cin,cout,n", [(64, 64, 7), (64, 32, 14), (3, 5, 6), (8, 16, 16), (1, 4, 3)])
def test_same_conv_transpose2d(dtype, cin, cout, n):
    x, w, b = rand(4, cin, n, n, seed=1), rand(cin, cout, 3, 3, seed=2) * 0.2, rand(cout, seed=3)
    assert_same_function(in_model_frame(fast_layers.conv_transpose2d_relu), ref_deconv, x, w, b, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cin,cout,size", [(1, 32, 28), (32, 64, 14), (3, 5, 12), (4, 8, 32)])
def test_same_conv2d(dtype, cin, cout, size):
    x, w, b = rand(4, cin, size, size, seed=1), rand(cout, cin, 3, 3, seed=2) * 0.2, rand(cout, seed=3)
    assert_same_function(in_model_frame(fast_layers.conv2d_relu), ref_conv, x, w, b, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cin,cout,size", [(32, 1, 28), (5, 1, 12), (8, 1, 32), (8, 3, 12)])
def test_output_conv_transpose2d(dtype, cin, cout, size):
    x, w, b = rand(4, cin, size, size, seed=1), rand(cin, cout, 3, 3, seed=2) * 0.2, rand(cout, seed=3)
    assert_same_function(in_model_frame(fast_layers.conv_transpose2d_3x3), ref_out, x, w, b, dtype)


@pytest.mark.parametrize("fast,ref,w_shape", [
    (fast_layers.conv_transpose2d_relu, ref_deconv, (64, 32, 3, 3)),
    (fast_layers.conv2d_relu, ref_conv, (64, 64, 3, 3)),
    (fast_layers.conv_transpose2d_3x3, ref_out, (64, 1, 3, 3)),
])
def test_layers_under_bfloat16_autocast(fast, ref, w_shape):
    """Under bfloat16 autocast (runtime.train_precision) the layers compute in bfloat16 and
    return float32 gradients for float32 leaves, within bfloat16 rounding of the float32 results
    (norm-wise: a ReLU that flips on a rounded value moves single elements by more: ~2.5% of
    the gradients' norm here, against ~0.3% for the outputs)."""
    n_out = w_shape[0] if ref is ref_conv else w_shape[1]
    x, w, b = rand(4, 64, 14, 14, seed=1), rand(*w_shape, seed=2) * 0.1, rand(n_out, seed=3)
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    refs = [t.clone().requires_grad_() for t in (x, w, b)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = in_model_frame(fast)(*leaves)
    assert y.dtype == (torch.float32 if ref is ref_out else torch.bfloat16)
    y_ref = ref(*refs)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
    y.backward(g)
    y_ref.backward(g)
    for a, r in zip([y, *(t.grad for t in leaves)], [y_ref, *(t.grad for t in refs)]):
        assert a.dtype == torch.float32 or a is y
        error = ((a.float() - r).norm() / r.norm()).item()
        if ref is ref_out and a is leaves[2].grad:  # the logits layer's bias stays float32
            assert error < 1e-5
            continue
        # bfloat16 rounding (2^-9 relative) and the odd flipped ReLU, but not float32's rounding
        assert 1e-4 < error < (1e-2 if a is y else 5e-2)


def test_dense_weights_reindexed_to_rotated_channels_last():
    """Feature j of the flattened (C, H, W) map is feature to_rotated_nhwc(j) of the flattened
    rotated channels_last map, so a dense layer gives the same result on either."""
    h = rand(3, 4, 5, 5)
    w = rand(6, 4 * 5 * 5, seed=1)
    flat_rotated_nhwc = rot180(h).permute(0, 2, 3, 1).flatten(1)
    torch.testing.assert_close(flat_rotated_nhwc @ to_rotated_nhwc(w, 1, 4, 5).t(), h.flatten(1) @ w.t())
    wd = rand(4 * 5 * 5, 2, seed=2)
    z = rand(3, 2, seed=3)
    out = (z @ to_rotated_nhwc(wd, 0, 4, 5).t()).view(3, 5, 5, 4).permute(0, 3, 1, 2)
    torch.testing.assert_close(rot180(out), (z @ wd.t()).view(3, 4, 5, 5))


def test_layers_accept_any_memory_format():
    x = rand(4, 8, 14, 14).contiguous(memory_format=torch.channels_last)
    w, b = rand(8, 4, 3, 3), rand(4)
    deconv = in_model_frame(fast_layers.conv_transpose2d_relu)
    torch.testing.assert_close(deconv(x, w, b), ref_deconv(x, w, b), rtol=1e-5, atol=1e-5)
    xs = rand(4, 8, 28, 28)[..., ::2, ::2]  # a non-contiguous view
    w2 = rand(4, 8, 3, 3)
    conv = in_model_frame(fast_layers.conv2d_relu)
    torch.testing.assert_close(conv(xs, w2, b), ref_conv(xs, w2, b), rtol=1e-5, atol=1e-5)


def pair(dtype=torch.float32, nonzero_biases=False, **kw):
    """The fast and the plain VAE with the same weights; nonzero_biases draws the biases (Keras
    starts them at zero, which would hide a bias applied in the wrong place)."""
    torch.manual_seed(0)
    fast = VAE(**kw).to(dtype)
    with torch.no_grad():
        for name, p in fast.named_parameters():
            if nonzero_biases and name.endswith("bias"):
                p.uniform_(-0.3, 0.3)
    base = BaselineVAE(**kw).to(dtype)
    base.load_state_dict(fast.state_dict())
    return fast, base


def test_gradients_only_where_asked():
    """Frozen weights or a constant input (the first layer's data): the layers return no
    gradient for them, and the right one for the rest (the backward skips what is not needed)."""
    x, w = rand(2, 8, 6, 6, seed=1), rand(8, 4, 3, 3, seed=2)
    layers = ((fast_layers.conv_transpose2d_relu, ref_deconv, w, rand(4, seed=3)),
              (fast_layers.conv2d_relu, ref_conv, w.transpose(0, 1).contiguous(), rand(4, seed=3)),
              (fast_layers.conv_transpose2d_3x3, ref_out, rand(8, 1, 3, 3, seed=4), rand(1, seed=5)))
    for fast, ref, wt, b in layers:
        for grad_of in ("x", "w"):
            grads = []
            for f in (in_model_frame(fast), ref):
                xg, wg, bg = x.clone(), wt.clone(), b.clone()
                leaves = [xg if grad_of == "x" else wg, bg]
                for t in leaves:
                    t.requires_grad_()
                f(xg, wg, bg).square().sum().backward()
                assert (xg.grad is None) == (grad_of == "w") and (wg.grad is None) == (grad_of == "x")
                grads.append([t.grad for t in leaves])
            for g, r in zip(*grads):
                assert_close_scaled(g, r, TOL[torch.float32])


def test_same_parameters_as_baseline():
    fast, base = pair()
    assert {k: v.shape for k, v in fast.state_dict().items()} == {k: v.shape for k, v in base.state_dict().items()}
    assert sum(p.numel() for p in fast.parameters()) == sum(p.numel() for p in base.parameters())


def binary_images(n, size=28, seed=0):
    return (torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed)) > 0.7).float()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kw", [{}, {"image_size": 12, "channels": (4, 8)}, {"image_size": 32, "latent_dim": 3}])
def test_vae_outputs_and_gradients_match_baseline(dtype, kw):
    # non-zero biases in float64 only: in float32 they put some pre-activations near 0, where
    # rounding flips a ReLU and moves single gradient elements by ~0.5% (float64 agrees to 1e-15)
    fast, base = pair(dtype, nonzero_biases=dtype == torch.float64, **kw)
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


def test_no_bias_and_unbatched_input_take_the_plain_path():
    """Bias-free layers and 3-D (unbatched) inputs, which the model never passes, are the stock
    PyTorch functions."""
    x, w = rand(2, 8, 5, 7, seed=1), rand(8, 4, 3, 3, seed=2)
    torch.testing.assert_close(fast_layers.conv_transpose2d_relu(x, w, None),
                               F.relu(F.conv_transpose2d(x, w, None, stride=2, padding=1, output_padding=1)))
    torch.testing.assert_close(fast_layers.conv2d_relu(x, w.transpose(0, 1), None),
                               F.relu(F.conv2d(x, w.transpose(0, 1), None, stride=2, padding=1)))
    x3, wo, bo = rand(4, 6, 6, seed=4), rand(4, 1, 3, 3, seed=5), rand(1, seed=6)
    torch.testing.assert_close(fast_layers.conv_transpose2d_3x3(x3, wo, bo),
                               F.conv_transpose2d(x3, wo, bo, stride=1, padding=1))


def test_wrong_image_size_is_refused():
    """The rotated frame is the Keras alignment only for the model's own image size."""
    with pytest.raises(ValueError, match=r"expected images of 28x28, got \(2, 1, 27, 28\)"):
        VAE().encode(torch.zeros(2, 1, 27, 28))


def test_autocast_leaves_float64_alone_as_stock_layers_do():
    x, w, b = rand(2, 8, 6, 6).double(), rand(4, 8, 3, 3).double(), rand(4).double()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fast_layers.conv2d_relu(x, w, b)
        y_stock = F.relu(F.conv2d(x, w, b, stride=2, padding=1))
    assert y.dtype == y_stock.dtype == torch.float64
    torch.testing.assert_close(y, y_stock)


def test_train_step_refuses_an_unknown_precision():
    fast, _ = pair()
    with pytest.raises(ValueError, match="precision must be float32 or bfloat16, got 'float16'"):
        train_step(fast, adam(fast.parameters(), 1e-3), binary_images(4), 1.0, 0.0, None, "float16")
