/* minigan's generator in plain JavaScript: the forward pass of the DCGAN generator, for the
 * studio's Web Worker (importScripts) and for Node (require), where the tests compare it with
 * NumPy.
 *
 * The model comes from minigan/studio/web.py: each BatchNorm is folded into the transposed
 * convolution before it, so the network is five blocks of
 *
 *     y = activation(conv_transpose(x, W) + b)        activation: ReLU, and tanh at the end
 *
 * Feature maps are Float32Arrays in (H, W, C) order and the weights are laid out as
 * (C_in, K, K, C_out), so the innermost loop of convTranspose runs over output channels, along
 * contiguous memory in both arrays (the same idea as nn/conv.py's col2im, without the
 * matrices). Chapter 13 of the tutorial walks through this file.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.MiniganGenerator = factory();
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  /* IEEE half (binary16) -> float: sign, 5 exponent bits, 10 fraction bits. */
  function halfToFloat(h) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) return sign * fraction * Math.pow(2, -24); // subnormal (or zero)
    if (exponent === 31) return fraction ? NaN : sign * Infinity;
    return sign * (1 + fraction / 1024) * Math.pow(2, exponent - 15);
  }

  /* One array of model.bin as a Float32Array (a copy), from its {offset, length, dtype}. */
  function readArray(buffer, entry) {
    if (entry.dtype === "float32") return new Float32Array(buffer.slice(entry.offset, entry.offset + 4 * entry.length));
    if (entry.dtype !== "float16") throw new Error("model.bin: unknown dtype " + entry.dtype);
    const halves = new Uint16Array(buffer.slice(entry.offset, entry.offset + 2 * entry.length));
    const table = halfTable();
    const out = new Float32Array(entry.length);
    for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]];
    return out;
  }

  /* All 65,536 halves converted once: a lookup per weight instead of a Math.pow. */
  let table16 = null;
  function halfTable() {
    if (!table16) {
      table16 = new Float32Array(65536);
      for (let h = 0; h < 65536; h++) table16[h] = halfToFloat(h);
    }
    return table16;
  }

  /* model.json (parsed) + model.bin (an ArrayBuffer) -> a model for generate(). */
  function loadModel(json, buffer) {
    if (json.format !== "minigan-web-generator" || json.version !== 1) {
      throw new Error("model.json is not a minigan web generator of version 1");
    }
    if (buffer.byteLength !== json.bytes) {
      throw new Error("model.bin holds " + buffer.byteLength + " bytes, model.json expects " + json.bytes);
    }
    const layers = json.layers.map(function (L) {
      return {
        cin: L.in, cout: L.out, k: L.kernel, stride: L.stride, pad: L.padding, activation: L.activation,
        weight: readArray(buffer, L.weight), bias: readArray(buffer, L.bias),
      };
    });
    const vectors = {};
    json.vectors.forEach(function (v) { vectors[v.name] = Float64Array.from(v.values); });
    return { id: json.id, nz: json.nz, size: json.image_size, channels: json.channels, layers: layers, vectors: vectors };
  }

  /* Transposed convolution of x (h, w, cin) -> (oh, ow, cout), plus the bias.
   * Each input pixel scatters its channels, through the K x K kernel, onto the output pixels
   * oy = iy * stride - pad + ky, ox = ix * stride - pad + kx (those inside the map). */
  function convTranspose(x, h, w, L) {
    const cin = L.cin, cout = L.cout, k = L.k, stride = L.stride, pad = L.pad;
    const oh = (h - 1) * stride - 2 * pad + k, ow = (w - 1) * stride - 2 * pad + k;
    const y = new Float32Array(oh * ow * cout);
    for (let p = 0; p < oh * ow; p++) y.set(L.bias, p * cout);
    const W = L.weight;
    for (let iy = 0; iy < h; iy++) {
      for (let ix = 0; ix < w; ix++) {
        const xBase = (iy * w + ix) * cin;
        for (let ky = 0; ky < k; ky++) {
          const oy = iy * stride - pad + ky;
          if (oy < 0 || oy >= oh) continue;
          for (let kx = 0; kx < k; kx++) {
            const ox = ix * stride - pad + kx;
            if (ox < 0 || ox >= ow) continue;
            const yBase = (oy * ow + ox) * cout;
            // Input channels four at a time: one load and store of y per four multiply-adds.
            // The weights of channel ci + 1 lie `step` floats after those of ci.
            const step = k * k * cout;
            let ci = 0;
            for (; ci + 4 <= cin; ci += 4) {
              const v0 = x[xBase + ci], v1 = x[xBase + ci + 1], v2 = x[xBase + ci + 2], v3 = x[xBase + ci + 3];
              if (v0 === 0 && v1 === 0 && v2 === 0 && v3 === 0) continue; // ReLU zeros: common
              const w0 = ((ci * k + ky) * k + kx) * cout, w1 = w0 + step, w2 = w1 + step, w3 = w2 + step;
              for (let co = 0; co < cout; co++) {
                y[yBase + co] += v0 * W[w0 + co] + v1 * W[w1 + co] + v2 * W[w2 + co] + v3 * W[w3 + co];
              }
            }
            for (; ci < cin; ci++) { // the rest, when cin is not a multiple of 4
              const v = x[xBase + ci];
              if (v === 0) continue;
              const w0 = ((ci * k + ky) * k + kx) * cout;
              for (let co = 0; co < cout; co++) y[yBase + co] += v * W[w0 + co];
            }
          }
        }
      }
    }
    return { y: y, h: oh, w: ow };
  }

  /* Noise z (nz numbers) -> the image as a Float32Array (size, size, channels) in [-1, 1]. */
  function generate(model, z) {
    if (z.length !== model.nz) throw new Error("the model takes " + model.nz + " noise values, got " + z.length);
    let x = Float32Array.from(z), h = 1, w = 1; // the noise is a 1 x 1 image with nz channels
    for (const L of model.layers) {
      const out = convTranspose(x, h, w, L);
      x = out.y; h = out.h; w = out.w;
      if (L.activation === "relu") {
        for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0;
      } else {
        for (let i = 0; i < x.length; i++) x[i] = Math.tanh(x[i]);
      }
    }
    return x;
  }

  /* (size, size, 3) in [-1, 1] -> RGBA bytes for an ImageData: round((x + 1) * 127.5), as
   * minigan.data.to_images (which rounds half to even: so does this). */
  function toRGBA(image, size) {
    const rgba = new Uint8ClampedArray(size * size * 4);
    for (let p = 0; p < size * size; p++) {
      for (let c = 0; c < 3; c++) {
        const v = Math.min(Math.max((image[p * 3 + c] + 1) * 127.5, 0), 255);
        let r = Math.round(v);
        if (r - v === 0.5 && r % 2 === 1) r -= 1; // half to even, like NumPy's rint
        rgba[p * 4 + c] = r;
      }
      rgba[p * 4 + 3] = 255;
    }
    return rgba;
  }

  /* z + sum(strength * vector) in float64, in the order given, then rounded to float32:
   * the same numbers as minigan.studio.link.edited_noise. edits: [[name, strength], ...]. */
  function editedNoise(z, edits, vectors) {
    const out = Float64Array.from(z);
    for (const [name, strength] of edits) {
      const v = vectors[name];
      if (!v) throw new Error("no vector named " + name);
      for (let i = 0; i < out.length; i++) out[i] = out[i] + strength * v[i];
    }
    return Float32Array.from(out);
  }

  /* Spherical interpolation, as minigan.latent.slerp: the direction turns along the great
   * circle while the norm moves linearly; float64 inside, float32 out. */
  function slerp(z0, z1, t) {
    const n = z0.length;
    let r0 = 0, r1 = 0, dot = 0;
    for (let i = 0; i < n; i++) { r0 += z0[i] * z0[i]; r1 += z1[i] * z1[i]; }
    r0 = Math.sqrt(r0); r1 = Math.sqrt(r1);
    const out = new Float32Array(n);
    const lerp = function () { for (let i = 0; i < n; i++) out[i] = (1 - t) * z0[i] + t * z1[i]; return out; };
    if (r0 === 0 || r1 === 0) return lerp();
    for (let i = 0; i < n; i++) dot += (z0[i] / r0) * (z1[i] / r1);
    const omega = Math.acos(Math.min(Math.max(dot, -1), 1));
    if (Math.sin(omega) < 1e-6) return lerp();
    const a = Math.sin((1 - t) * omega) / Math.sin(omega), b = Math.sin(t * omega) / Math.sin(omega);
    const radius = (1 - t) * r0 + t * r1;
    for (let i = 0; i < n; i++) out[i] = radius * (a * z0[i] / r0 + b * z1[i] / r1);
    return out;
  }

  return { halfToFloat, readArray, loadModel, convTranspose, generate, toRGBA, editedNoise, slerp };
});
