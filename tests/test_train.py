import copy

import pytest
import torch
import yaml

from conftest import ROOT

from shapes_vae.backends import build_vae
from shapes_vae.checkpoint import load_checkpoint, save_checkpoint
from shapes_vae.errors import PipelineError
from shapes_vae.render import generate_dataset
from shapes_vae.train import fit

RUNTIME = {"device": "cpu", "backend": "auto", "threads": 0, "progress": "never", "resume_every": 1,
           "train_precision": "float32"}
GENERATE = yaml.safe_load((ROOT / "params.yaml").read_text())["generate"]
SIZE = GENERATE["image_size"]
ARCH = {"latent_dim": 4, "channels": [8, 16], "hidden": 16}  # the paper's layers, narrower: the tests stay fast


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def images():
    """160 images of the committed data configuration (at its image size, SIZE)."""
    return torch.from_numpy(generate_dataset(GENERATE | {"n_images": 160})["images"]).float().unsqueeze(1)


def cfg(**kw):
    base = {"init": "scratch", "beta": 1.0, "noise_sigma": 0.0, "epochs": 3, "learning_rate": 1e-2,
            "batch_size": 32, "seed": 0}
    return base | kw


def new_model(seed=0, architecture=ARCH):
    """The VAE the train stage builds (runtime.backend auto: the fast CPU form here)."""
    torch.manual_seed(seed)
    return build_vae(architecture, SIZE)


def test_training_lowers_the_loss(images, tmp_path):
    rows = fit("standard", new_model(), images[:128], images[128:], cfg(epochs=4), RUNTIME)
    assert rows[-1][1] < 0.8 * rows[0][1]  # train loss
    assert rows[-1][5] < rows[0][5]  # validation loss
    assert [r[0] for r in rows] == [1, 2, 3, 4]


def test_the_logged_validation_is_the_validation_images_loss_by_hand(images, tmp_path):
    """The last row's validation columns: the final weights on the validation images, one z per
    image drawn from the (seed, epoch, "val") stream, BCE summed per image and the closed-form KL,
    averaged, written out here; the training images give other numbers."""
    from shapes_vae.runtime import seeded_generator

    model, val = new_model(), images[128:]
    rows = fit("standard", model, images[:128], val, cfg(epochs=2, beta=3.0), RUNTIME)
    with torch.no_grad():
        mu, logvar = model.encode(val)
        eps = torch.randn(mu.shape, generator=seeded_generator("cpu", 0, 1, "val"))
        logits = model.decode(mu + torch.exp(0.5 * logvar) * eps)
    recon = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, val, reduction="sum")) / len(val)
    kl = float((0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).sum()) / len(val)
    assert rows[-1][5:9] == pytest.approx([recon + 3.0 * kl, recon, kl, recon + kl], rel=1e-4)


def test_two_runs_give_identical_logs_and_checkpoints(images, tmp_path):
    outs = []
    for run in ("a", "b"):
        m = new_model()
        rows = fit("standard", m, images[:128], images[128:], cfg(), RUNTIME)
        save_checkpoint(tmp_path / f"{run}.pt", m, "standard", ARCH, cfg())
        outs.append((rows, (tmp_path / f"{run}.pt").read_bytes()))
    assert outs[0] == outs[1]
    m = new_model()
    assert fit("standard", m, images[:128], images[128:], cfg(seed=1), RUNTIME) != outs[0][0]


def test_bfloat16_training_trains_float32_weights_close_to_float32(images, tmp_path):
    """runtime.train_precision bfloat16: the weights stay float32, the run differs from the
    float32 one (the setting takes effect) but tracks it, and the loss falls as much."""
    rows, models = {}, {}
    for precision in ("float32", "bfloat16"):
        models[precision] = new_model()
        rows[precision] = fit("standard", models[precision], images[:128], images[128:], cfg(epochs=4),
                              RUNTIME | {"train_precision": precision})
    assert all(p.dtype == torch.float32 for p in models["bfloat16"].parameters())
    assert rows["bfloat16"] != rows["float32"]
    for r32, r16 in zip(rows["float32"], rows["bfloat16"]):
        assert r16[1] == pytest.approx(r32[1], rel=0.05)  # train loss, epoch by epoch
    assert rows["bfloat16"][-1][1] < 0.8 * rows["bfloat16"][0][1]


