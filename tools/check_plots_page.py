"""Open the `dvc plots show` page in headless Chromium, offline, and check that every plot and figure renders.

    make plots-check        # dvc plots show, then this script (needs Debian's chromium)

The page comes from DVC's template with vega, vega-lite and vega-embed inlined
(.dvc/plots/offline_page.html, named by .dvc/config `plots.html_template`), so it needs no
network: every request to one is refused and reported. Checks, each failure named on one line:

- no JavaScript error on the page, no network request;
- every <img> loaded (complete, non-zero natural size) and is not blank (its pixels vary);
- every vega chart rendered a canvas/svg, and its picture holds thousands of coloured pixels:
  vega draws axes, grid and labels in greys and the data in colour (DVC colours each revision),
  so an empty chart has at most its legend symbols in colour;
- every curve is drawn: in each chart's scene, the line marks pass through every point of the
  data set they draw (after the template's own transforms), none left out; and likewise every
  bar and heat-map cell (rect marks: the per-dimension records) is drawn.

Writes a full-page screenshot to build/plots-check/page.png for a human look.
"""
import io
import re
import sys
from pathlib import Path

import numpy as np
from matplotlib import image as mpimg

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "plots-check"
SLIDER_BLUE = np.array([0x00, 0x75, 0xFF]) / 255.0  # the page's smoothing slider, not data
MIN_DATA_PIXELS = 400  # a legend symbol is < 100 coloured pixels; a drawn curve is thousands
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; playwright downloads no browser of its own here
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")

# Before the page's scripts run: keep each view vegaEmbed makes, so the check can read its scene.
CAPTURE_VIEWS = """
window.__views = {};
Object.defineProperty(window, 'vegaEmbed', {configurable: true, set(embed) {
  const wrapped = (el, spec, opts) => embed(el, spec, opts).then(r => { window.__views[el.replace('#', '')] = r.view; return r; });
  Object.defineProperty(window, 'vegaEmbed', {value: wrapped, writable: true, configurable: true});
}});
"""
# {chart id: [marks, points drawn, rows of the data set they are drawn from]}: the points (finite x
# and y) of every line mark and the drawn items of every rect mark (bars, heat-map cells) in a
# view's scene, and the largest data set holding them
LINES = """
() => Object.fromEntries(Object.entries(window.__views).map(([id, view]) => {
  const drawn = [];
  let curves = 0;
  const walk = (node) => {
    if (!node) return;
    if (node.marktype === 'line') {  // one line: its items are its points
      curves += 1;
      drawn.push(...node.items.filter(i => Number.isFinite(i.x) && Number.isFinite(i.y)).map(i => i.datum));
    }
    if (node.marktype === 'rect' && node.role === 'mark') {  // bars or cells: each item one datum
      curves += 1;
      drawn.push(...node.items.filter(i => [i.x, i.y, i.width, i.height].every(Number.isFinite) && i.width > 0 && i.height > 0)
                              .map(i => i.datum));
    }
    for (const item of node.items || []) for (const child of item.items || []) walk(child);
  };
  walk(view.scenegraph().root);
  const names = Object.keys(view.getState({data: () => true, signals: () => false}).data || {});
  const rows = Math.max(0, ...names.map(n => view.data(n) || []).filter(d => drawn.length && d.includes(drawn[0])).map(d => d.length));
  return [id, [curves, new Set(drawn).size, rows]];
}))
"""


def fail(msg):
    print(f"plots-check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def picture(png_bytes):
    return mpimg.imread(io.BytesIO(png_bytes), format="png")[..., :3]


def data_pixels(img):
    """Saturated (non-grey) pixels: vega draws axes, grid and text in greys, data in colour."""
    saturated = img.max(-1) - img.min(-1) > 0.25
    slider = np.abs(img - SLIDER_BLUE).max(-1) < 0.1
    return int((saturated & ~slider).sum())


def offline(tab):
    """Refuse every network request of a Playwright page; returns the list of refused URLs."""
    refused = []

    def route(r):
        if r.request.url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    tab.route("**/*", route)
    return refused


def page_problems(browser, page, screenshot=None):
    """(problems, report lines) of the plots page at `page`, opened offline in a new tab of
    `browser` (a Playwright Chromium)."""
    html = page.read_text()
    errors, lines = [], []
    tab = browser.new_page(viewport={"width": 1400, "height": 900})
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    refused = offline(tab)
    tab.add_init_script(CAPTURE_VIEWS)
    tab.goto(page.as_uri(), wait_until="load")
    charts = re.findall(r"vegaEmbed\('#([^']+)'", html)
    problems, missing = [], []
    try:
        tab.wait_for_function("ids => ids.every(id => window.__views[id])", arg=charts, timeout=30000)
    except Exception:  # Playwright's TimeoutError: say which charts never drew, in one line
        missing = tab.evaluate("ids => ids.filter(id => !window.__views[id])", charts)
        problems.append(f"charts never rendered within 30 s: {', '.join(missing)}")
    tab.wait_for_timeout(300)  # let vega finish drawing
    problems += [f"JavaScript error: {e}" for e in errors]
    problems += [f"page asked the network for {u}" for u in refused]
    drawn_per_chart = tab.evaluate(LINES)
    for cid in (c for c in charts if c not in missing):
        img = picture(tab.locator(f'[id="{cid}"]').screenshot())
        n = data_pixels(img)
        curves, points, rows = drawn_per_chart.get(cid, [0, 0, 0])
        lines.append(f"  chart  {cid:<40} {img.shape[1]}x{img.shape[0]} px, {n} coloured px, "
                     f"{curves} marks through {points} of {rows} data points")
        if n < MIN_DATA_PIXELS:
            problems.append(f"chart {cid} drew no data ({n} coloured pixels)")
        if not points or points < rows:
            problems.append(f"chart {cid}: its marks pass through {points} of its {rows} data points")
    images = tab.eval_on_selector_all(
        "img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth, e.naturalHeight])")
    for src, complete, w, h in images:
        ok = complete and w > 0 and h > 0
        blank = ok and float(picture((page.parent / src).read_bytes()).var()) == 0.0
        lines.append(f"  figure {src:<60} {w}x{h}" + ("" if ok else " BROKEN") + (" BLANK" if blank else ""))
        if not ok:
            problems.append(f"figure {src} did not load")
        elif blank:
            problems.append(f"figure {src} is blank")
    if screenshot:
        tab.screenshot(path=str(screenshot), full_page=True)
    tab.close()
    if not charts or not images:
        problems.append(f"found {len(charts)} charts and {len(images)} figures: expected both")
    lines.append(f"{len(charts)} charts and {len(images)} figures")
    return problems, lines


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def main(argv):
    page = Path(argv[0] if argv else ROOT / "dvc_plots" / "index.html").resolve()
    if not page.exists():
        fail(f"{page}: not found (run: dvc plots show)")
    if not CHROMIUM.exists():
        fail(f"{CHROMIUM} not found (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        fail("playwright is not installed (pip install -e '.[browser]', as make plots-check does)")
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch(pw)
        problems, lines = page_problems(browser, page, OUT / "page.png")
        browser.close()
    print("\n".join(lines[:-1]))
    if problems:
        fail("; ".join(problems))
    print(f"plots-check: OK, offline: {lines[-1]} rendered in Chromium, every curve drawn "
          f"(screenshot: {(OUT / 'page.png').relative_to(ROOT)})")


if __name__ == "__main__":
    main(sys.argv[1:])
