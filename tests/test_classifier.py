"""The shape classifier and the sample-quality scores it gives the VAEs."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import yaml

from conftest import ROOT
from shapes_vae import figures
from shapes_vae.classifier import accuracy, build_classifier, load_classifier, predict_proba, save_classifier
from shapes_vae.classifier_training import fit_classifier
from shapes_vae.errors import PipelineError
from shapes_vae.render import generate_dataset
from shapes_vae.sample_quality import (
    kl_from_uniform_bits,
    prior_samples,
    reconstruction_class_preserved,
    sample_quality,
    score_prior,
)

GENERATE = yaml.safe_load((ROOT / "params.yaml").read_text())["generate"]
SIZE, CLASSES = GENERATE["image_size"], GENERATE["classes"]  # the committed data configuration's
CFG = {"seed": 0, "epochs": 12, "learning_rate": 3e-3, "batch_size": 32, "channels": [8, 16], "hidden": 32}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def shapes():
    """600 rendered images of the paper's configuration: 450 to train on, 150 held out."""
    d = generate_dataset(GENERATE | {"n_images": 600})
    x = torch.from_numpy(d["images"]).float().unsqueeze(1)
    y = torch.from_numpy(d["labels"].astype(np.int64))
    return x[:450], y[:450], x[450:], y[450:]


@pytest.fixture(scope="module")
def trained(shapes):
    x, y, vx, vy = shapes
    torch.manual_seed(CFG["seed"])
    model = build_classifier(CFG, len(CLASSES), SIZE)
    rows = fit_classifier(model, x, y, vx, vy, CFG)
    return model, rows


def test_classifier_learns_the_shapes_from_a_tiny_set(shapes, trained):
    _, _, vx, vy = shapes
    model, rows = trained
    assert [r[0] for r in rows] == list(range(1, CFG["epochs"] + 1))
    assert rows[-1][1] < rows[0][1]  # the training loss falls
    assert accuracy(model, vx, vy) >= 0.9  # on images it never saw; chance is 1/3
    probs = predict_proba(model, vx)
    assert probs.shape == (150, len(CLASSES)) and torch.allclose(probs.sum(1), torch.ones(150))


def test_classifier_training_is_seeded_and_reports_progress_lines(shapes, capsys):
    """Two epochs on a part of the set: the same seed gives the same weights (progress shown or
    not), another seed other weights; runtime.progress auto off a terminal prints a line an epoch."""
    x, y, vx, vy = shapes
    cfg = CFG | {"epochs": 2}
    runs = []
    for seed, progress in ((0, "never"), (0, "auto"), (1, "never")):
        torch.manual_seed(0)  # the same initial weights: the seed under test is the shuffle's
        model = build_classifier(cfg, len(CLASSES), SIZE)
        rows = fit_classifier(model, x[:160], y[:160], vx[:32], vy[:32], cfg | {"seed": seed}, progress)
        runs.append((list(model.state_dict().values()), capsys.readouterr().err.splitlines(), rows))
    assert all(torch.equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))
    assert not all(torch.equal(a, b) for a, b in zip(runs[0][0], runs[2][0]))
    assert runs[0][1] == [] and runs[2][1] == []
    _, lines, rows = runs[1]
    assert len(lines) == 2
    for k, (line, row) in enumerate(zip(lines, rows), start=1):
        assert line.startswith(f"classifier: epoch {k}/2 train_loss {row[1]:.4g} ")
        assert f" val_accuracy {row[3]:.4g} " in line


