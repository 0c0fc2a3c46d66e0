"""The latent explorer page (stage `explorer`) and the offline plots page.

Known answers: the page's JavaScript decoder and encoder against PyTorch on the tiny project's
trained models, in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright);
the exported weights and images against the arrays they came from.

Without chromium or playwright the browser test is skipped, unless SHAPES_VAE_REQUIRE_BROWSER is
set (CI's .ci/run sets it after installing both): then it fails.
"""
import base64
import importlib.util
import json
import os
import re
import sys

import numpy as np
import pytest
import torch
import yaml

from conftest import ROOT, dvc, ran, run, scratch_and_tuned
from shapes_vae.explorer import export_images, export_weights, page_data, page_html
from shapes_vae.model import VAE

sys.path.insert(0, str(ROOT / "tools"))
import check_plots_page  # noqa: E402 (tools/ is not a package)

REQUIRE_BROWSER = "SHAPES_VAE_REQUIRE_BROWSER"
_spec = importlib.util.spec_from_file_location("bench_explorer", ROOT / "bench" / "explorer.py")
bench_explorer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_explorer)
_spec = importlib.util.spec_from_file_location("build_plots_template", ROOT / "tools" / "build_plots_template.py")
build_plots_template = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_plots_template)
TOLERANCE = 1e-4  # per pixel probability and per encoder mean


def small_vae(seed=0):
    torch.manual_seed(seed)
    return VAE(latent_dim=3, channels=(4, 5), hidden=6, image_size=12)


SMALL = {"latent_dim": 3, "channels": [4, 5], "hidden": 6}


def test_exported_weights_are_the_checkpoint_values_in_float32():
    model = small_vae()
    exported = export_weights(model.state_dict(), SMALL, 12)
    assert set(exported) == set(model.state_dict())
    for name, value in model.state_dict().items():
        back = np.frombuffer(base64.b64decode(exported[name]["float32"]), dtype="<f4").reshape(exported[name]["shape"])
        np.testing.assert_array_equal(back, value.numpy())
    wrong = dict(model.state_dict(), **{"enc_mu.weight": torch.zeros(3, 7)})
    with pytest.raises(ValueError, match=r"enc_mu.weight has shape \[3, 7\], the architecture gives \[3, 6\]"):
        export_weights(wrong, SMALL, 12)


def test_images_are_packed_bits_row_major_first_pixel_highest():
    images = np.zeros((2, 4, 4), np.uint8)
    images[0, 0, 0] = images[0, 1, 3] = 1  # flat positions 0 and 7 of the first image: one byte, bits 7 and 0 set
    images[1] = 1
    assert base64.b64decode(export_images(images)) == bytes([0x81, 0x00, 0xFF, 0xFF])


