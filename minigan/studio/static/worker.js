/* The studio's Web Worker: loads the model once, then draws idols on request, so the page
 * never freezes while the generator runs (about 0.1 s per idol on a laptop core).
 *
 *   page -> worker  {type: "load"}                         fetch model.json + model.bin
 *   worker -> page  {type: "loaded", model: {...}, ms}     model.json without its weights
 *   page -> worker  {type: "draw", id, noises: [Float32Array, ...]}
 *   worker -> page  {type: "drawn", id, images: [Uint8ClampedArray RGBA, ...], ms}
 *   worker -> page  {type: "error", id, message}
 */
"use strict";
importScripts("generator.js");

let model = null;

async function load() {
  const start = performance.now();
  const [jsonResponse, binResponse] = await Promise.all([fetch("model.json"), fetch("model.bin")]);
  if (!jsonResponse.ok || !binResponse.ok) throw new Error("cannot fetch model.json / model.bin (" + jsonResponse.status + ")");
  const json = await jsonResponse.json();
  model = MiniganGenerator.loadModel(json, await binResponse.arrayBuffer());
  const { layers, ...about } = json; // the page needs the vectors and the card, not the weights
  postMessage({ type: "loaded", model: about, ms: performance.now() - start });
}

function draw(message) {
  const start = performance.now();
  const images = message.noises.map((z) => MiniganGenerator.toRGBA(MiniganGenerator.generate(model, z), model.size));
  const ms = (performance.now() - start) / Math.max(images.length, 1);
  postMessage({ type: "drawn", id: message.id, images, ms }, images.map((image) => image.buffer));
}

onmessage = (event) => {
  const message = event.data;
  try {
    if (message.type === "load") load().catch((error) => postMessage({ type: "error", message: String(error.message || error) }));
    else if (message.type === "draw") draw(message);
  } catch (error) {
    postMessage({ type: "error", id: message.id, message: String(error.message || error) });
  }
};
