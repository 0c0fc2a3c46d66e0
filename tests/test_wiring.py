"""Each stage of the built tiny project read the right inputs and passed them the right way.

The library functions have their own known-answer tests; these check the stages' wiring by
meaning: every output of the real `dvc repro` is recomputed here in-process from the inputs it
should have been made from (the split's parts picked by name from data/split.npz, the params of
the project), and must agree. A stage that read the validation part for the training part, the
encoder's mean where a sampled z belongs, or fresh weights where a parent's belong, fails here.
"""
import csv
import json
import math

import numpy as np
import pytest
import torch
import yaml

from conftest import scratch_and_tuned

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(built_tiny):
    """(project path, params) of the shared tiny project, with torch on the project's threads."""
    project = built_tiny[0]
    params = yaml.safe_load((project / "params.yaml").read_text())
    was = torch.get_num_threads()
    torch.set_num_threads(params["runtime"]["threads"] or was)
    yield project, params
    torch.set_num_threads(was)


def _parts(project):
    """{part: (images uint8 (N, H, W), labels)} read straight from the data files, by part name."""
    shapes, split = np.load(project / "data/shapes.npz"), np.load(project / "data/split.npz")
    return {k: (shapes["images"][split[k]], shapes["labels"][split[k]]) for k in ("train", "val", "test")}


def _x(images):
    return torch.from_numpy(images.astype(np.float32))[:, None]


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _metrics(project, rel):
    return json.loads((project / rel).read_text())


def _assert_same_weights(a, b, what):
    assert a.keys() == b.keys()
    for k in a:
        # the same computation in another process agrees to rounding; another input moves weights by far more
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5), f"{what}: {k} differs"


def _log(path):
    with open(path) as f:
        return [[float(v) for v in row.values()] for row in csv.DictReader(f)]


def test_generate_and_split_wrote_the_parts_their_params_define(tiny):
    """The split stage's parts, in the files named train / val / test, are the library's parts for
    the fractions in that order: swapping two parts of equal size (validation and test) shows."""
    from shapes_vae.render import generate_dataset
    from shapes_vae.split import stratified_split

    project, params = tiny
    data = generate_dataset(params["generate"])
    shapes = np.load(project / "data/shapes.npz")
    assert np.array_equal(shapes["images"], data["images"]) and np.array_equal(shapes["labels"], data["labels"])
    s = params["split"]
    expected = stratified_split(data["labels"], [s["train_fraction"], s["val_fraction"], s["test_fraction"]], s["seed"])
    split = np.load(project / "data/split.npz")
    for name, part in zip(("train", "val", "test"), expected):
        assert np.array_equal(split[name], part), name


def _retrain(params, name, parts, tmp_path, init_weights=None):
    """Train variant `name` as its stage should: seeded fresh weights or its parent's, fitted on the
    training part and validated on the validation part. Returns (state dict, log rows)."""
    from shapes_vae.backends import build_vae
    from shapes_vae.train import fit

    cfg, runtime = params["models"][name], params["runtime"]
    size = parts["train"][0].shape[-1]
    torch.manual_seed(cfg["seed"])
    model = build_vae(params["architecture"], size, runtime["backend"], "cpu")
    if init_weights is not None:
        model.load_state_dict(init_weights)
    rows = fit(name, model, _x(parts["train"][0]), _x(parts["val"][0]), cfg, runtime | {"progress": "never"})
    return model.state_dict(), rows


def test_training_fits_the_train_part_and_validates_on_the_val_part(tiny, tmp_path):
    project, params = tiny
    first, _ = scratch_and_tuned(params)
    weights, rows = _retrain(params, first, _parts(project), tmp_path)
    _assert_same_weights(weights, _weights(project / f"models/{first}.pt"), first)
    assert np.allclose(rows, _log(project / f"logs/{first}.csv"), rtol=1e-4, atol=1e-5)  # the log has 6 decimals


def test_a_fine_tuned_variant_starts_from_its_parents_weights(tiny, tmp_path):
    project, params = tiny
    first, tuned = scratch_and_tuned(params)
    if tuned is None:
        pytest.skip("these params fine-tune no variant")
    parent = _weights(project / f"models/{first}.pt")
    weights, rows = _retrain(params, tuned, _parts(project), tmp_path, init_weights=parent)
    _assert_same_weights(weights, _weights(project / f"models/{tuned}.pt"), tuned)
    assert np.allclose(rows, _log(project / f"logs/{tuned}.csv"), rtol=1e-4, atol=1e-5)