def test_page_is_one_file_that_names_nothing_outside_it():
    """Whatever the data hold, the page keeps exactly its three inline scripts (data, model, page):
    no src or href, no address, and a name that looks like markup cannot end a script early."""
    model = small_vae()
    variants = {"a": {"state_dict": model.state_dict(), "beta": 1.0, "noise_sigma": 0.5, "init": "scratch"}}
    classes = ["circle", "</script><script>alert(1)</script>"]
    data = page_data(variants, SMALL, 12, np.ones((2, 12, 12), np.uint8), [0, 1], classes)
    html = page_html(data)
    assert html.count("</script>") == 3 and not re.search(r"\b(src|href)\s*=", html)
    assert "http://" not in html and "https://" not in html
    block = re.search(r'<script id="explorer-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert json.loads(block.replace("<\\/", "</")) == data


def test_plots_template_inlines_what_dvc_would_load_from_its_cdn():
    """The template DVC's config names carries vega, vega-lite and vega-embed at exactly the
    versions the installed dvc-render loads from jsDelivr, and leaves DVC no place to add them."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        template = ROOT / ".dvc" / repo.config["plots"]["html_template"]
    text = template.read_text(encoding="utf-8")
    pinned = build_plots_template.pinned_versions()
    assert [name for name, _ in pinned] == ["vega", "vega-lite", "vega-embed"]
    assert build_plots_template.template_versions(text) == pinned
    for name, version in pinned:  # each library states its own version in its code
        assert f'"{version}"' in text.split(f"<!-- inlined: {name}@{version} ")[1].split("</script>")[0]
    assert "{plot_divs}" in text and "{scripts}" not in text and "jsdelivr" not in text
    readme = (template.parent / "README.md").read_text()
    assert all(f"{name} {version} (BSD-3-Clause)" in readme for name, version in pinned)


@pytest.mark.slow
def test_stage_reruns_on_its_code_and_is_restored_from_the_run_cache(tiny_copy):
    """A change to the page's code reruns the stage alone; undone, DVC's run cache restores the
    page it wrote before, byte for byte. A missing checkpoint is a one-line error naming it."""
    project, page = tiny_copy, tiny_copy / "explorer.html"
    before = page.read_bytes()
    css = project / "shapes_vae/explorer_assets/explorer.css"
    css.write_text(css.read_text() + "/* a change */\n")
    r = dvc(project, "repro")
    assert ran(r.stdout) == {"explorer"} and b"/* a change */" in page.read_bytes()
    run(project, "git", "checkout", "--", css.relative_to(project))
    r = dvc(project, "repro")
    assert "Stage 'explorer' is cached - skipping run" in r.stdout and ran(r.stdout) == set(), r.stdout
    assert page.read_bytes() == before
    name = next(iter(yaml.safe_load((project / "params.yaml").read_text())["models"]))
    (project / f"models/{name}.pt").unlink()
    r = run(project, sys.executable, "stages/explorer.py", check=False)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"error: models/{name}.pt: checkpoint not found (train it first: dvc repro)"]
    assert page.read_bytes() == before


@pytest.mark.slow
def test_benchmark_page_size_is_the_size_the_stage_writes(built_tiny):
    """The benchmark's page, built from params alone with untrained weights and random images,
    has exactly the bytes of the page the stage wrote from the trained models and real images."""
    from shapes_vae.params import validate

    project = built_tiny[0]
    params = validate(yaml.safe_load((project / "params.yaml").read_text()))
    estimated = bench_explorer.estimated_page(params).encode("utf-8")
    assert len(estimated) == (project / "explorer.html").stat().st_size
    assert estimated != (project / "explorer.html").read_bytes()  # other weights, same size


def browser_or_skip():
    """playwright's sync_playwright, or a skip (a failure under SHAPES_VAE_REQUIRE_BROWSER)."""
    missing = None
    if not check_plots_page.CHROMIUM.exists():
        missing = f"{check_plots_page.CHROMIUM} not found (Debian: apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[browser]')"
    if missing and os.environ.get(REQUIRE_BROWSER):
        pytest.fail(f"{missing}, and {REQUIRE_BROWSER} is set")
    if missing:
        pytest.skip(missing)
    return sync_playwright


class Reference:
    """The tiny project's trained variants in PyTorch, and its test images."""

    def __init__(self, project):
        from shapes_vae.checkpoint import load_checkpoint
        from shapes_vae.data import load_shapes, load_split

        self.params = yaml.safe_load((project / "params.yaml").read_text())
        self.models = {n: load_checkpoint(project / f"models/{n}.pt", backend="plain")[0] for n in self.params["models"]}
        shapes = load_shapes(project / "data/shapes.npz")
        self.test = shapes["images"][load_split(len(shapes["labels"]), project / "data/split.npz")["test"]]

    @torch.no_grad()
    def decode(self, name, z):
        return torch.sigmoid(self.models[name].decode(torch.tensor(np.array([z]), dtype=torch.float32))).numpy().ravel()

    @torch.no_grad()
    def encode(self, name, pixels):
        x = torch.tensor(np.asarray(pixels, np.float32).reshape(1, 1, *self.test.shape[1:]))
        mu, logvar = self.models[name].encode(x)
        return mu.numpy().ravel(), logvar.numpy().ravel()


def close(page_values, torch_values):
    return np.abs(np.asarray(page_values) - np.asarray(torch_values)).max() < TOLERANCE


def red_channel(tab, canvas_id):
    return np.array(tab.evaluate("id => { const c = document.getElementById(id); "
                                 "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }",
                                 canvas_id))[0::4]


@pytest.mark.slow
def test_explorer_and_plots_pages_in_chromium_offline(built_tiny, tmp_path):
    """One Chromium, every network request refused: the explorer's decoder and encoder give
    PyTorch's answers through the page's own controls (variant menus, test image, drawing,
    slider drag, noise switch, plane, interpolation); then the tiny project's `dvc plots show`
    page draws every chart, curve and figure."""
    sync_playwright = browser_or_skip()
    project = built_tiny[0]
    ref = Reference(project)
    names = list(ref.params["models"])
    scratch, tuned = scratch_and_tuned(ref.params)
    latent = ref.params["architecture"]["latent_dim"]
    dvc(project, "plots", "show", "-o", tmp_path / "plots")
    with sync_playwright() as pw:
        browser = check_plots_page.launch(pw)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        refused = check_plots_page.offline(tab)
        tab.goto((project / "explorer.html").as_uri())
        tab.wait_for_function("() => window.explorer")
        assert tab.eval_on_selector_all("#variant-a option", "os => os.map(o => o.value)") == names
        shown = lambda: tab.evaluate("() => explorer.shown()")
        encoded = lambda: tab.evaluate("() => explorer.encoded()")

        # a fixed z, each variant picked in the menu: the probabilities and the pixels drawn
        z = np.random.default_rng(0).normal(size=latent) * 1.5
        tab.set_checked("#compare", False)
        for name in names:
            tab.select_option("#variant-a", name)
            tab.evaluate("z => explorer.setZ(z)", z.tolist())
            (s,) = shown()
            assert s["variant"] == name and close(s["probs"], ref.decode(name, z))
            assert np.abs(red_channel(tab, "decoded-0") - np.round(255 * ref.decode(name, z))).max() <= 1

        # side by side; a test image picked by number, then by a click on its thumbnail
        pair = [scratch, tuned or scratch]
        tab.set_checked("#compare", True)
        tab.select_option("#variant-a", pair[0])
        tab.select_option("#variant-b", pair[1])
        k = len(ref.test) // 2
        tab.fill("#test-index", str(k))
        tab.dispatch_event("#test-index", "change")
        for slot, name in enumerate(pair):
            mu, logvar = ref.encode(name, ref.test[k])
            e = encoded()[slot]
            assert e["variant"] == name and close(e["mu"], mu) and close(e["std"], np.exp(0.5 * logvar))
            assert close(e["reconstruction"], ref.decode(name, mu))
        thumb = 3  # on the strip's first page (STRIP thumbnails of SIZE + 1 pixels, drawn twice as large)
        size = ref.test.shape[-1]
        tab.click("#test-strip", position={"x": 2 * (thumb * (size + 1) + size // 2), "y": size})
        assert tab.input_value("#test-index") == str(thumb)
        assert close(encoded()[0]["mu"], ref.encode(pair[0], ref.test[thumb])[0])
        z_before = encoded()[0]["z"]
        tab.click("#resample")
        assert encoded()[0]["z"] != z_before and close(encoded()[0]["mu"], ref.encode(pair[0], ref.test[thumb])[0])

        # dragging the first slider redraws the image, and it is the decoder's at the new z
        tab.evaluate("n => explorer.setZ(new Array(n).fill(0))", latent)
        before = red_channel(tab, "decoded-0")
        tab.locator("#z-0").scroll_into_view_if_needed()  # the clicks above scrolled the page
        box = tab.locator("#z-0").bounding_box()
        tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        tab.mouse.down()
        tab.mouse.move(box["x"] + box["width"] * 0.95, box["y"] + box["height"] / 2, steps=8)
        tab.mouse.up()
        tab.wait_for_function("() => explorer.shown()[0].z[0] > 2")
        after = red_channel(tab, "decoded-0")
        assert np.abs(after - before).max() > 0
        s = shown()[0]
        assert s["z"][1:] == [0] * (latent - 1) and close(s["probs"], ref.decode(pair[0], s["z"]))

        # a shape drawn with the mouse is encoded as PyTorch encodes the same pixels
        tab.locator("#draw").scroll_into_view_if_needed()
        box = tab.locator("#draw").bounding_box()
        tab.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
        tab.mouse.down()
        tab.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.6, steps=12)
        tab.mouse.up()
        drawing = tab.evaluate("() => explorer.drawing()")
        assert sum(drawing) > 0 and tab.text_content("#test-label") == "your drawing"
        assert close(encoded()[0]["mu"], ref.encode(pair[0], drawing)[0])
        tab.click("#z-from-mu")  # the sliders take that encoder mean, and the image is its decoding
        assert tab.evaluate("() => explorer.z()") == encoded()[0]["mu"]
        assert close(shown()[0]["probs"], ref.decode(pair[0], encoded()[0]["mu"]))

        # the noise switch: z + sigma * eps for a variant trained with noise, z itself without
        tab.set_checked("#noise", True)
        for s, name in zip(shown(), pair):
            sigma, state_z = ref.params["models"][name]["noise_sigma"], tab.evaluate("() => explorer.z()")
            eps = (np.array(s["z"]) - state_z) / sigma if sigma else np.array(s["z"]) - state_z
            assert (np.abs(eps).max() > 0) == (sigma > 0) and np.abs(eps).max() < 6
            assert close(s["probs"], ref.decode(name, s["z"]))
        tab.set_checked("#noise", False)

        # the plane over dimensions 0 and 1 (the defaults): corner (-r, +r), decoded
        tab.evaluate("() => explorer.drawPlane()")
        for plane, name in zip(tab.evaluate("() => explorer.plane()"), pair):
            r = float(tab.input_value("#plane-range"))
            assert plane["n"] == int(tab.input_value("#plane-n")) and len(plane["z"]) == plane["n"] ** 2
            assert plane["z"][0][:2] == [-r, r] and close(plane["first"], ref.decode(name, plane["z"][0]))

        # the interpolation's ends decode the two test images' encoder means
        a, b = 1, len(ref.test) - 1
        for field, value in (("#interp-from", a), ("#interp-to", b)):
            tab.fill(field, str(value))
            tab.dispatch_event(field, "change")
        for interp, name in zip(tab.evaluate("() => explorer.interp()"), pair):
            assert close(interp["first"], ref.decode(name, ref.encode(name, ref.test[a])[0]))
            assert close(interp["last"], ref.decode(name, ref.encode(name, ref.test[b])[0]))
        assert errors == [] and refused == []

        # the benchmark's measures run on the page (its numbers are not judged here)
        measured = bench_explorer.measure(browser, project / "explorer.html", rounds=2, repeats=1)
        assert all(measured[k] > 0 for k in ("load_ms", "decode", "encode", "plane"))

        # the plots page, offline too
        problems, lines = check_plots_page.page_problems(browser, tmp_path / "plots" / "index.html")
        browser.close()
    assert problems == [], "\n".join(lines)
