"""Speed and size of the latent explorer page in headless Chromium; writes bench/results/explorer.json.

    python bench/explorer.py [--rounds 100] [--out bench/results/explorer.json]

Nothing is trained: the page is built for the configuration of params.yaml with every variant of
`models` given freshly initialised weights of the architecture (the same parameters, so the same
bytes, as trained ones: base64 of float32) and as many random test images as the split puts in
the test set, so its size is the size `dvc repro` writes for that configuration. Then, in Debian's
chromium (headless, every network request refused):

- page size, and the time from opening it to a page ready to use;
- one decode (z to pixel probabilities) and one encode, each the median of --rounds calls;
- a 10 x 10 plane of decoded images for one variant, and for two side by side, as the page draws
  it (a row at a time), median of 3;
- the fastest decode and plane of those: on a busy machine the median measures the other work
  too, the fastest comes nearest to the page's own speed.

The timings depend on the machine and on what else it runs; they are measured, never asserted.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
OUT = ROOT / "bench" / "results" / "explorer.json"
PLANE = 10


def estimated_page(params):
    """The explorer page `dvc repro` would write for these params, with untrained weights and
    random test images in place of the real ones (the same sizes)."""
    import torch

    from shapes_vae.backends import build_vae
    from shapes_vae.counts import class_counts, split_sizes
    from shapes_vae.explorer import page_data, page_html

    g, split = params["generate"], params["split"]
    n_test = split_sizes(class_counts(g), [split[f"{k}_fraction"] for k in ("train", "val", "test")])[2]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 2, size=(n_test, g["image_size"], g["image_size"]), dtype=np.uint8)
    labels = rng.integers(0, len(g["classes"]), size=n_test)
    torch.manual_seed(0)
    variants = {name: {"state_dict": build_vae(params["architecture"], g["image_size"], "plain").state_dict(), **cfg}
                for name, cfg in params["models"].items()}
    return page_html(page_data(variants, params["architecture"], g["image_size"], images, labels, g["classes"]))


# In the page: the median milliseconds of `rounds` calls of one decode and one encode, and of
# `repeats` planes of PLANE x PLANE images for one variant and for the first two side by side; and
# the fastest decode and plane, the nearest to the machine's speed when nothing else runs.
MEASURE = """
async ([rounds, plane, repeats]) => {
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const fastest = (xs) => Math.min(...xs);
  const name = explorer.variants[0], z = new Array(explorer.latentDim).fill(0.5), x = explorer.testImage(0);
  const time = (f) => { const t = performance.now(); f(); return performance.now() - t; };
  for (let i = 0; i < 10; i++) { explorer.decode(name, z); explorer.encode(name, x); }  // warm-up: the JIT
  await explorer.drawPlane();  // and the page's own first plane, which this one supersedes
  const decode = [], encode = [];
  for (let i = 0; i < rounds; i++) { decode.push(time(() => explorer.decode(name, z))); encode.push(time(() => explorer.encode(name, x))); }
  document.getElementById('plane-n').value = plane;
  const planes = async (pair) => {
    document.getElementById('compare').checked = pair;
    document.getElementById('compare').dispatchEvent(new Event('change'));
    const ms = [];
    for (let i = 0; i < repeats; i++) ms.push(await explorer.drawPlane());
    return [median(ms), fastest(ms)];
  };
  const [one, oneFastest] = await planes(false), two = explorer.variants.length > 1 ? (await planes(true))[0] : null;
  return {decode: median(decode), decodeFastest: fastest(decode), encode: median(encode), plane: one,
          planeFastest: oneFastest, planePair: two};
}
"""


def measure(browser, page, rounds, repeats=3):
    """{measure: value} of the page at `page`, opened offline in a new tab of a Playwright Chromium."""
    import check_plots_page

    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    refused = check_plots_page.offline(tab)
    tab.goto(page.as_uri(), wait_until="load")
    tab.wait_for_function("() => window.explorer")
    load_ms = tab.evaluate("() => performance.now()")
    result = tab.evaluate(MEASURE, [rounds, PLANE, repeats])
    tab.close()
    if refused:
        sys.exit(f"error: the page asked the network for {refused[0]}")
    return {"load_ms": load_ms, **result}


def machine():
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown")
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "other"
    return {"cpu": model, "isa": isa, "cores": os.cpu_count()}


def main(argv):
    ap = argparse.ArgumentParser(prog="python bench/explorer.py", description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=100, help="decodes and encodes timed (default 100)")
    ap.add_argument("--out", type=Path, default=OUT, help=f"the JSON written (default {OUT.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    import yaml
    from playwright.sync_api import sync_playwright

    import check_plots_page
    from shapes_vae.explorer import expected_shapes
    from shapes_vae.params import validate

    load = os.getloadavg()[0]
    params = validate(yaml.safe_load((ROOT / "params.yaml").read_text()))
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "explorer.html"
        page.write_text(estimated_page(params), encoding="utf-8")
        size_mb = page.stat().st_size / 1e6
        with sync_playwright() as pw:
            browser = check_plots_page.launch(pw)
            m = measure(browser, page, args.rounds)
            version = browser.version
            browser.close()
    names = list(params["models"])
    shapes = expected_shapes(params["architecture"], params["generate"]["image_size"]).values()
    rows = [{"measure": "VAE parameters per variant, params.yaml's architecture", "value": int(sum(np.prod(s) for s in shapes)),
             "unit": "parameters"},
            {"measure": "explorer page size, params.yaml's configuration", "value": round(size_mb, 2), "unit": "MB"},
            {"measure": "explorer page: open to ready", "value": round(m["load_ms"]), "unit": "ms"},
            {"measure": "explorer: one decode (z to pixel probabilities), median", "value": round(m["decode"], 2), "unit": "ms"},
            {"measure": "explorer: one decode, fastest", "value": round(m["decodeFastest"], 2), "unit": "ms"},
            {"measure": "explorer: one encode, median", "value": round(m["encode"], 2), "unit": "ms"},
            {"measure": f"explorer: {PLANE} x {PLANE} plane, one variant, median", "value": round(m["plane"]), "unit": "ms"},
            {"measure": f"explorer: {PLANE} x {PLANE} plane, one variant, fastest", "value": round(m["planeFastest"]), "unit": "ms"}]
    if m["planePair"] is not None:
        rows.append({"measure": f"explorer: {PLANE} x {PLANE} plane, two variants side by side",
                     "value": round(m["planePair"]), "unit": "ms"})
    result = {"title": "Latent explorer in headless Chromium", "date": datetime.date.today().isoformat(),
              "machine": machine(), "rows": rows,
              "notes": (f"Chromium {version}, headless; the page built for params.yaml ({len(names)} variants: "
                        f"{', '.join(names)}; architecture {params['architecture']}) with untrained weights of the "
                        f"same size; medians and fastest of {args.rounds} decodes and encodes and of 3 planes, after a "
                        f"warm-up. Measured "
                        f"on a machine shared with other work (load average {load:.1f} on {os.cpu_count()} cores "
                        f"when it started): the timings vary from run to run.")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for row in rows:
        print(f"{row['measure']}: {row['value']} {row['unit']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
