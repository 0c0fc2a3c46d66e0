"use strict";
// The latent explorer's page: its controls and drawings around ShapesVAE (vae.js), which runs the models.
(function () {
  const {VAE, normals, base64Bytes} = ShapesVAE;
  const DATA = JSON.parse(document.getElementById("explorer-data").textContent);
  const SIZE = DATA.image_size, PIXELS = SIZE * SIZE, LATENT = DATA.architecture.latent_dim;
  const SLIDER_RANGE = 3, SCALE = 6, STRIP = 20;

  // ---- data -------------------------------------------------------------------------------------
  const variants = DATA.variants.map((v) => ({name: v.name, beta: v.beta, sigma: v.noise_sigma, init: v.init,
                                               vae: new VAE(v.weights, DATA.architecture, SIZE)}));
  const testBits = base64Bytes(DATA.test.bits), rowBytes = Math.ceil(PIXELS / 8);

  function testImage(k) {
    const out = new Float64Array(PIXELS), base = k * rowBytes;
    for (let i = 0; i < PIXELS; i++) out[i] = (testBits[base + (i >> 3)] >> (7 - (i & 7))) & 1;
    return out;
  }

  function testLabel(k) { return DATA.test.classes[DATA.test.labels[k]]; }

  // ---- state ------------------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const state = {
    z: new Float64Array(LATENT), noise: false, noiseSeed: 1, sampleSeed: 1,
    testIndex: 0, drawing: new Float64Array(PIXELS), source: "test",
    shown: [], encoded: [], plane: [], interp: [],
  };

  function shownVariants() {
    const a = variants[$("variant-a").selectedIndex];
    return $("compare").checked ? [a, variants[$("variant-b").selectedIndex]] : [a];
  }

  // what the decoder reads: z, plus sigma * eps when the training noise is switched on; `key`
  // picks an independent eps for each image of a grid
  function decoderInput(variant, z, key) {
    if (!state.noise || variant.sigma === 0) return Float64Array.from(z);
    const eps = normals(state.noiseSeed * 100003 + key, LATENT), out = new Float64Array(LATENT);
    for (let i = 0; i < LATENT; i++) out[i] = z[i] + variant.sigma * eps[i];
    return out;
  }

  function inputImage() { return state.source === "test" ? testImage(state.testIndex) : Float64Array.from(state.drawing); }

  // ---- drawing ----------------------------------------------------------------------------------
  // images: list of SIZE*SIZE arrays in [0, 1], drawn white = 1 in a grid with one grey pixel between
  function drawGrid(canvas, images, cols, scale = SCALE, highlight = -1) {
    const rows = Math.max(1, Math.ceil(images.length / cols)), step = SIZE + 1;
    canvas.width = cols * step - 1; canvas.height = rows * step - 1;
    canvas.style.width = canvas.width * scale + "px"; canvas.style.height = canvas.height * scale + "px";
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(canvas.width, canvas.height), d = img.data;
    for (let i = 0; i < d.length; i += 4) { d[i] = d[i + 1] = d[i + 2] = 150; d[i + 3] = 255; }
    images.forEach((pixels, k) => {
      if (!pixels) return;  // not computed yet: stays grey
      const x0 = (k % cols) * step, y0 = Math.floor(k / cols) * step;
      for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) {
        const v = Math.round(255 * pixels[y * SIZE + x]), o = ((y0 + y) * canvas.width + x0 + x) * 4;
        d[o] = d[o + 1] = d[o + 2] = v;
        if (k === highlight && v === 0) { d[o] = 40; d[o + 1] = 40; d[o + 2] = 110; }
      }
    });
    ctx.putImageData(img, 0, 0);
  }

  function element(tag, attrs = {}, text = "") {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    return e;
  }

  function caption(v) {
    return `${v.name}: beta ${v.beta}, training noise sigma ${v.sigma}` + (v.init === "scratch" ? "" : `, fine-tuned from ${v.init}`);
  }

  function panels(containerId, builder) {  // one panel per shown variant
    const box = $(containerId);
    box.replaceChildren();
    return shownVariants().map((v, slot) => {
      const panel = element("div", {class: "panel", "data-variant": v.name});
      panel.append(element("div", {class: "caption"}, caption(v)));
      box.append(panel);
      return builder(panel, v, slot);
    });
  }

  // ---- the sections -----------------------------------------------------------------------------
  function drawDecoded() {
    state.shown = panels("decoded", (panel, v, slot) => {
      const canvas = element("canvas", {id: `decoded-${slot}`});
      panel.append(canvas);
      const zIn = decoderInput(v, state.z, 0), probs = v.vae.decode(zIn);
      drawGrid(canvas, [probs], 1, 8);
      return {variant: v.name, z: Array.from(zIn), probs: Array.from(probs)};
    });
  }

  function statsChart(canvas, mu, std) {  // mean +- one standard deviation per dimension
    const rowH = 16, w = 260, mid = w / 2, unit = w / (2 * (SLIDER_RANGE + 1));
    canvas.width = w; canvas.height = rowH * LATENT + 14;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#ccc";
    for (let t = -SLIDER_RANGE; t <= SLIDER_RANGE; t++) { ctx.beginPath(); ctx.moveTo(mid + t * unit, 0); ctx.lineTo(mid + t * unit, rowH * LATENT); ctx.stroke(); }
    ctx.fillStyle = "#666"; ctx.font = "10px sans-serif";
    for (let t = -SLIDER_RANGE; t <= SLIDER_RANGE; t++) ctx.fillText(String(t), mid + t * unit - 3, rowH * LATENT + 11);
    const clip = (v) => Math.max(0, Math.min(w, v));
    for (let i = 0; i < LATENT; i++) {
      const y = i * rowH + rowH / 2;
      ctx.fillStyle = "rgba(30, 100, 200, 0.35)";
      ctx.fillRect(clip(mid + (mu[i] - std[i]) * unit), y - 5, clip(mid + (mu[i] + std[i]) * unit) - clip(mid + (mu[i] - std[i]) * unit), 10);
      ctx.fillStyle = "rgb(20, 60, 160)";
      ctx.fillRect(clip(mid + mu[i] * unit) - 1, y - 6, 2, 12);
    }
  }

  function drawEncoded() {
    const x = inputImage();
    $("test-label").textContent = state.source === "test" ? `a ${testLabel(state.testIndex)} (label of test image ${state.testIndex})` : "your drawing";
    state.encoded = panels("encoded", (panel, v, slot) => {
      const {mu, logvar} = v.vae.encode(x), std = mu.map((_, i) => Math.exp(0.5 * logvar[i]));
      const eps = normals(state.sampleSeed * 7919 + slot, LATENT), zs = mu.map((m, i) => m + std[i] * eps[i]);
      const recon = v.vae.decode(decoderInput(v, mu, 1)), sample = v.vae.decode(decoderInput(v, zs, 2));
      const images = element("canvas", {id: `encoded-images-${slot}`});
      panel.append(element("div", {class: "note"}, "input | decoded mean | decoded sample z"), images);
      drawGrid(images, [x, recon, sample], 3, 4);
      const chart = element("canvas", {id: `encoded-chart-${slot}`});
      panel.append(element("div", {class: "note"}, "encoder mean and mean \u00b1 std per dimension"), chart);
      statsChart(chart, mu, std);
      const table = element("table", {class: "stats"});
      table.append(...["dim", "mean", "std", "sample z"].map((h, r) => {
        const tr = element("tr");
        tr.append(element("th", {}, h));
        for (let i = 0; i < LATENT; i++) tr.append(element("td", {}, r === 0 ? String(i) : [mu, std, zs][r - 1][i].toFixed(3)));
        return tr;
      }));
      panel.append(table);
      return {variant: v.name, mu: Array.from(mu), std: Array.from(std), logvar: Array.from(logvar),
              z: Array.from(zs), reconstruction: Array.from(recon)};
    });
  }

  // The plane is drawn a row at a time, yielding to the browser between rows so the page stays
  // responsive; a newer call (the sliders moved again) stops an older one. Resolves to the
  // milliseconds the whole plane took, or null if a newer call took over.
  let planeRun = 0;
  function drawPlane() {
    const run = ++planeRun, t0 = performance.now();
    const dx = $("plane-x").selectedIndex, dy = $("plane-y").selectedIndex;
    const r = Math.abs(parseFloat($("plane-range").value)) || SLIDER_RANGE;
    const n = Math.max(2, Math.min(20, parseInt($("plane-n").value, 10) || 10));
    const at = (k) => -r + (2 * r * k) / (n - 1), zBase = Float64Array.from(state.z);
    const jobs = panels("plane", (panel, v, slot) => {
      const canvas = element("canvas", {id: `plane-${slot}`});
      panel.append(canvas);
      const job = {v, canvas, images: new Array(n * n).fill(null), z: []};
      drawGrid(canvas, job.images, n, 2);
      return job;
    });
    return new Promise((resolve) => {
      let row = 0;
      const step = () => {
        if (run !== planeRun) return resolve(null);
        for (const job of jobs) {
          for (let col = 0; col < n; col++) {  // top row: dimension y at +r
            const z = Float64Array.from(zBase), k = row * n + col;
            z[dx] = at(col); z[dy] = at(n - 1 - row);
            job.z.push(Array.from(z));
            job.images[k] = job.v.vae.decode(decoderInput(job.v, z, 10 + k));
          }
          drawGrid(job.canvas, job.images, n, 2);
        }
        if (++row < n) return setTimeout(step, 0);
        state.plane = jobs.map((job) => ({variant: job.v.name, n, z: job.z, first: Array.from(job.images[0])}));
        resolve(performance.now() - t0);
      };
      step();
    });
  }

  function drawInterp() {
    const clampIndex = (id) => Math.max(0, Math.min(DATA.test.count - 1, parseInt($(id).value, 10) || 0));
    const from = clampIndex("interp-from"), to = clampIndex("interp-to");
    const steps = Math.max(2, Math.min(20, parseInt($("interp-steps").value, 10) || 8));
    const a = testImage(from), b = testImage(to);
    state.interp = panels("interp", (panel, v, slot) => {
      const ma = v.vae.encode(a).mu, mb = v.vae.encode(b).mu, images = [a];
      for (let s = 0; s < steps; s++) {
        const t = s / (steps - 1), z = ma.map((m, i) => (1 - t) * m + t * mb[i]);
        images.push(v.vae.decode(decoderInput(v, z, 1000 + s)));
      }
      images.push(b);
      const canvas = element("canvas", {id: `interp-${slot}`});
      panel.append(element("div", {class: "note"}, `test image ${from} | ${steps} decoded steps | test image ${to}`), canvas);
      drawGrid(canvas, images, images.length, 3);
      return {variant: v.name, first: Array.from(images[1]), last: Array.from(images[steps])};
    });
  }

  function drawStrip() {
    const start = Math.floor(state.testIndex / STRIP) * STRIP, count = Math.min(STRIP, DATA.test.count - start);
    const images = [];
    for (let k = 0; k < count; k++) images.push(testImage(start + k));
    const strip = $("test-strip");
    strip.dataset.start = start;
    drawGrid(strip, images, count, 2, state.source === "test" ? state.testIndex - start : -1);
  }

  function drawDrawing() { drawGrid($("draw"), [state.drawing], 1, 8); }

  function setSliders() {
    state.z.forEach((v, i) => { $(`z-${i}`).value = v; $(`z-${i}-value`).textContent = v.toFixed(2); });
  }

  // ---- scheduling: decode at most once per frame while a slider moves; the plane after a pause ---
  let frame = 0, planeTimer = 0;
  function redrawSliders() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; drawDecoded(); });
    clearTimeout(planeTimer);
    planeTimer = setTimeout(drawPlane, 250);
  }

  function redrawAll() { drawDecoded(); drawEncoded(); drawPlane(); drawInterp(); }

  // ---- controls ---------------------------------------------------------------------------------
  function setup() {
    for (const id of ["variant-a", "variant-b"]) {
      variants.forEach((v) => $(id).append(element("option", {value: v.name}, v.name)));
    }
    $("variant-b").selectedIndex = Math.min(1, variants.length - 1);
    $("compare").checked = variants.length > 1;
    for (let i = 0; i < LATENT; i++) {
      const slider = element("input", {type: "range", id: `z-${i}`, min: -SLIDER_RANGE, max: SLIDER_RANGE, step: 0.01, value: 0});
      slider.addEventListener("input", () => {
        state.z[i] = parseFloat(slider.value);
        $(`z-${i}-value`).textContent = state.z[i].toFixed(2);
        redrawSliders();
      });
      $("sliders").append(element("label", {for: `z-${i}`}, `z[${i}]`), slider, element("span", {class: "value", id: `z-${i}-value`}, "0.00"));
      for (const id of ["plane-x", "plane-y"]) $(id).append(element("option", {value: i}, String(i)));
    }
    $("plane-y").selectedIndex = Math.min(1, LATENT - 1);
    $("slider-range").textContent = SLIDER_RANGE;
    $("test-index").max = $("interp-from").max = $("interp-to").max = DATA.test.count - 1;
    $("interp-to").value = Math.min(1, DATA.test.count - 1);

    const noiseInfo = () => {
      $("noise-info").textContent = shownVariants().map((v) => `${v.name}: sigma ${v.sigma}` + (v.sigma === 0 ? " (no noise)" : "")).join(", ");
    };
    for (const id of ["variant-a", "variant-b", "compare"]) $(id).addEventListener("change", () => { noiseInfo(); redrawAll(); });
    $("noise").addEventListener("change", () => { state.noise = $("noise").checked; redrawAll(); });
    $("new-noise").addEventListener("click", () => { state.noiseSeed++; redrawAll(); });
    $("z-zero").addEventListener("click", () => { state.z.fill(0); setSliders(); drawDecoded(); drawPlane(); });
    $("z-prior").addEventListener("click", () => {
      state.z = normals(Math.floor(Math.random() * 2 ** 31), LATENT).map((v) => Math.max(-SLIDER_RANGE, Math.min(SLIDER_RANGE, v)));
      setSliders(); drawDecoded(); drawPlane();
    });
    $("z-from-mu").addEventListener("click", () => {
      state.z = Float64Array.from(state.encoded[0].mu);
      setSliders(); drawDecoded(); drawPlane();
    });

    const pickTest = (k) => {
      state.testIndex = Math.max(0, Math.min(DATA.test.count - 1, k));
      state.source = "test";
      $("test-index").value = state.testIndex;
      drawStrip(); drawEncoded();
    };
    $("test-index").addEventListener("change", () => pickTest(parseInt($("test-index").value, 10) || 0));
    $("strip-prev").addEventListener("click", () => pickTest(state.testIndex - STRIP));
    $("strip-next").addEventListener("click", () => pickTest(state.testIndex + STRIP));
    $("test-strip").addEventListener("click", (e) => {
      const strip = $("test-strip"), box = strip.getBoundingClientRect();
      const col = Math.floor(((e.clientX - box.left) / box.width) * strip.width / (SIZE + 1));
      pickTest(parseInt(strip.dataset.start, 10) + col);
    });
    $("resample").addEventListener("click", () => { state.sampleSeed++; drawEncoded(); });

    // drawing: a 3x3-pixel brush; the right button or shift erases
    const draw = $("draw");
    let painting = false;
    const paint = (e) => {
      const box = draw.getBoundingClientRect(), value = e.shiftKey || e.buttons === 2 ? 0 : 1;
      const cx = Math.floor(((e.clientX - box.left) / box.width) * SIZE), cy = Math.floor(((e.clientY - box.top) / box.height) * SIZE);
      for (let y = cy - 1; y <= cy + 1; y++) for (let x = cx - 1; x <= cx + 1; x++)
        if (x >= 0 && y >= 0 && x < SIZE && y < SIZE) state.drawing[y * SIZE + x] = value;
      drawDrawing();
    };
    draw.addEventListener("contextmenu", (e) => e.preventDefault());
    draw.addEventListener("pointerdown", (e) => { painting = true; draw.setPointerCapture(e.pointerId); paint(e); });
    draw.addEventListener("pointermove", (e) => { if (painting) paint(e); });
    draw.addEventListener("pointerup", () => { painting = false; state.source = "drawing"; drawStrip(); drawEncoded(); });
    $("draw-encode").addEventListener("click", () => { state.source = "drawing"; drawStrip(); drawEncoded(); });
    $("draw-clear").addEventListener("click", () => { state.drawing.fill(0); drawDrawing(); });
    $("draw-from-test").addEventListener("click", () => { state.drawing = testImage(state.testIndex); drawDrawing(); });

    for (const id of ["plane-x", "plane-y", "plane-range", "plane-n"]) $(id).addEventListener("change", drawPlane);
    for (const id of ["interp-from", "interp-to", "interp-steps"]) $(id).addEventListener("change", drawInterp);

    noiseInfo(); drawStrip(); drawDrawing(); redrawAll();
  }

  setup();

  // For scripted use (the project's browser tests and benchmark) and the curious: the models and
  // what the page shows, plain arrays throughout.
  window.explorer = {
    variants: variants.map((v) => v.name),
    latentDim: LATENT, imageSize: SIZE, testCount: DATA.test.count,
    testImage: (k) => Array.from(testImage(k)),
    drawing: () => Array.from(state.drawing),
    decode: (name, z) => Array.from(variants.find((v) => v.name === name).vae.decode(Float64Array.from(z))),
    encode: (name, x) => {
      const {mu, logvar} = variants.find((v) => v.name === name).vae.encode(Float64Array.from(x));
      return {mu: Array.from(mu), logvar: Array.from(logvar)};
    },
    setZ: (z) => { state.z = Float64Array.from(z); setSliders(); drawDecoded(); },
    z: () => Array.from(state.z),
    shown: () => state.shown, encoded: () => state.encoded, plane: () => state.plane, interp: () => state.interp,
    drawPlane,  // redraws the plane now; a promise of the milliseconds it took
  };
})();
