"""Open the `dvc plots show` page in headless Chromium and check that every plot and figure renders.

    make plots-check        # dvc plots show, then this script (needs Debian's chromium)

The page loads vega, vega-lite and vega-embed from the jsDelivr CDN at the versions dvc-render
pins. So that the check also runs on a machine with no internet (CI sandboxes), those exact
versions are fetched once from the npm registry (`npm pack`, cached in build/plots-check/) and
served in place of the CDN; every other network request is refused. The page itself is not
changed. Checks, each failure named on one line:

- no JavaScript error on the page;
- every <img> loaded (complete, non-zero natural size) and is not blank (its pixels vary);
- every vega chart rendered a canvas/svg, and its picture holds thousands of coloured pixels:
  vega draws axes, grid and labels in greys and the data in colour (DVC colours each revision),
  so an empty chart has at most its legend symbols in colour.

Writes a full-page screenshot to build/plots-check/page.png for a human look.
"""
import io
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from matplotlib import image as mpimg

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "plots-check"
CDN = re.compile(r'src="(https://cdn\.jsdelivr\.net/npm/([^@"/]+)@([^"/]+))"')
SLIDER_BLUE = np.array([0x00, 0x75, 0xFF]) / 255.0  # the page's smoothing slider, not data
MIN_DATA_PIXELS = 400  # a legend symbol is < 100 coloured pixels; a drawn curve is thousands
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def fail(msg):
    print(f"plots-check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def npm_file(name, version):
    """The file jsDelivr serves for name@version (the package's `jsdelivr` entry), from npm."""
    dest = CACHE / "npm" / f"{name}@{version}.js"
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["npm", "pack", f"{name}@{version}", "--silent", "--pack-destination", str(dest.parent)],
                       capture_output=True, text=True)
    if r.returncode:
        fail(f"npm pack {name}@{version} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    tgz = dest.parent / r.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tar:
        meta = json.load(tar.extractfile("package/package.json"))
        entry = meta.get("jsdelivr") or meta.get("unpkg") or meta.get("browser") or meta["main"]
        dest.write_bytes(tar.extractfile("package/" + entry.lstrip("./")).read())
    tgz.unlink()
    return dest


def picture(png_bytes):
    return mpimg.imread(io.BytesIO(png_bytes), format="png")[..., :3]


def data_pixels(img):
    """Saturated (non-grey) pixels: vega draws axes, grid and text in greys, data in colour."""
    saturated = img.max(-1) - img.min(-1) > 0.25
    slider = np.abs(img - SLIDER_BLUE).max(-1) < 0.1
    return int((saturated & ~slider).sum())


def main(argv):
    page = Path(argv[0] if argv else ROOT / "dvc_plots" / "index.html").resolve()
    if not page.exists():
        fail(f"{page}: not found (run: dvc plots show)")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        fail("/usr/bin/chromium not found (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        fail("playwright is not installed (pip install -e '.[browser]', as make plots-check does)")
    html = page.read_text()
    local = {url: npm_file(name, version) for url, name, version in CDN.findall(html)}
    errors, refused = [], []

    def route(r):
        url = r.request.url
        if url in local:
            r.fulfill(path=str(local[url]), content_type="application/javascript")
        elif url.startswith(("http://", "https://")):
            refused.append(url)
            r.abort()
        else:
            r.continue_()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.route("**/*", route)
        tab.goto(page.as_uri(), wait_until="load")
        charts = re.findall(r"vegaEmbed\('#([^']+)'", html)
        try:
            tab.wait_for_function(
                "ids => ids.every(id => document.getElementById(id).querySelector('canvas, svg'))", arg=charts, timeout=30000)
        except Exception:  # Playwright's TimeoutError: say which charts never drew, in one line
            missing = tab.evaluate("ids => ids.filter(id => !document.getElementById(id).querySelector('canvas, svg'))", charts)
            fail(f"charts never rendered within 30 s: {', '.join(missing)}; page errors: {'; '.join(errors) or 'none'}")
        tab.wait_for_timeout(500)  # let vega finish drawing
        problems = [f"JavaScript error: {e}" for e in errors]
        problems += [f"page asked the network for {u}" for u in refused]
        for cid in charts:
            img = picture(tab.locator(f'[id="{cid}"]').screenshot())
            n = data_pixels(img)
            print(f"  chart  {cid:<40} {img.shape[1]}x{img.shape[0]} px, {n} coloured px")
            if n < MIN_DATA_PIXELS:
                problems.append(f"chart {cid} drew no data ({n} coloured pixels)")
        images = tab.eval_on_selector_all(
            "img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth, e.naturalHeight])")
        for src, complete, w, h in images:
            ok = complete and w > 0 and h > 0
            blank = ok and float(picture((page.parent / src).read_bytes()).var()) == 0.0
            print(f"  figure {src:<60} {w}x{h}" + ("" if ok else " BROKEN") + (" BLANK" if blank else ""))
            if not ok:
                problems.append(f"figure {src} did not load")
            elif blank:
                problems.append(f"figure {src} is blank")
        CACHE.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(CACHE / "page.png"), full_page=True)
        browser.close()
    if not charts or not images:
        problems.append(f"found {len(charts)} charts and {len(images)} figures: expected both")
    if problems:
        fail("; ".join(problems))
    print(f"plots-check: OK: {len(charts)} charts and {len(images)} figures rendered in Chromium "
          f"(screenshot: {(CACHE / 'page.png').relative_to(ROOT)})")


if __name__ == "__main__":
    main(sys.argv[1:])
