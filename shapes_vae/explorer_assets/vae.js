"use strict";
// The VAE of shapes_vae/model.py in plain JavaScript: encode an image to (mu, logvar), decode z to
// pixel probabilities, with the same layers, alignment and weights. Weights arrive and stay float32
// (the checkpoint's values); every sum is in float64. tests/test_explorer.py compares both with
// PyTorch in a browser.
const ShapesVAE = (function () {
  // ---- weights --------------------------------------------------------------------------------
  function base64Bytes(b64) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }

  function float32s(entry) {  // base64 of little-endian float32 -> Float32Array
    const bytes = base64Bytes(entry.float32), view = new DataView(bytes.buffer);
    const out = new Float32Array(bytes.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }

  // The loops below run channels-last (row, column, channel) and sum over the input channel
  // innermost, so each layer's torch weights are reordered once here to [ky][kx][o][c].
  function convWeights(w, O, C) {  // Conv2d (O, C, 3, 3)
    const out = new Float32Array(w.length);
    for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) for (let k = 0; k < 9; k++)
      out[(k * O + o) * C + c] = w[(o * C + c) * 9 + k];
    return out;
  }

  function deconvWeights(w, C, O) {  // ConvTranspose2d (C, O, 3, 3)
    const out = new Float32Array(w.length);
    for (let c = 0; c < C; c++) for (let o = 0; o < O; o++) for (let k = 0; k < 9; k++)
      out[(k * O + o) * C + c] = w[(c * O + o) * 9 + k];
    return out;
  }

  // torch flattens (channel, row, column); index i of that order in channels-last order
  function channelsLastIndex(n, C) {
    const idx = new Int32Array(n * n * C);
    for (let c = 0; c < C; c++) for (let p = 0; p < n * n; p++) idx[c * n * n + p] = p * C + c;
    return idx;
  }

  // ---- layers -----------------------------------------------------------------------------------
  function relu(a) { for (let i = 0; i < a.length; i++) if (a[i] < 0) a[i] = 0; return a; }

  function dense(inp, w, b) {  // w: (rows, inp.length) row-major
    const K = inp.length, out = new Float64Array(b.length);
    for (let r = 0; r < b.length; r++) {
      let s = b[r];
      for (let k = 0, base = r * K; k < K; k++) s += w[base + k] * inp[k];
      out[r] = s;
    }
    return out;
  }

  // out[p][o] = relu(b[o] + sum over taps (q, k) of p of sum_c inp[q][c] w[k][o][c]); taps(p) lists
  // the input pixels q and kernel offsets k that reach output pixel p, flattened as pairs
  // The inputs come out of a ReLU or are binary images: many are zero, so each input pixel's
  // channels are first listed as (channel, value) pairs of its non-zero values only.
  function gather(inp, C, w, b, O, taps, outPixels, activate) {
    const inPixels = inp.length / C, count = new Int32Array(inPixels);
    const channel = new Int32Array(inp.length), value = new Float64Array(inp.length);
    for (let q = 0; q < inPixels; q++) {
      let k = q * C;
      for (let c = 0; c < C; c++) {
        const v = inp[q * C + c];
        if (v !== 0) { channel[k] = c; value[k] = v; k++; }
      }
      count[q] = k - q * C;
    }
    const out = new Float64Array(outPixels * O), O4 = O - (O % 4);
    for (let p = 0; p < outPixels; p++) {
      const t = taps[p], ob = p * O;
      let o = 0;
      for (; o < O4; o += 4) {  // four output channels at once: each input value loaded once for four
        let s0 = b[o], s1 = b[o + 1], s2 = b[o + 2], s3 = b[o + 3];
        for (let a = 0; a < t.length; a += 2) {
          const q = t[a], start = q * C, end = start + count[q];
          const w0 = (t[a + 1] * O + o) * C, w1 = w0 + C, w2 = w1 + C, w3 = w2 + C;
          for (let k = start; k < end; k++) {
            const c = channel[k], v = value[k];
            s0 += v * w[w0 + c]; s1 += v * w[w1 + c]; s2 += v * w[w2 + c]; s3 += v * w[w3 + c];
          }
        }
        out[ob + o] = s0; out[ob + o + 1] = s1; out[ob + o + 2] = s2; out[ob + o + 3] = s3;
      }
      for (; o < O; o++) {
        let s = b[o];
        for (let a = 0; a < t.length; a += 2) {
          const q = t[a], start = q * C, end = start + count[q], wb = (t[a + 1] * O + o) * C;
          for (let k = start; k < end; k++) s += value[k] * w[wb + channel[k]];
        }
        out[ob + o] = s;
      }
    }
    return activate ? relu(out) : out;
  }

  // Keras 'same' with stride 2 on an h x h input: one zero row and column after it (bottom/right),
  // then 3x3 windows at stride 2: output (i, j) reads input (2i + ky, 2j + kx)
  function convStride2Taps(h) {
    const ho = Math.floor((h - 2) / 2) + 1, taps = [];
    for (let i = 0; i < ho; i++) for (let j = 0; j < ho; j++) {
      const t = [];
      for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
        const y = 2 * i + ky, x = 2 * j + kx;
        if (y < h && x < h) t.push(y * h + x, ky * 3 + kx);  // else: the zero padding
      }
      taps.push(Int32Array.from(t));
    }
    return taps;
  }

  // ConvTranspose2d(stride 2, no padding) on an n x n input writes rows/columns 0 .. 2n and Keras
  // keeps 0 .. 2n-1: output (y, x) gets input (i, j) through (ky, kx) = (y - 2i, x - 2j) in 0..2
  function deconvStride2Taps(n) {
    const m = 2 * n, taps = [];
    for (let y = 0; y < m; y++) for (let x = 0; x < m; x++) {
      const t = [];
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        const ky = y - 2 * i, kx = x - 2 * j;
        if (ky >= 0 && ky < 3 && kx >= 0 && kx < 3) t.push(i * n + j, ky * 3 + kx);
      }
      taps.push(Int32Array.from(t));
    }
    return taps;
  }

  // ConvTranspose2d(stride 1, padding 1): output (y, x) gets input (y + 1 - ky, x + 1 - kx)
  function deconvSameTaps(m) {
    const taps = [];
    for (let y = 0; y < m; y++) for (let x = 0; x < m; x++) {
      const t = [];
      for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
        const iy = y + 1 - ky, ix = x + 1 - kx;
        if (iy >= 0 && iy < m && ix >= 0 && ix < m) t.push(iy * m + ix, ky * 3 + kx);
      }
      taps.push(Int32Array.from(t));
    }
    return taps;
  }

  class VAE {
    constructor(weights, architecture, size) {  // weights: {name: {shape, float32: base64}} as shapes_vae/explorer.py exports
      const get = (name) => float32s(weights[name]);
      const [c1, c2] = architecture.channels, n = size / 4, hidden = architecture.hidden;
      const latent = architecture.latent_dim;
      this.size = size;
      const features = c2 * n * n, order = channelsLastIndex(n, c2);
      this.c1 = c1; this.c2 = c2; this.n = n;
      this.taps = {enc1: convStride2Taps(size), enc2: convStride2Taps(size / 2), dec1: deconvStride2Taps(n),
                   dec2: deconvStride2Taps(2 * n), out: deconvSameTaps(size)};
      this.encConv1 = [convWeights(get("enc_conv1.weight"), c1, 1), get("enc_conv1.bias")];
      this.encConv2 = [convWeights(get("enc_conv2.weight"), c2, c1), get("enc_conv2.bias")];
      const ed = get("enc_dense.weight"), edw = new Float64Array(ed.length);
      for (let h = 0; h < hidden; h++) for (let f = 0; f < features; f++) edw[h * features + order[f]] = ed[h * features + f];
      this.encDense = [edw, get("enc_dense.bias")];
      this.encMu = [get("enc_mu.weight"), get("enc_mu.bias")];
      this.encLogvar = [get("enc_logvar.weight"), get("enc_logvar.bias")];
      const dd = get("dec_dense.weight"), db = get("dec_dense.bias");
      const ddw = new Float64Array(dd.length), ddb = new Float64Array(db.length);
      for (let f = 0; f < features; f++) {
        ddb[order[f]] = db[f];
        for (let l = 0; l < latent; l++) ddw[order[f] * latent + l] = dd[f * latent + l];
      }
      this.decDense = [ddw, ddb];
      this.decDeconv1 = [deconvWeights(get("dec_deconv1.weight"), c2, c2), get("dec_deconv1.bias")];
      this.decDeconv2 = [deconvWeights(get("dec_deconv2.weight"), c2, c1), get("dec_deconv2.bias")];
      this.decOut = [deconvWeights(get("dec_out.weight"), c1, 1), get("dec_out.bias")];
    }

    encode(x) {  // x: size * size pixels in [0, 1], row-major -> {mu, logvar}
      const half = this.size / 2, n = this.n;
      let h = gather(x, 1, ...this.encConv1, this.c1, this.taps.enc1, half * half, true);
      h = gather(h, this.c1, ...this.encConv2, this.c2, this.taps.enc2, n * n, true);
      h = relu(dense(h, ...this.encDense));
      return {mu: dense(h, ...this.encMu), logvar: dense(h, ...this.encLogvar)};
    }

    decodeLogits(z) {
      const n = this.n;
      let h = relu(dense(z, ...this.decDense));
      h = gather(h, this.c2, ...this.decDeconv1, this.c2, this.taps.dec1, 4 * n * n, true);
      const pixels = this.size * this.size;
      h = gather(h, this.c2, ...this.decDeconv2, this.c1, this.taps.dec2, pixels, true);
      return gather(h, this.c1, ...this.decOut, 1, this.taps.out, pixels, false);
    }

    decode(z) {  // z: latent_dim numbers -> size * size pixel probabilities, row-major
      const logits = this.decodeLogits(z);
      for (let i = 0; i < logits.length; i++) logits[i] = 1 / (1 + Math.exp(-logits[i]));
      return logits;
    }
  }

  // ---- random numbers: seeded, so a page shows the same samples until asked for new ones ---------
  function uniforms(seed) {  // mulberry32
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6D2B79F5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function normals(seed, n) {  // Box-Muller
    const u = uniforms(seed), out = new Float64Array(n);
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - u())), t = 2 * Math.PI * u();
      out[i] = r * Math.cos(t);
      if (i + 1 < n) out[i + 1] = r * Math.sin(t);
    }
    return out;
  }

  return {VAE, normals, base64Bytes};
})();
