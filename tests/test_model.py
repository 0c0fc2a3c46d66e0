"""The plain VAE has Keras' alignment; the fast CPU form (shapes_vae.fast_cpu) computes the same
function with the same parameters; shapes_vae.backends picks one or refuses."""
import pytest
import torch
import torch.nn.functional as F

from shapes_vae import fast_cpu
from shapes_vae.backends import build_vae, choose_backend
from shapes_vae.errors import PipelineError
from shapes_vae.fast_cpu import FastCPUVAE, rot180, to_rotated_nhwc
from shapes_vae.model import VAE
from shapes_vae.objectives import vae_loss
from shapes_vae.optim import Adam
from shapes_vae.train_step import epoch_batches, train_step

TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-5, atol=1e-5)}
ARCH = {"latent_dim": 8, "channels": [32, 64], "hidden": 16}
KEYS = [f"{layer}.{p}" for layer in ("enc_conv1", "enc_conv2", "enc_dense", "enc_mu", "enc_logvar", "dec_dense",
                                     "dec_deconv1", "dec_deconv2", "dec_out") for p in ("weight", "bias")]


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


@pytest.fixture(autouse=True)
def one_thread():
    """Small batches gain nothing from a second thread and suffer badly when the CPU is shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def binary_images(n, size=28, seed=0):
    return (torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed)) > 0.7).float()


def assert_close_scaled(a, r, tol, msg=None):
    """Relative to r's scale: float32 sums of hundreds of terms can cancel to ~0."""
    scale = r.abs().max().clamp_min(1e-12)
    torch.testing.assert_close(a / scale, r / scale, **tol, msg=msg)


def pair(dtype=torch.float32, nonzero_biases=False, **kw):
    """The plain and the fast VAE with the same weights; nonzero_biases draws the biases (Keras
    starts them at zero, which would hide a bias applied in the wrong place)."""
    torch.manual_seed(0)
    plain = VAE(**kw).to(dtype)
    with torch.no_grad():
        for name, p in plain.named_parameters():
            if nonzero_biases and name.endswith("bias"):
                p.uniform_(-0.3, 0.3)
    fast = FastCPUVAE(**kw).to(dtype)
    fast.load_state_dict(plain.state_dict())
    return plain, fast


def run(model, x, noise_sigma=0.3):
    """Outputs and per-parameter gradients of the VAE loss, with a seeded sample."""
    logits, mu, logvar, z = model(x, noise_sigma, torch.Generator().manual_seed(5))
    vae_loss(logits, x, mu, logvar, 1.0)[0].backward()
    return [logits, mu, logvar, z], {k: p.grad for k, p in model.named_parameters()}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kw", [{}, {"image_size": 12, "channels": (4, 8)}, {"image_size": 32, "latent_dim": 3}])
def test_fast_matches_plain_outputs_and_gradients(dtype, kw):
    # non-zero biases in float64 only: in float32 they put some pre-activations near 0, where
    # rounding flips a ReLU and moves single gradient elements by ~0.5% (float64 agrees to 1e-15)
    plain, fast = pair(dtype, nonzero_biases=dtype == torch.float64, **kw)
    x = binary_images(16, kw.get("image_size", 28)).to(dtype)
    (outs, grads), (outs_ref, grads_ref) = run(fast, x), run(plain, x)
    for a, r in zip(outs, outs_ref):
        assert a.dtype == dtype
        assert_close_scaled(a, r, TOL[dtype])
    assert list(grads) == list(grads_ref) == KEYS
    for k in KEYS:
        assert grads_ref[k].abs().max() > 0, k  # a zero gradient would compare equal to anything
        assert_close_scaled(grads[k], grads_ref[k], TOL[dtype], msg=k)