def test_extra_noise_acts_in_training_only(images, tmp_path):
    """With a negligible learning rate the weights barely move: noise then raises the training
    reconstruction loss a lot, while validation (decoded without noise) is unchanged."""
    import copy

    trained = new_model()  # a decoder that depends on z, unlike a freshly initialised one
    fit("m", trained, images[:128], images[128:], cfg(epochs=4), RUNTIME)
    results = {}
    for sigma in (0.0, 5.0):
        m = copy.deepcopy(trained)
        rows = fit("m", m, images[:128], images[128:], cfg(epochs=1, learning_rate=1e-12, noise_sigma=sigma),
                   RUNTIME)
        results[sigma] = rows[0]
    assert results[5.0][2] > results[0.0][2] + 10.0  # train recon
    assert results[5.0][6] == pytest.approx(results[0.0][6], rel=1e-5)  # val recon


def test_progress_is_one_line_per_epoch_off_a_terminal_and_nothing_with_never(images, tmp_path, capsys):
    """runtime.progress auto with stderr not a terminal (captured here): one flushed line per epoch
    naming the model, the epoch and both losses; never: silence."""
    rows = fit("wide_1", new_model(), images[:64], images[128:], cfg(epochs=2), RUNTIME | {"progress": "auto"})
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 2 and captured.out == ""
    for k, (line, row) in enumerate(zip(lines, rows), start=1):
        assert line.startswith(f"wide_1: epoch {k}/2 train_loss {row[1]:.4g} val_loss {row[5]:.4g} (")
        assert line.endswith(" s)")
    fit("wide_1", new_model(), images[:64], images[128:], cfg(epochs=2), RUNTIME)
    assert capsys.readouterr().err == ""


def test_progress_mode_looks_at_stderr_as_it_is_at_the_call():
    import contextlib
    import io

    from shapes_vae.progress import progress_mode

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert progress_mode("auto", Terminal()) == "bars" and progress_mode("auto", io.StringIO()) == "lines"
    assert progress_mode("always", io.StringIO()) == "bars" and progress_mode("never", Terminal()) == "off"
    for stream, mode in ((Terminal(), "bars"), (io.StringIO(), "lines")):  # where the lines would go
        with contextlib.redirect_stderr(stream):
            assert progress_mode("auto") == mode


