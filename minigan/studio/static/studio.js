/* The Idol Studio's page: what a person does (new idol, sliders, variations, pins, history,
 * favourites, save, link) and the bookkeeping that keeps the canvas, the address bar's fragment
 * and the worker's drawings in step. The generator itself runs in worker.js (generator.js), so
 * nothing here blocks the page.
 *
 * The state of the page is one idol, {z, edits}: the noise (float32) and the sliders that are
 * off zero, in order. The fragment says exactly that (minigan/studio/link.py reads the same
 * format), so the link reproduces the canvas, in the page and in `minigan sample --link`.
 *
 * The contract other tools rely on: <canvas id="idol"> holds the current idol at the model's
 * resolution, and document.body.dataset.ready is "1" once what the current fragment describes
 * has been drawn ("0" while drawing, "error" when it cannot be).
 */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SLIDER_MIN = -3, SLIDER_MAX = 3, HISTORY_SIZE = 24, VARIATIONS = 8;

  // -- words ------------------------------------------------------------------------------------
  const WORDS = {
    en: {
      title: "Idol Studio", loading: "Loading the model…", new: "New idol", favourite: "☆ Favourite",
      unfavourite: "★ Favourite", save: "Save PNG", copy: "Copy link", sliders: "Attributes",
      "sliders-hint": "Each slider adds a direction in noise space (the blog's \"blond vector\"): the same idol, more or less of it.",
      "no-sliders": "This model came without attribute vectors: give some with  python -m minigan studio --vector V.npz",
      reset: "Reset sliders", variations: "Variations", "variations-hint": "Idols near this one. Click one to make it yours.",
      spread: "spread", interpolate: "Between two idols", "pin-a": "Pin as A", "pin-b": "Pin as B", play: "▶ Play",
      stop: "■ Stop", favourites: "Favourites", history: "History", "clear-history": "Clear history",
      footer: "The generator runs in your browser (a Web Worker); nothing leaves this page. The link describes the idol completely: python -m minigan sample --link \"…\" --out idol.png draws the same one.",
      drawing: "Drawing…", drawn: (ms) => `Drawn in ${ms.toFixed(0)} ms`, copied: "Link copied",
      "copy-failed": "Copy the link from the address bar", saved: "Saved",
      "other-model": (m, ours) => `This link was made with another model (${m}); this page has ${ours}, so the idol differs from the one it was made for.`,
      "unknown-slider": (names) => `This model has no slider ${names}: it was left out.`,
      "bad-link": (why) => `The link could not be read (${why}); here is a new idol instead.`,
      "no-favourites": "Click ☆ to keep an idol here.", about: () => aboutLine("en"),
    },
    ja: {
      title: "アイドルスタジオ", loading: "モデルを読み込み中…", new: "新しいアイドル", favourite: "☆ お気に入り",
      unfavourite: "★ お気に入り", save: "PNG で保存", copy: "リンクをコピー", sliders: "属性",
      "sliders-hint": "スライダーはノイズ空間の方向(ブログの「金髪ベクトル」)を足します。同じアイドルのまま、その属性を強く・弱く。",
      "no-sliders": "このモデルには属性ベクトルがありません: python -m minigan studio --vector V.npz で渡してください",
      reset: "スライダーを戻す", variations: "バリエーション", "variations-hint": "近くのアイドルたち。クリックで選べます。",
      spread: "ばらつき", interpolate: "二人のあいだ", "pin-a": "A に固定", "pin-b": "B に固定", play: "▶ 再生",
      stop: "■ 停止", favourites: "お気に入り", history: "履歴", "clear-history": "履歴を消す",
      footer: "生成器はブラウザの中(Web Worker)で動きます。何も送信されません。リンクはアイドルを完全に表します: python -m minigan sample --link \"…\" --out idol.png で同じアイドルが描けます。",
      drawing: "描画中…", drawn: (ms) => `${ms.toFixed(0)} ms で描画`, copied: "リンクをコピーしました",
      "copy-failed": "アドレスバーからリンクをコピーしてください", saved: "保存しました",
      "other-model": (m, ours) => `このリンクは別のモデル(${m})で作られました。このページのモデルは ${ours} なので、違うアイドルになります。`,
      "unknown-slider": (names) => `このモデルにはスライダー ${names} がないので、省きました。`,
      "bad-link": (why) => `リンクを読めませんでした(${why})。代わりに新しいアイドルです。`,
      "no-favourites": "☆ を押すとここに残ります。", about: () => aboutLine("ja"),
    },
  };
  // Names of the vectors minigan builds (python -m minigan vector): the hair colours of the
  // built-in set, in both languages. Other names show as they are.
  const VECTOR_WORDS = {
    black: ["black hair", "黒髪"], brown: ["brown hair", "茶髪"], blond: ["blond", "金髪"], orange: ["orange hair", "オレンジ髪"],
    red: ["red hair", "赤髪"], pink: ["pink hair", "ピンク髪"], purple: ["purple hair", "紫髪"], blue: ["blue hair", "青髪"],
    aqua: ["aqua hair", "水色髪"], silver: ["silver hair", "銀髪"], long: ["long hair", "ロング"], short: ["short hair", "ショート"],
    twintails: ["twin tails", "ツインテール"], ponytail: ["ponytail", "ポニーテール"], bob: ["bob", "ボブ"],
  };
  let language = localStorage.getItem("minigan-studio:language") || (navigator.language.startsWith("ja") ? "ja" : "en");
  const say = (key, ...args) => { const w = WORDS[language][key] ?? WORDS.en[key]; return typeof w === "function" ? w(...args) : w; };

  function aboutLine(lang) {
    if (!model) return "";
    const parts = [(lang === "ja" ? "モデル " : "model ") + model.id];
    const i = model.info || {};
    if (i.name) parts.push(i.name);
    if (i.epochs) parts.push(lang === "ja" ? `${i.epochs} エポック学習` : `trained ${i.epochs} epochs`);
    if (i.fd) parts.push(`FD ${i.fd}`);
    parts.push(`${model.nz}-d noise, ${model.image_size}×${model.image_size}, ${model.precision}`);
    return parts.join(" · ");
  }

  function translate() {
    document.documentElement.lang = language;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = say(el.dataset.i18n); });
    document.querySelectorAll("[data-lang]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === language)));
    document.querySelectorAll("[data-vector]").forEach((el) => { el.textContent = vectorLabel(el.dataset.vector); });
    $("play").textContent = say(playing ? "stop" : "play");
    $("about").textContent = say("about");
    updateFavouriteButton();
    renderShelves();
  }

  function vectorLabel(name) {
    const words = VECTOR_WORDS[name];
    return words ? words[language === "ja" ? 1 : 0] : name;
  }

  // -- the link: the same format as minigan/studio/link.py ------------------------------------
  function encodeNoise(z) {
    const view = new DataView(new ArrayBuffer(4 * z.length));
    z.forEach((v, i) => view.setFloat32(4 * i, v, true)); // little-endian float32
    let text = "";
    new Uint8Array(view.buffer).forEach((b) => { text += String.fromCharCode(b); });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeNoise(text) {
    if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("z is not base64url");
    let b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    const bytes = atob(b64);
    if (!bytes.length || bytes.length % 4) throw new Error(`z holds ${bytes.length} bytes`);
    const view = new DataView(new ArrayBuffer(bytes.length));
    for (let i = 0; i < bytes.length; i++) view.setUint8(i, bytes.charCodeAt(i));
    const z = new Float32Array(bytes.length / 4);
    for (let i = 0; i < z.length; i++) z[i] = view.getFloat32(4 * i, true);
    if (!z.every(Number.isFinite)) throw new Error("z holds NaN or infinite values");
    return z;
  }

  function makeFragment(idol) {
    const parts = ["v=1", "m=" + model.id, "z=" + encodeNoise(idol.z)];
    if (idol.edits.length) parts.push("e=" + idol.edits.map(([n, s]) => n + ":" + String(s)).join(","));
    return parts.join("&");
  }

  function parseFragment(text) {
    const fields = {};
    for (const part of text.replace(/^#/, "").split("&").filter(Boolean)) {
      const at = part.indexOf("=");
      if (at < 0) throw new Error(`${part.slice(0, 30)} has no '='`);
      fields[part.slice(0, at)] = decodeURIComponent(part.slice(at + 1));
    }
    if (!("z" in fields)) throw new Error("no z= in it");
    if ((fields.v ?? "1") !== "1") throw new Error(`format version ${fields.v}`);
    const edits = [];
    for (const pair of (fields.e || "").split(",").filter(Boolean)) {
      const at = pair.lastIndexOf(":");
      const strength = Number(pair.slice(at + 1));
      if (at < 1 || !Number.isFinite(strength) || pair.slice(at + 1).trim() === "") throw new Error(`slider ${pair.slice(0, 40)}`);
      edits.push([pair.slice(0, at), strength]);
    }
    return { z: decodeNoise(fields.z), edits, model: fields.m || null };
  }

  // -- randomness: standard normal float32 noise from the browser's cryptographic generator ----
  function randomNoise(n) {
    const u = new Uint32Array(2 * n);
    crypto.getRandomValues(u);
    const z = new Float32Array(n);
    for (let i = 0; i < n; i++) { // Box-Muller; (u + 1) / 2^32 is in (0, 1], so the log is finite
      const a = (u[2 * i] + 1) / 4294967296, b = u[2 * i + 1] / 4294967296;
      z[i] = Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b);
    }
    return z;
  }

  // -- the worker: the current idol coalesces (only the newest request waits), thumbnails queue --
  const worker = new Worker("worker.js");
  let model = null, inflight = null, pendingMain = null, sequence = 0;
  const queue = [];

  function draw(noises, callback, main = false) {
    const job = { noises, callback };
    if (main) pendingMain = job; else queue.push(job);
    pump();
  }

  function pump() {
    if (inflight || !model) return;
    inflight = pendingMain || queue.shift();
    if (!inflight) return;
    if (inflight === pendingMain) pendingMain = null;
    inflight.id = ++sequence;
    worker.postMessage({ type: "draw", id: inflight.id, noises: inflight.noises });
  }

  worker.onmessage = (event) => {
    const message = event.data;
    if (message.type === "loaded") { started(message.model, message.ms); return; }
    if (message.type === "error") {
      inflight = null;
      document.body.dataset.ready = "error";
      $("status").textContent = message.message;
      console.error("studio worker:", message.message);
      pump();
      return;
    }
    const job = inflight;
    inflight = null;
    job.callback(message.images, message.ms);
    pump();
  };
  worker.onerror = (event) => {
    document.body.dataset.ready = "error";
    $("status").textContent = event.message || "the generator's worker failed";
  };

  // -- the current idol ------------------------------------------------------------------------
  let current = null; // {z, edits}
  let shownFragment = null; // the fragment that the canvas shows

  function editedNoise(idol) {
    return MiniganGenerator.editedNoise(idol.z, idol.edits, model.vectors);
  }

  function paint(canvas, rgba) {
    canvas.getContext("2d").putImageData(new ImageData(rgba, model.image_size, model.image_size), 0, 0);
  }

  function thumbnail(rgba) {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = model.image_size;
    paint(canvas, rgba);
    return canvas;
  }

  /* Make `idol` the current one: the fragment first (so the address bar and ready flag agree),
   * then the drawing. `remember`: put it in the history once drawn. */
  function show(idol, { remember = true, variations = true } = {}) {
    current = { z: Float32Array.from(idol.z), edits: idol.edits.filter(([, s]) => s !== 0) };
    const fragment = makeFragment(current);
    if (location.hash.slice(1) !== fragment) history.replaceState(null, "", "#" + fragment);
    document.body.dataset.ready = "0";
    $("status").textContent = say("drawing");
    setSliders();
    updateFavouriteButton();
    draw([editedNoise(current)], (images, ms) => {
      if (makeFragment(current) !== fragment) return; // the idol changed meanwhile; its own drawing follows
      paint($("idol"), images[0]);
      shownFragment = fragment;
      document.body.dataset.ready = "1";
      if (!performance.getEntriesByName("first-idol").length) performance.mark("first-idol"); // benchmarks/studio_speed.py
      $("status").textContent = say("drawn", ms);
      if (remember) remember_(fragment);
    }, true);
    if (variations) drawVariations();
  }

  function newIdol() { stopPlaying(); show({ z: randomNoise(model.nz), edits: current ? current.edits : [] }); }

  // -- sliders ---------------------------------------------------------------------------------
  function buildSliders() {
    const box = $("sliders");
    box.textContent = "";
    if (!model.vectorList.length) {
      const p = document.createElement("p");
      p.className = "hint";
      p.dataset.i18n = "no-sliders";
      box.append(p);
    }
    for (const v of model.vectorList) {
      const row = document.createElement("label");
      row.className = "slider";
      const name = document.createElement("span");
      name.dataset.vector = v.name;
      name.title = [v.method, v.attribute, v.plus && `${v.plus} − ${v.minus || "rest"}`].filter(Boolean).join(", ");
      const input = document.createElement("input");
      Object.assign(input, { type: "range", min: SLIDER_MIN, max: SLIDER_MAX, step: 0.05, value: 0 });
      input.dataset.name = v.name;
      const out = document.createElement("output");
      out.textContent = "0";
      input.addEventListener("input", () => { out.textContent = Number(input.value).toFixed(2); setEdit(v.name, Number(input.value), false); });
      input.addEventListener("change", () => setEdit(v.name, Number(input.value), true));
      row.append(name, input, out);
      box.append(row);
    }
  }

  function setEdit(name, strength, remember) {
    const edits = current.edits.map((pair) => pair.slice());
    const pair = edits.find(([n]) => n === name);
    if (pair) pair[1] = strength; else edits.push([name, strength]);
    show({ z: current.z, edits }, { remember, variations: remember });
  }

  function setSliders() {
    document.querySelectorAll("#sliders input").forEach((input) => {
      const pair = current.edits.find(([n]) => n === input.dataset.name);
      const value = pair ? pair[1] : 0;
      if (Number(input.value) !== value && document.activeElement !== input) input.value = value;
      input.nextElementSibling.textContent = value.toFixed(2);
    });
  }

  // -- variations: the current noise plus a little more noise; the sliders are kept -----------
  let variationJob = 0;
  function drawVariations() {
    const job = ++variationJob, spread = Number($("spread").value);
    const idols = [];
    for (let k = 0; k < VARIATIONS; k++) {
      const e = randomNoise(model.nz), z = new Float32Array(model.nz);
      for (let i = 0; i < z.length; i++) z[i] = current.z[i] + spread * e[i];
      idols.push({ z, edits: current.edits });
    }
    draw(idols.map(editedNoise), (images) => {
      if (job !== variationJob) return;
      const strip = $("variations");
      strip.textContent = "";
      images.forEach((rgba, k) => {
        const canvas = thumbnail(rgba);
        canvas.title = say("variations-hint");
        canvas.addEventListener("click", () => { stopPlaying(); show(idols[k]); });
        strip.append(canvas);
      });
    });
  }

  // -- two pinned idols and the spherical interpolation between them ---------------------------
  const pins = { a: null, b: null }; // edited noises (float32): what the pin shows

  function pin(which) {
    stopPlaying();
    const z = pins[which] = editedNoise(current);
    draw([z], (images) => { if (pins[which] === z) paint($("pin-" + which), images[0]); });
    const ready = pins.a && pins.b;
    $("between").disabled = $("play").disabled = !ready;
    $("between").value = which === "a" ? 0 : 1;
  }

  /* The idol at t between the pins becomes the current one: its noise is slerp(A, B, t), with
   * the sliders at zero (they then move the mix). */
  function between(t, remember) {
    show({ z: MiniganGenerator.slerp(pins.a, pins.b, t), edits: [] }, { remember, variations: remember });
  }

  let playing = false, playT = 0, playDirection = 1;
  function play() {
    if (playing) { stopPlaying(); return; }
    playing = true;
    playT = Number($("between").value);
    $("play").textContent = say("stop");
    step();
    function step() {
      if (!playing) return;
      playT += 0.025 * playDirection;
      if (playT >= 1 || playT <= 0) { playT = Math.min(Math.max(playT, 0), 1); playDirection = -playDirection; }
      $("between").value = playT;
      show({ z: MiniganGenerator.slerp(pins.a, pins.b, playT), edits: [] }, { remember: false, variations: false });
      draw([], () => requestAnimationFrame(step)); // after the frame above is drawn
    }
  }
  function stopPlaying() {
    if (!playing) return;
    playing = false;
    $("play").textContent = say("play");
    drawVariations();
  }

  // -- history and favourites, kept in this browser per model --------------------------------
  const key = (what) => `minigan-studio:${model.id}:${what}`;
  const read = (what) => { try { return JSON.parse(localStorage.getItem(key(what))) || []; } catch { return []; } };
  const write = (what, list) => {
    try { localStorage.setItem(key(what), JSON.stringify(list)); } catch (error) { console.warn("localStorage:", error); }
  };

  function remember_(fragment) {
    const list = read("history").filter((entry) => entry.fragment !== fragment);
    list.unshift({ fragment, image: $("idol").toDataURL("image/png") });
    write("history", list.slice(0, HISTORY_SIZE));
    renderShelves();
  }

  function toggleFavourite() {
    const fragment = makeFragment(current);
    const list = read("favourites");
    const at = list.findIndex((entry) => entry.fragment === fragment);
    if (at >= 0) list.splice(at, 1);
    else if (shownFragment === fragment) list.unshift({ fragment, image: $("idol").toDataURL("image/png") });
    write("favourites", list);
    updateFavouriteButton();
    renderShelves();
  }

  function updateFavouriteButton() {
    if (!model || !current) return;
    const on = read("favourites").some((entry) => entry.fragment === makeFragment(current));
    $("favourite").textContent = say(on ? "unfavourite" : "favourite");
    $("favourite").setAttribute("aria-pressed", String(on));
  }

  function renderShelves() {
    if (!model) return;
    for (const what of ["favourites", "history"]) {
      const strip = $(what);
      strip.textContent = "";
      const list = read(what);
      if (!list.length && what === "favourites") {
        const p = document.createElement("p");
        p.className = "hint";
        p.textContent = say("no-favourites");
        strip.append(p);
      }
      for (const entry of list) {
        const img = new Image();
        img.src = entry.image;
        img.alt = img.title = what;
        img.addEventListener("click", () => { stopPlaying(); open(entry.fragment); });
        strip.append(img);
      }
    }
  }

  // -- save and share --------------------------------------------------------------------------
  const CRC_TABLE = new Uint32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  function crc32(bytes) {
    let c = 0xffffffff;
    for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  /* A PNG tEXt chunk: length, "tEXt", keyword NUL text (Latin-1), CRC of type and data. */
  function textChunk(keyword, text) {
    const data = new TextEncoder().encode(keyword + "\0" + text); // ASCII here: a URL and hex
    const chunk = new Uint8Array(12 + data.length), view = new DataView(chunk.buffer);
    view.setUint32(0, data.length);
    chunk.set([116, 69, 88, 116], 4); // "tEXt"
    chunk.set(data, 8);
    view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
    return chunk;
  }

  /* The idol scaled up 4x (pixels kept sharp), as PNG bytes with its recipe in tEXt chunks
   * after the header: the link (python -m minigan sample --link reads it back), the model. */
  async function pngBytes(scale = 4) {
    const size = model.image_size * scale, canvas = document.createElement("canvas");
    canvas.width = canvas.height = size;
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.drawImage($("idol"), 0, 0, size, size);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    const png = new Uint8Array(await blob.arrayBuffer());
    const afterHeader = 8 + 25; // signature, then IHDR (4 + 4 + 13 + 4 bytes)
    const chunks = [textChunk("minigan-link", location.href), textChunk("minigan-model", model.id),
      textChunk("Software", "minigan Idol Studio")];
    const out = new Uint8Array(png.length + chunks.reduce((n, c) => n + c.length, 0));
    out.set(png.subarray(0, afterHeader));
    let at = afterHeader;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    out.set(png.subarray(afterHeader), at);
    return out;
  }

  async function save() {
    const bytes = await pngBytes();
    const url = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `idol-${model.id.slice(0, 6)}-${encodeNoise(current.z).slice(0, 8).replace(/[-_]/g, "x")}.png`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    $("status").textContent = say("saved");
  }

  async function copyLink() {
    try {
      await navigator.clipboard.writeText(location.href);
      $("status").textContent = say("copied");
    } catch {
      $("status").textContent = say("copy-failed");
    }
  }

  // -- opening a link --------------------------------------------------------------------------
  function notice(text) {
    $("notice").hidden = !text;
    $("notice").textContent = text || "";
  }

  /* The idol a fragment describes (or a new one if it describes none, or cannot be read). */
  function open(fragment) {
    notice("");
    if (!fragment || !fragment.includes("z=")) { newIdol(); return; }
    let idol;
    try {
      idol = parseFragment(fragment);
      if (idol.z.length !== model.nz) throw new Error(`${idol.z.length}-d noise for a ${model.nz}-d model`);
    } catch (error) {
      notice(say("bad-link", error.message));
      newIdol();
      return;
    }
    const messages = [];
    if (idol.model && idol.model !== model.id) messages.push(say("other-model", idol.model, model.id));
    const unknown = idol.edits.filter(([n]) => !(n in model.vectors)).map(([n]) => n);
    if (unknown.length) messages.push(say("unknown-slider", unknown.join(", ")));
    notice(messages.join(" "));
    show({ z: idol.z, edits: idol.edits.filter(([n]) => n in model.vectors) });
  }

  function started(about, ms) {
    model = about;
    model.vectorList = about.vectors;
    model.vectors = Object.fromEntries(about.vectors.map((v) => [v.name, Float64Array.from(v.values)]));
    console.info(`studio: model ${model.id} loaded in ${ms.toFixed(0)} ms`);
    buildSliders();
    translate();
    document.querySelectorAll("button").forEach((b) => { if (!["between", "play"].includes(b.id)) b.disabled = false; });
    $("play").disabled = $("between").disabled = true;
    open(location.hash.slice(1));
  }

  // -- wiring ----------------------------------------------------------------------------------
  document.querySelectorAll(".actions button, #reset-sliders, #pin-a-button, #pin-b-button").forEach((b) => { b.disabled = true; });
  $("new").addEventListener("click", newIdol);
  $("favourite").addEventListener("click", toggleFavourite);
  $("save").addEventListener("click", save);
  $("copy-link").addEventListener("click", copyLink);
  $("reset-sliders").addEventListener("click", () => show({ z: current.z, edits: [] }));
  $("spread").addEventListener("change", drawVariations);
  $("pin-a-button").addEventListener("click", () => pin("a"));
  $("pin-b-button").addEventListener("click", () => pin("b"));
  $("between").addEventListener("input", () => { stopPlaying(); between(Number($("between").value), false); });
  $("between").addEventListener("change", () => between(Number($("between").value), true));
  $("play").addEventListener("click", play);
  $("clear-history").addEventListener("click", () => { write("history", []); renderShelves(); });
  document.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => {
    language = b.dataset.lang;
    localStorage.setItem("minigan-studio:language", language);
    translate();
  }));
  window.addEventListener("hashchange", () => {
    if (model && location.hash.slice(1) !== makeFragment(current)) { stopPlaying(); open(location.hash.slice(1)); }
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey || event.altKey || !model) return;
    if (event.key === "n") newIdol();
  });
  translate();
  worker.postMessage({ type: "load" });

  // For scripts and tests (the page works without them): the PNG the Save button writes, the
  // fragment of the current idol.
  window.studio = { pngBytes, fragment: () => (current ? makeFragment(current) : null), parseFragment, encodeNoise };
})();
