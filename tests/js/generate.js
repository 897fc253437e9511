// Run the studio's JavaScript generator in Node, for tests/test_studio.py:
//   node generate.js MODEL_FOLDER NOISE.f32 OUT.f32 [EDITS.json]
// NOISE.f32 holds N x nz float32 values (little-endian); OUT.f32 receives N images as
// (size, size, 3) float32 in [-1, 1]. EDITS.json, if given: [[name, strength], ...] applied to
// every noise vector with the page's editedNoise.
"use strict";
const fs = require("fs");
const path = require("path");
const G = require(path.join(__dirname, "..", "..", "minigan", "studio", "static", "generator.js"));

const [folder, noisePath, outPath, editsPath] = process.argv.slice(2);
const json = JSON.parse(fs.readFileSync(path.join(folder, "model.json"), "utf8"));
const bin = fs.readFileSync(path.join(folder, "model.bin"));
const model = G.loadModel(json, bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
const raw = fs.readFileSync(noisePath);
const noise = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
const edits = editsPath ? JSON.parse(fs.readFileSync(editsPath, "utf8")) : [];
const n = noise.length / model.nz;
const pixels = model.size * model.size * model.channels;
const out = new Float32Array(n * pixels);
const start = process.hrtime.bigint();
for (let i = 0; i < n; i++) {
  const z = G.editedNoise(noise.subarray(i * model.nz, (i + 1) * model.nz), edits, model.vectors);
  out.set(G.generate(model, z), i * pixels);
}
const ms = Number(process.hrtime.bigint() - start) / 1e6 / n;
fs.writeFileSync(outPath, Buffer.from(out.buffer));
console.log(JSON.stringify({ idols: n, ms_per_idol: ms }));