def test_non_finite_loss_stops_with_model_epoch_and_batch(images, tmp_path):
    m = new_model()
    with torch.no_grad():
        m.dec_out.bias.fill_(float("nan"))
    with pytest.raises(PipelineError, match=r"model standard: loss became nan at epoch 1, batch 1"):
        fit("standard", m, images[:128], images[128:], cfg(), RUNTIME)


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    m = new_model(3)
    save_checkpoint(tmp_path / "m.pt", m, "standard", ARCH, cfg())
    loaded, state = load_checkpoint(tmp_path / "m.pt", architecture=ARCH, image_size=SIZE)
    assert state["config"]["beta"] == 1.0
    for (k, a), b in zip(m.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(PipelineError, match=r"m\.pt: checkpoint has architecture\.latent_dim = 4, params ask for 3"):
        load_checkpoint(tmp_path / "m.pt", architecture=ARCH | {"latent_dim": 3})
    with pytest.raises(PipelineError, match=rf"m\.pt: checkpoint is for {SIZE}-pixel images, data has {SIZE + 4}"):
        load_checkpoint(tmp_path / "m.pt", image_size=SIZE + 4)
    # weights that do not fit the architecture recorded beside them
    bad = new_model(architecture=ARCH | {"latent_dim": 3})
    save_checkpoint(tmp_path / "bad.pt", bad, "standard", ARCH, cfg())
    with pytest.raises(PipelineError, match=r"bad\.pt: weights do not fit"):
        load_checkpoint(tmp_path / "bad.pt")


def test_damaged_checkpoints_name_the_file(tmp_path):
    m = new_model()
    save_checkpoint(tmp_path / "m.pt", m, "standard", ARCH, cfg())
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(PipelineError, match=r"cut\.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")
    with pytest.raises(PipelineError, match=r"absent\.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "absent.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(PipelineError, match=r"other\.pt: not a shapes-vae checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_interrupted_fit_resumes_to_the_same_result(images, tmp_path, monkeypatch):
    """Interrupted in epoch 3 of 3 (resume_every 1), a rerun resumes after epoch 2 and ends
    bit-identical to an uninterrupted run: same weights, same log."""
    import shapes_vae.train as train

    full = new_model()
    full_rows = fit("s", full, images[:128], images[128:], cfg(epochs=3), RUNTIME)

    real_step, calls = train.train_step, []

    def interrupting_step(*args):
        calls.append(1)
        if len(calls) == 2 * 4 + 1:  # first batch of epoch 3 (4 batches of 32 per epoch)
            raise KeyboardInterrupt
        return real_step(*args)

    monkeypatch.setattr(train, "train_step", interrupting_step)
    resume = tmp_path / "resume.pt"
    with pytest.raises(KeyboardInterrupt):
        fit("s", new_model(), images[:128], images[128:], cfg(epochs=3), RUNTIME, None,
            resume, run_id="same")
    assert torch.load(resume, weights_only=True)["epoch"] == 2
    monkeypatch.setattr(train, "train_step", real_step)
    # a different run id (other params or inputs) must not pick the state up
    other = new_model()
    fit("s", other, images[:128], images[128:], cfg(epochs=1), RUNTIME, None, resume, run_id="other")
    assert not resume.exists()
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(train, "train_step", interrupting_step)
        calls.clear()
        fit("s", new_model(), images[:128], images[128:], cfg(epochs=3), RUNTIME, None,
            resume, run_id="same")
    monkeypatch.setattr(train, "train_step", real_step)
    resumed = new_model(seed=99)  # the state, not the fresh initialisation, decides the result
    seen = []  # what the training log is given after each epoch
    fit("s", resumed, images[:128], images[128:], cfg(epochs=3), RUNTIME, lambda rows: seen.append(copy.deepcopy(rows)),
        resume, run_id="same")
    assert not resume.exists()
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    # one call, for the one epoch left, with the two resumed rows first: the uninterrupted run's rows
    assert seen == [full_rows]


def test_runtime_setup_is_deterministic_without_importing_the_compiler():
    """configure_torch turns on deterministic algorithms (warn only) and turns off the NaN fill of
    new tensors, without importing torch._inductor (1.3 s of every stage's start)."""
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys, torch; from shapes_vae.runtime import configure_torch; "
            "d = configure_torch({'device': 'cpu', 'threads': 1}); "
            "print(d, torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(), "
            "torch.utils.deterministic.fill_uninitialized_memory, torch.get_num_threads(), 'torch._inductor' in sys.modules); "
            # a training step, optimizer included, does not import the compiler either
            "from shapes_vae.model import VAE; from shapes_vae.optim import Adam; from shapes_vae.train_step import train_step; "
            "m = VAE(); [train_step(m, Adam(m.parameters(), 1e-3, fused=f), torch.zeros(2, 1, 28, 28), 1.0, 0.0, None) "
            "for f in (True, False)]; "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["cpu", "True", "True", "False", "1", "False", "False"]


@pytest.mark.parametrize("fused", [True, False])
def test_adam_is_torchs_adam_bit_for_bit(fused):
    """shapes_vae.optim.Adam gives the weights torch.optim.Adam gives, and resumes from its
    state_dict to the same weights as an uninterrupted run."""
    from shapes_vae.optim import Adam

    def run(make_optimizer, steps, start=None):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
        opt = make_optimizer(model.parameters())
        if start:
            model.load_state_dict(start[0])
            opt.load_state_dict(start[1])
        for i in range(*steps):
            x = torch.randn(8, 6, generator=torch.Generator().manual_seed(i))
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
        return model.state_dict(), opt.state_dict()

    ours = lambda params: Adam(params, 3e-2, fused=fused)
    theirs, mine = run(lambda params: torch.optim.Adam(params, lr=3e-2, fused=fused or None), (0, 6))[0], run(ours, (0, 6))[0]
    assert all(torch.equal(theirs[k], mine[k]) for k in theirs)
    half = run(ours, (0, 3))
    resumed = run(ours, (3, 6), start=(half[0], copy.deepcopy(half[1])))[0]
    assert all(torch.equal(resumed[k], mine[k]) for k in mine)
    with pytest.raises(ValueError, match="other settings"):
        Adam(torch.nn.Linear(2, 2).parameters(), 1e-3, fused=fused).load_state_dict(half[1])