def test_same_parameters_as_plain_and_checkpoints_load_across():
    plain, fast = pair()
    assert list(plain.state_dict()) == list(fast.state_dict()) == KEYS
    assert {k: v.shape for k, v in fast.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    torch.manual_seed(0)
    assert all(torch.equal(a, b) for a, b in zip(VAE().state_dict().values(), plain.state_dict().values()))
    torch.manual_seed(0)  # the same seed gives the same initial weights in either form
    assert all(torch.equal(a, b) for a, b in zip(FastCPUVAE().state_dict().values(), plain.state_dict().values()))
    assert "fast_cpu" in repr(fast) and "fast_cpu" not in repr(plain)


def test_plain_model_has_keras_same_alignment():
    """Known answers. A stride-2 'same' conv in Keras reads input rows 2i, 2i+1, 2i+2, the last
    one padding (PyTorch's padding=1 would read 2i-1 .. 2i+1); a stride-2 transposed conv sends
    input row i through tap k to output row 2i + k and keeps rows 0 .. 2n-1."""
    m = VAE()
    seen = {}
    m.enc_conv1.register_forward_hook(lambda mod, inp, out: seen.update(conv=out))
    known = torch.zeros(1, 64, 14, 14)
    known[0, 0] = torch.arange(1, 197, dtype=torch.float32).view(14, 14)
    m.dec_deconv2.register_forward_pre_hook(lambda mod, inp: (known,))  # decode's map, replaced
    m.dec_out.register_forward_pre_hook(lambda mod, inp: seen.update(deconv=inp[0]))
    x = torch.arange(1, 28 * 28 + 1, dtype=torch.float32).view(1, 1, 28, 28)
    for tap in (0, 2):
        with torch.no_grad():
            for layer in (m.enc_conv1, m.dec_deconv2):
                layer.weight.zero_()
                layer.weight[0, 0, tap, tap] = 1.0
            m(x)
        conv, deconv = seen["conv"][0, 0], seen["deconv"][0, 0]
        assert conv.shape == (14, 14) and deconv.shape == (28, 28)
        if tap == 0:
            assert torch.equal(conv, x[0, 0, ::2, ::2])
            assert torch.equal(deconv[::2, ::2], known[0, 0]) and deconv[1::2].abs().sum() == 0
        else:  # reads 2i + 2: the last row and column are the bottom/right padding
            assert torch.equal(conv[:-1, :-1], x[0, 0, 2::2, 2::2])
            assert conv[-1].abs().sum() == conv[:, -1].abs().sum() == 0
            assert torch.equal(deconv[2::2, 2::2], known[0, 0, :-1, :-1]) and deconv[0].abs().sum() == 0


@pytest.mark.parametrize("fast,ref,w_shape", [
    (fast_cpu.conv_transpose2d_relu, lambda x, w, b: F.relu(F.conv_transpose2d(x, w, b, stride=2)[..., :28, :28]),
     (64, 32, 3, 3)),
    (fast_cpu.conv2d_relu, lambda x, w, b: F.relu(F.conv2d(F.pad(x, (0, 1, 0, 1)), w, b, stride=2)), (64, 64, 3, 3)),
    (fast_cpu.conv_transpose2d_to_one, lambda x, w, b: F.conv_transpose2d(x, w, b, padding=1), (64, 1, 3, 3)),
], ids=["deconv", "conv", "logits"])
def test_fast_layers_under_bfloat16_autocast(fast, ref, w_shape):
    """Under bfloat16 autocast (runtime.train_precision) the fast layers, applied in the model's
    rotated frame, compute in bfloat16 and return float32 gradients for float32 leaves, within
    bfloat16 rounding of the float32 Keras-aligned layer (norm-wise: a ReLU that flips on a rounded
    value moves single elements by more: ~2.5% of the gradients' norm here, ~0.3% for outputs)."""
    logits_layer = fast is fast_cpu.conv_transpose2d_to_one
    n_out = w_shape[0] if fast is fast_cpu.conv2d_relu else w_shape[1]
    x, w, b = rand(4, 64, 14, 14, seed=1), rand(*w_shape, seed=2) * 0.1, rand(n_out, seed=3)
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    refs = [t.clone().requires_grad_() for t in (x, w, b)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = rot180(fast(rot180(leaves[0]), rot180(leaves[1]), leaves[2]))
    assert y.dtype == (torch.float32 if logits_layer else torch.bfloat16)
    y_ref = ref(*refs)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(3))
    y.backward(g)
    y_ref.backward(g)
    for a, r in zip([y, *(t.grad for t in leaves)], [y_ref, *(t.grad for t in refs)]):
        assert a.dtype == torch.float32 or a is y
        error = ((a.float() - r).norm() / r.norm()).item()
        if logits_layer and a is leaves[2].grad:  # the logits layer's bias stays float32
            assert error < 1e-5
            continue
        # bfloat16 rounding (2^-9 relative) and the odd flipped ReLU, but not float32's rounding
        assert 1e-4 < error < (1e-2 if a is y else 5e-2)


@pytest.mark.parametrize("form", ["plain", "fast"])
def test_models_return_float32_under_bfloat16_autocast(form):
    plain, fast = pair()
    model = fast if form == "fast" else plain
    x = binary_images(8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, mu, logvar, z = model(x, 0.0, torch.Generator().manual_seed(5))
    assert logits.dtype == mu.dtype == logvar.dtype == z.dtype == torch.float32
    ref = plain(x, 0.0, torch.Generator().manual_seed(5))[0]
    assert 1e-4 < ((logits - ref).norm() / ref.norm()).item() < 5e-2  # computed in bfloat16


def test_autocast_leaves_float64_alone_as_stock_layers_do():
    x, w, b = rand(2, 8, 6, 6).double(), rand(4, 8, 3, 3).double(), rand(4).double()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fast_cpu.conv2d_relu(x, w, b)
        y_stock = F.relu(F.conv2d(x, w, b, stride=2, padding=1))
    assert y.dtype == y_stock.dtype == torch.float64
    torch.testing.assert_close(y, y_stock)


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


def test_fast_accepts_any_memory_format():
    plain, fast = pair()
    x = binary_images(4, 56)[..., ::2, ::2]  # a non-contiguous view
    ref = plain(x, 0.0, torch.Generator().manual_seed(5))[0]
    for inp in (x, x.contiguous(memory_format=torch.channels_last)):
        torch.testing.assert_close(fast(inp, 0.0, torch.Generator().manual_seed(5))[0], ref, rtol=1e-5, atol=1e-5)


def test_gradients_only_where_asked():
    """Frozen conv weights and an input that wants a gradient (as for a saliency map): the fast
    backward skips the weight gradients and gets the input's and the rest right."""
    plain, fast = pair()
    results = []
    for model in (fast, plain):
        for name, p in model.named_parameters():
            p.requires_grad_("conv" not in name)
        x = binary_images(4).requires_grad_()
        _, grads = run(model, x)
        results.append((x.grad, grads))
    (gx, grads), (gx_ref, grads_ref) = results
    assert_close_scaled(gx, gx_ref, TOL[torch.float32])
    for k in KEYS:
        assert (grads[k] is None) == (grads_ref[k] is None) == ("conv" in k), k
        if grads[k] is not None:
            assert_close_scaled(grads[k], grads_ref[k], TOL[torch.float32], msg=k)


def test_short_training_run_tracks_plain():
    plain, fast = pair()
    data = binary_images(320, seed=1)
    opts = [Adam(m.parameters(), 1e-3, fused=True) for m in (fast, plain)]
    gens = [torch.Generator().manual_seed(7) for _ in range(2)]
    losses = [[], []]
    for idx in epoch_batches(len(data), 32, torch.Generator().manual_seed(0)):
        for i, model in enumerate((fast, plain)):
            total, _, _ = train_step(model, opts[i], data[idx], 1.0, 0.1, gens[i])
            assert not total.requires_grad
            losses[i].append(total.item())
    torch.testing.assert_close(torch.tensor(losses[0]), torch.tensor(losses[1]), rtol=1e-4, atol=1e-3)
    assert losses[0][-1] < losses[0][0]
    for (k, p), q in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4, msg=k)


def test_epoch_batches_is_a_seeded_permutation():
    a = list(epoch_batches(10, 4, torch.Generator().manual_seed(0)))
    b = list(epoch_batches(10, 4, torch.Generator().manual_seed(0)))
    assert [len(t) for t in a] == [4, 4, 2]
    assert torch.equal(torch.cat(a).sort().values, torch.arange(10))
    assert all(torch.equal(s, t) for s, t in zip(a, b))


def test_train_step_refuses_an_unknown_precision():
    model = VAE()
    with pytest.raises(ValueError, match="precision must be float32 or bfloat16, got 'float16'"):
        train_step(model, Adam(model.parameters(), 1e-3), binary_images(4), 1.0, 0.0, None, "float16")


def test_fast_refuses_what_its_rotation_cannot_do():
    """The rotated frame is the Keras alignment only for the model's own image size, and the
    fast layers are CPU code."""
    with pytest.raises(ValueError, match=r"expected images of 28x28, got \(2, 1, 27, 28\)"):
        FastCPUVAE().encode(torch.zeros(2, 1, 27, 28))
    with pytest.raises(ValueError, match="FastCPUVAE runs on the CPU only"):
        FastCPUVAE().to("meta").decode(torch.zeros(2, 8, device="meta"))


def test_build_vae_picks_the_backend():
    assert type(build_vae(ARCH, 28)) is FastCPUVAE  # auto, on the CPU
    assert type(build_vae(ARCH, 28, "fast_cpu", torch.device("cpu"))) is FastCPUVAE
    plain = build_vae(ARCH, 28, "plain")
    assert type(plain) is VAE and plain.feature_shape == (64, 7, 7) and plain.latent_dim == 8
    elsewhere = build_vae(ARCH, 28, "auto", "meta")  # auto on a device other than the CPU
    assert type(elsewhere) is VAE and elsewhere.enc_mu.weight.device.type == "meta"
    assert choose_backend("auto", ARCH, 28, "cuda") == "plain"
    assert choose_backend("auto", ARCH, 28, "cpu") == "fast_cpu"
    for arch in (ARCH | {"dropout": 0.1}, ARCH | {"channels": [8]}):  # the fast form does not implement these
        assert choose_backend("auto", arch, 28, "cpu") == "plain"


def test_build_vae_refuses_rather_than_ignores():
    cuda_was_initialised = torch.cuda.is_initialized()
    fast_cpu_but = r"^runtime.backend is fast_cpu, but "
    with pytest.raises(PipelineError, match=fast_cpu_but + r"it runs on the CPU only \(device cuda\)$"):
        build_vae(ARCH, 28, "fast_cpu", "cuda")
    assert torch.cuda.is_initialized() == cuda_was_initialised  # decided from the name alone
    with pytest.raises(PipelineError, match=fast_cpu_but + "it does not implement architecture.dropout"):
        build_vae(ARCH | {"dropout": 0.1}, 28, "fast_cpu")
    with pytest.raises(PipelineError, match=fast_cpu_but + r".*architecture.channels is \[8, 16, 32\]"):
        build_vae(ARCH | {"channels": [8, 16, 32]}, 28, "fast_cpu")
    with pytest.raises(PipelineError, match=r"runtime.backend is 'fast', expected one of auto, plain, fast_cpu"):
        build_vae(ARCH, 28, "fast")
    for backend in ("auto", "plain"):  # the plain model has no dropout either: an error, not a no-op
        with pytest.raises(PipelineError, match=r"architecture .* does not fit the VAE .*dropout"):
            build_vae(ARCH | {"dropout": 0.1}, 28, backend)