def _model(project, params, name):
    from shapes_vae.checkpoint import load_checkpoint

    return load_checkpoint(project / f"models/{name}.pt", params["architecture"], backend=params["runtime"]["backend"])[0]


def test_evaluate_measures_the_test_part(tiny):
    from shapes_vae.evaluation import evaluate_model

    project, params = tiny
    test = _x(_parts(project)["test"][0])
    e = params["evaluate"]
    for name in params["models"]:
        expected = evaluate_model(_model(project, params, name), test, e["seed"], e["iwae_k"], e["batch_size"])
        written = _metrics(project, f"metrics/{name}.json")
        for key in ("test_bce", "test_bce_mean_decode", "recon_nats", "kl_nats", "iwae_nll_nats"):
            assert written[key] == pytest.approx(expected[key], rel=1e-5), (name, key)


def test_information_uses_the_test_parts_sampled_z_and_the_variants_noise(tiny):
    """The rate from the closed-form KL of the test part's posteriors, and the paper's bits from one
    sampled z per test image (z = mu + sigma * eps, eps seeded by information.seed), written out
    here by hand: the encoder's mean in place of z gives other bits."""
    project, params = tiny
    test = _x(_parts(project)["test"][0])
    seed = params["information"]["seed"]
    for name, cfg in params["models"].items():
        with torch.no_grad():
            mu, logvar = (t.double() for t in _model(project, params, name).encode(test))
        written = _metrics(project, f"metrics/information/{name}.json")
        kl_nats = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)
        assert written["rate_bits_upper_bound"] == pytest.approx(float(kl_nats.sum(1).mean()) / math.log(2), rel=1e-4)
        sigma = cfg["noise_sigma"]
        if sigma == 0:
            assert "paper_bits_estimate" not in written  # undefined without noise: left out
            continue
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32).double()
        z = mu + torch.exp(0.5 * logvar) * eps
        bits = float(sum(0.5 * math.log2(1 + float(z[:, j].var(unbiased=False)) / sigma ** 2) for j in range(z.shape[1])))
        assert written["paper_bits_estimate"] == pytest.approx(bits, rel=1e-4), name


def test_the_classifier_is_fitted_on_the_train_part_and_scored_on_each_part(tiny):
    from shapes_vae.classifier import accuracy, build_classifier
    from shapes_vae.classifier_training import fit_classifier

    project, params = tiny
    parts = {k: (_x(images), torch.from_numpy(labels.astype(np.int64))) for k, (images, labels) in _parts(project).items()}
    cfg = params["classifier"]
    torch.manual_seed(cfg["seed"])
    model = build_classifier(cfg, len(params["generate"]["classes"]), parts["train"][0].shape[-1])
    fit_classifier(model, *parts["train"], *parts["val"], cfg)
    _assert_same_weights(model.state_dict(), torch.load(project / "models/classifier.pt", weights_only=True)["state_dict"],
                         "classifier")
    written = _metrics(project, "metrics/classifier.json")
    for part, (x, y) in parts.items():
        assert written[f"{part}_accuracy"] == pytest.approx(accuracy(model, x, y)), part


def test_factors_score_the_means_and_the_channel_code_of_the_test_part(tiny):
    """MIG on the test part's encoder means, probes fitted on the train part's means, and the channel
    measure on z = mu + sigma * eps plus the variant's own training noise, drawn by hand here."""
    from shapes_vae.factors import factor_measures, image_factors

    project, params = tiny
    parts = _parts(project)
    cfg = params["factors"]
    for name, variant in params["models"].items():
        model = _model(project, params, name)
        with torch.no_grad():
            (mu_train, _), (mu, logvar) = (model.encode(_x(parts[k][0])) for k in ("train", "test"))
        g = torch.Generator().manual_seed(cfg["seed"])
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)
        if variant["noise_sigma"] > 0:
            z = z + variant["noise_sigma"] * torch.randn(mu.shape, generator=g)
        f = {k: image_factors(*parts[k]) for k in ("train", "test")}
        expected = factor_measures(mu_train.numpy(), f["train"], mu.numpy(), f["test"], cfg["bins"], channel_codes=z.numpy())
        written = _metrics(project, f"metrics/factors/{name}.json")
        for key in ("mig_mean", "mig_channel_mean", "probe_accuracy_class"):
            assert written[key] == pytest.approx(expected[key], abs=1e-6), (name, key)