def test_checkpoint_round_trip_and_bad_files(tmp_path, shapes, trained):
    model, _ = trained
    path = tmp_path / "classifier.pt"
    save_classifier(path, model, CLASSES, CFG, SIZE)
    loaded, classes = load_classifier(path)
    assert classes == CLASSES
    assert torch.equal(predict_proba(loaded, shapes[2]), predict_proba(model, shapes[2]))
    with pytest.raises(PipelineError, match="classifier not found"):
        load_classifier(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PipelineError, match=r"junk\.pt: not a readable classifier \("):
        load_classifier(tmp_path / "junk.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(PipelineError, match=r"other\.pt: not a shapes-vae classifier \(format shapes-vae-classifier-1"):
        load_classifier(tmp_path / "other.pt")


def test_kl_from_uniform_known_answers():
    assert kl_from_uniform_bits([5, 5, 5]) == pytest.approx(0.0, abs=1e-12)
    assert kl_from_uniform_bits([0, 7, 0]) == pytest.approx(math.log2(3))  # one shape only
    assert kl_from_uniform_bits([1, 1, 0]) == pytest.approx(math.log2(3 / 2))  # no triangles
    assert kl_from_uniform_bits([3, 1]) == pytest.approx(0.75 * math.log2(1.5) + 0.25 * math.log2(0.5))
    with pytest.raises(ValueError):
        kl_from_uniform_bits([0, 0, 0])


def test_score_prior_counts_confidence_and_classes():
    probs = torch.tensor([[0.95, 0.03, 0.02],   # circle, confident
                          [0.10, 0.90, 0.00],   # triangle, exactly at the threshold: confident
                          [0.20, 0.30, 0.50],   # rectangle, not confident
                          [0.40, 0.10, 0.50]])  # rectangle, not confident
    s = score_prior(probs, ["circle", "triangle", "rectangle"], 0.9)
    assert s["prior_confident_share"] == 0.5
    assert {k: v for k, v in s.items() if k.startswith("prior_class_share_")} == {
        "prior_class_share_circle": 0.25, "prior_class_share_triangle": 0.25, "prior_class_share_rectangle": 0.5}
    assert s["prior_class_kl_from_uniform_bits"] == pytest.approx(kl_from_uniform_bits([1, 1, 2]))


class PixelVAE(nn.Module):
    """A stand-in VAE whose latent is the image itself: decode(encode(x).mu) has mode x, or is blank."""

    def __init__(self, blank=False):
        super().__init__()
        self.latent_dim, self.blank = SIZE * SIZE, blank
        self.dummy = nn.Parameter(torch.zeros(()))

    def encode(self, x):
        return x.flatten(1), torch.zeros(len(x), SIZE * SIZE)

    def decode(self, z):
        logits = (2 * z - 1).view(-1, 1, SIZE, SIZE) * 10
        return torch.full_like(logits, -10.0) if self.blank else logits


def test_reconstruction_class_preserved_known_answers(shapes, trained):
    _, _, vx, vy = shapes
    model, _ = trained
    # a perfect reconstruction preserves exactly the classes the classifier gets right on the originals
    assert reconstruction_class_preserved(PixelVAE(), model, vx, vy, batch_size=64) == accuracy(model, vx, vy)
    # a blank reconstruction keeps the class only of the images whose label is what blank is taken for
    blank_class = int(predict_proba(model, torch.zeros(1, 1, SIZE, SIZE)).argmax())
    got = reconstruction_class_preserved(PixelVAE(blank=True), model, vx, vy)
    assert got == pytest.approx(float((vy == blank_class).double().mean()))


def test_prior_samples_are_binary_and_seeded():
    torch.manual_seed(0)
    from shapes_vae.model import VAE

    vae = VAE(latent_dim=4, channels=(4, 8), hidden=5, image_size=28)
    a, b, c = prior_samples(vae, 10, 7), prior_samples(vae, 10, 7, batch_size=3), prior_samples(vae, 10, 8)
    assert a.shape == (10, 1, 28, 28) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a, b)  # batching does not change the draws
    z = torch.randn((10, 4), generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        assert torch.equal(c, (vae.decode(z) > 0).float())


def test_sample_quality_keys_and_figure(tmp_path, shapes, trained):
    _, _, vx, vy = shapes
    model, _ = trained
    out, samples, probs = sample_quality(PixelVAE(blank=True), model, CLASSES, vx, vy, n_prior=20, seed=1, confidence=0.9)
    assert set(out) == {"prior_confident_share", *(f"prior_class_share_{c}" for c in CLASSES),
                        "prior_class_kl_from_uniform_bits", "recon_class_preserved"}
    # every prior sample of the blank decoder is the same picture: one class, KL = log2(K)
    assert out["prior_class_kl_from_uniform_bits"] == pytest.approx(math.log2(len(CLASSES)))
    assert sorted(out[f"prior_class_share_{c}"] for c in CLASSES) == [0.0] * (len(CLASSES) - 1) + [1.0]
    path = tmp_path / "fig" / "classified.png"
    predicted = figures.plot_classified_samples(samples, probs, CLASSES, 0.9, path, "blank", n=10, ncols=4)
    assert predicted.tolist() == probs[:10].argmax(1).tolist()
    assert path.read_bytes().startswith(b"\x89PNG") and [p.name for p in path.parent.iterdir()] == ["classified.png"]
