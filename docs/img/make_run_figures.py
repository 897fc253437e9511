"""Draw the docs' pictures of a finished training run (the default run: chapters 8, 10, 12, the README).

    python examples/train_idols.py                              # the default run: runs/idols/
    python -m minigan classifier train                          # the attribute classifier: runs/classifier.npz
    python docs/img/make_run_figures.py --run runs/idols        # -> docs/img/run_*, latent_*, measure_*
    python docs/img/make_run_figures.py --run runs/idols --only latent_edit_blond   # one picture

These pictures need a trained model, so unlike ``make_figures.py`` they are not redrawn by the
test suite; they are exactly the run's own outputs, cropped and reduced to a palette so that
they stay small:

* ``run_progress.gif``: the first 6 fixed-noise idols of ``samples/`` at a few moments, from
  the untrained generator to the last epoch, each frame labelled;
* ``run_progress.png``: the same as a still picture, four idols (rows) at up to eight moments (columns);
* ``run_samples.png``: the last epoch's 8x8 grid (``samples/epoch_NNN.png``);
* ``run_fooled.png``: ``fooled.png``; ``run_losses.png``: ``losses.png``.

Chapters 10 (measuring a GAN) and 12 (the latent space) use the run's final generator
(``checkpoints/last.npz``), some of its epoch checkpoints and the attribute classifier
(``--classifier``, default ``runs/classifier.npz``). Each ``latent_*`` and ``measure_*`` picture
is made by one function below that runs minigan's own commands (``interpolate``, ``sample``,
``vector``, ``edit``, ``evaluate``, ``examples/learn_direction.py``) or functions, exactly as the
chapters write them, into a work folder (``--work``, default ``RUN/docs_figures``), and reduces
the result to a palette.
Attribute vectors and the evaluation are kept in the work folder and reused when the picture is
drawn again (delete the folder to recompute them). ``latent_numbers`` draws no picture: it
writes the figures of chapter 12's "What we measured" into ``WORK/latent_numbers.json``, and
``measure_numbers`` those of chapter 10's tables into ``WORK/measure_numbers.json``.
"""

from __future__ import annotations

import argparse
import io
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from minigan.viz import load_font

HERE = Path(__file__).resolve().parent

TILE, PAD = 64, 2  # the layout of minigan.viz.image_grid: 64x64 tiles, 2 pixels apart


def _palette(image: Image.Image, colors: int = 256) -> Image.Image:
    return image.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def _label(name: str, steps_per_epoch: int) -> str:
    """``epoch_000`` -> 'untrained'; ``epoch_000_step_000013`` -> 'step 13'; ``epoch_012`` -> 'epoch 12'."""
    if name == "epoch_000":
        return "untrained"
    m = re.fullmatch(r"epoch_000_step_(\d+)", name)
    if m:
        return f"step {int(m.group(1))}"
    epoch = int(name.split("_")[1])
    return f"epoch {epoch} (step {epoch * steps_per_epoch})"


def _sample_grids(run: Path) -> tuple[list[Path], list[Path], int]:
    """The run's sample grids in order (with the first epoch's snapshots), the per-epoch ones,
    and the last epoch's number."""
    grids = sorted((run / "samples").glob("epoch_*.png"))
    epochs = [g for g in grids if re.fullmatch(r"epoch_\d{3}", g.stem)]
    return grids, epochs, int(epochs[-1].stem.split("_")[1])


def progress_gif(run: Path, out: Path, rows: int = 2, cols: int = 3) -> Path:
    """The first ``rows x cols`` idols of each sample grid at chosen moments, labelled."""
    grids, _, last = _sample_grids(run)
    wanted = {0, 1, 3, 10, 30, last}
    picks = [g for g in grids if "_step_" in g.stem or int(g.stem.split("_")[1]) in wanted]
    steps_per_epoch = _steps_per_epoch(run)
    w, h = PAD + cols * (TILE + PAD), PAD + rows * (TILE + PAD)
    font = load_font(12)
    frames = []
    for g in picks:
        frame = Image.new("RGB", (w, h + 18), (24, 24, 28))
        frame.paste(Image.open(g).convert("RGB").crop((0, 0, w, h)), (0, 0))
        draw = ImageDraw.Draw(frame)
        text = _label(g.stem, steps_per_epoch)
        draw.text(((w - draw.textlength(text, font=font)) / 2, h + 2), text, fill=(235, 235, 235), font=font)
        frames.append(_palette(frame))
    durations = [700] * (len(frames) - 1) + [2500]
    path = out / "run_progress.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=True)
    return path


def progress_strip(run: Path, out: Path, idols=(0, 1, 2, 3)) -> Path:
    """Rows: idols of the fixed noise; columns: moments of training, labelled on top."""
    grids, epochs, last = _sample_grids(run)
    firsts = [g for g in grids if "_step_" in g.stem]
    picks = [grids[0], firsts[0], firsts[len(firsts) // 2]] if firsts else [grids[0]]
    picks += [g for g in epochs if int(g.stem.split("_")[1]) in (1, 3, 10, 30, last)]
    steps_per_epoch = _steps_per_epoch(run)
    font, head = load_font(11), 30
    strip = Image.new("RGB", (PAD + len(picks) * (TILE + PAD), head + len(idols) * (TILE + PAD)), (24, 24, 28))
    draw = ImageDraw.Draw(strip)
    for c, g in enumerate(picks):
        grid = Image.open(g).convert("RGB")
        x = PAD + c * (TILE + PAD)
        for line, text in enumerate(_label(g.stem, steps_per_epoch).replace(" (", "\n(").split("\n")):
            draw.text((x + (TILE - draw.textlength(text, font=font)) / 2, 2 + 13 * line), text, fill=(235, 235, 235), font=font)
        for r, i in enumerate(idols):
            gy, gx = divmod(i, 8)
            tile = grid.crop((PAD + gx * (TILE + PAD), PAD + gy * (TILE + PAD),
                              PAD + gx * (TILE + PAD) + TILE, PAD + gy * (TILE + PAD) + TILE))
            strip.paste(tile, (x, head + r * (TILE + PAD)))
    return _save(strip, out / "run_progress.png")


def _steps_per_epoch(run: Path) -> int:
    import json  # noqa: PLC0415

    for line in (run / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "epoch":
            return int(record["step"]) // int(record["epoch"])
    raise ValueError(f"{run}/log.jsonl has no finished epoch")


# -- chapters 10 and 12: the metrics and the latent space -----------------------------------------

#: Idols of the grid ``sample --numbered --seed 0`` of the default run's seed-0 average (the
#: bundled model) used by the pictures, picked by eye on it and checked with the classifier.
INTERPOLATION_PAIRS = "50,28,15,61,14,57,52,10"  # blond > black, blond bob > orange twin tails, blond > aqua, red > blond
EDITED_IDOLS = "1,3,6,9,26,39,48,55"  # none of them blond, eight colours and styles
EXEMPLARS_PLUS, EXEMPLARS_MINUS = "10,19,50", "1,28,46"  # three blond idols, three black-haired ones
EDIT_STRENGTHS = "0,0.5,1,1.5,2,2.5,3,4"


def _minigan(*argv) -> None:
    """Run ``python -m minigan ARGV`` in this process; stop on failure."""
    from minigan import cli  # noqa: PLC0415

    argv = [str(a) for a in argv]
    print("  python -m minigan " + " ".join(argv), flush=True)
    status = cli.main(argv)
    if status:
        raise SystemExit(f"python -m minigan {argv[0]} failed with status {status}")


def _vector(ctx, name: str) -> Path:
    """The attribute vector ``name`` of the chapters (made once, kept in the work folder)."""
    path = ctx.work / f"{name}.npz"
    if path.exists():
        return path
    labels = ["--from-labels", "--classifier", ctx.classifier, "--n", 10000]
    recipes = {
        "blond_black": [*labels, "--plus", "blond", "--minus", "black"],  # the blog's recipe
        "blond_rest": [*labels, "--plus", "blond", "--minus", "rest"],
        "blond_rest_balanced": [*labels, "--plus", "blond", "--minus", "rest", "--balance", "hair_style"],
        "blond_exemplars": ["--plus", EXEMPLARS_PLUS, "--minus", EXEMPLARS_MINUS],
    }
    _minigan("vector", "--checkpoint", ctx.run, *recipes[name], "--name", "blond", "--out", path)
    return path


def _evaluation(ctx) -> Path:
    """``evaluate`` of the final generator with the blog's blond vector (made once)."""
    folder = ctx.work / "evaluation"
    if not (folder / "figures.json").exists():
        _minigan("evaluate", "--checkpoint", ctx.run, "--classifier", ctx.classifier, "--n", 1000,
                 "--vector", _vector(ctx, "blond_black"), "--strengths", EDIT_STRENGTHS, "--out", folder)
    return folder


def _save(picture: Image.Image, path: Path) -> Path:
    _palette(picture).save(path, optimize=True)
    return path


def latent_interpolate(ctx) -> list[Path]:
    """Four spherical interpolations (the blog's figure)."""
    work = ctx.work / "interpolate_slerp.png"
    _minigan("interpolate", "--checkpoint", ctx.run, "--idols", INTERPOLATION_PAIRS, "--steps", 10,
             "--gif-frames", 0, "--out", work)
    return [_save(Image.open(work), ctx.out / "latent_interpolate_slerp.png")]


def latent_linear_vs_slerp(ctx) -> list[Path]:
    """The same two pairs, along the straight line and along the great circle, row above row."""
    import numpy as np  # noqa: PLC0415

    from minigan.checkpoint import load_generator  # noqa: PLC0415
    from minigan.cli.args import parse_ints  # noqa: PLC0415
    from minigan.latent import idol_noise, interpolation_strips  # noqa: PLC0415
    from minigan.viz import labelled_grid  # noqa: PLC0415

    G, _ = load_generator(ctx.run)
    rows, labels = [], []
    first = parse_ints(INTERPOLATION_PAIRS, "pairs")[:2]
    for a, b in ((0, 1), tuple(first)):
        z = idol_noise(G.nz, [a, b])  # (2, nz)
        for method in ("linear", "slerp"):
            rows.append(interpolation_strips(G, z[:1], z[1:], 9, method)[0])  # (9, S, S, 3)
            labels.append(f"#{a} > #{b} {method}")
    columns = ["A"] + [f"{t:.3g}" for t in np.linspace(0, 1, 9)[1:-1]] + ["B"]
    return [_save(labelled_grid(np.stack(rows), labels, columns, scale=2), ctx.out / "latent_linear_vs_slerp.png")]


def latent_morph(ctx) -> list[Path]:
    """The four interpolations as a GIF, there and back, at the icons' own size (64x64).

    Twelve steps and one palette of 128 colours for every frame keep it small: the idols' fine
    texture compresses badly in a GIF.
    """
    import numpy as np  # noqa: PLC0415

    from minigan.checkpoint import load_generator  # noqa: PLC0415
    from minigan.cli.args import parse_ints  # noqa: PLC0415
    from minigan.latent import idol_noise, interpolation_strips  # noqa: PLC0415
    from minigan.viz import image_grid  # noqa: PLC0415

    G, _ = load_generator(ctx.run)
    z = idol_noise(G.nz, parse_ints(INTERPOLATION_PAIRS, "pairs"))  # (8, nz)
    steps = 12
    frames = interpolation_strips(G, z[0::2], z[1::2], steps, "slerp")  # (4, steps, S, S, 3)
    pictures = [image_grid(frames[:, k], nrow=4) for k in range(steps)]
    pictures += pictures[-2:0:-1]  # and back
    everything = Image.fromarray(np.concatenate([np.asarray(p) for p in pictures]))
    palette = everything.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pictures = [p.quantize(palette=palette, dither=Image.Dither.NONE) for p in pictures]
    durations = [110] * len(pictures)
    durations[0] = durations[steps - 1] = 700  # linger on A and on B
    path = ctx.out / "latent_morph.gif"
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=durations, loop=0, optimize=True)
    return [path]


def latent_numbered(ctx) -> list[Path]:
    """The numbered grid the exemplars were picked from."""
    work = ctx.work / "numbered.png"
    _minigan("sample", "--checkpoint", ctx.run, "--numbered", "--n", 64, "--scale", 1, "--out", work)
    return [_save(Image.open(work), ctx.out / "latent_numbered.png")]


def _edit(ctx, vector: str, picture: str) -> list[Path]:
    work = ctx.work / f"edit_{vector}.png"
    _minigan("edit", "--checkpoint", ctx.run, "--vector", _vector(ctx, vector), "--strengths", "-1.5,0,1.5",
             "--idols", EDITED_IDOLS, "--out", work)
    return [_save(Image.open(work), ctx.out / picture)]


def latent_edit_blond(ctx) -> list[Path]:
    """The blog's figure: the blond vector (blond minus black, from labels) subtracted and added."""
    return _edit(ctx, "blond_black", "latent_edit_blond.png")


def latent_edit_exemplars(ctx) -> list[Path]:
    """The same with the vector from three exemplars per side."""
    return _edit(ctx, "blond_exemplars", "latent_edit_exemplars.png")


def _edited_rows(ctx, moves, name: str) -> list[Path]:
    """The idols of ``EDITED_IDOLS`` as they are, then one row per ``(label, vector, strength)``."""
    import numpy as np  # noqa: PLC0415

    from minigan.checkpoint import load_generator  # noqa: PLC0415
    from minigan.cli.args import parse_ints  # noqa: PLC0415
    from minigan.latent import edit_images, idol_noise  # noqa: PLC0415
    from minigan.viz import labelled_grid  # noqa: PLC0415

    G, _ = load_generator(ctx.run)
    idols = parse_ints(EDITED_IDOLS, "idols")
    z = idol_noise(G.nz, idols)  # (8, nz)
    rows, labels = [edit_images(G, z, np.zeros(G.nz, np.float32), [0])[0]], ["original"]
    for label, vector, strength in moves:
        rows.append(edit_images(G, z, vector, [strength])[0])  # (8, S, S, 3)
        labels.append(label)
    picture = labelled_grid(np.stack(rows), labels, [f"#{i}" for i in idols], scale=2)
    return [_save(picture, ctx.out / name)]


def latent_edit_compare(ctx) -> list[Path]:
    """The same idols edited at strength 1.5 by each of the four blond vectors."""
    from minigan.latent import load_vector  # noqa: PLC0415

    names = {"blond_black": "blond - black", "blond_rest": "blond - rest",
             "blond_rest_balanced": "balanced", "blond_exemplars": "exemplars"}
    moves = [(f"+1.5 {label}", load_vector(_vector(ctx, name)).vector, 1.5) for name, label in names.items()]
    return _edited_rows(ctx, moves, "latent_edit_compare.png")


def _learned(ctx, keep_weight: float) -> Path:
    """``examples/learn_direction.py`` from blond - rest with ``--keep-weight`` (made once)."""
    import importlib.util  # noqa: PLC0415

    path = ctx.work / f"blond_learned_{keep_weight:g}.npz"
    if not path.exists():
        script = HERE.parents[1] / "examples" / "learn_direction.py"
        spec = importlib.util.spec_from_file_location("learn_direction", script)
        example = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(example)
        argv = ["--checkpoint", ctx.run, "--classifier", ctx.classifier, "--start", _vector(ctx, "blond_rest"),
                "--keep-weight", keep_weight, "--out", path]
        print("  python examples/learn_direction.py " + " ".join(str(a) for a in argv), flush=True)
        if example.main([str(a) for a in argv]):
            raise SystemExit("learn_direction.py failed")
    return path


def latent_edit_learned(ctx) -> list[Path]:
    """The eight idols moved 1 and 1.5 times the learned vector's length by blond - rest and by
    the vector learned with keep weight 0.7, which trades blondness for kept hair styles."""
    import numpy as np  # noqa: PLC0415

    from minigan.latent import load_vector  # noqa: PLC0415

    learned = load_vector(_learned(ctx, 0.7)).vector
    rest = load_vector(_vector(ctx, "blond_rest")).vector
    rest = rest * (np.linalg.norm(learned) / np.linalg.norm(rest))  # as long as the learned vector
    moves = [(f"{name} x{s:g}", v, s) for name, v in (("blond - rest", rest), ("learned 0.7", learned))
             for s in (1, 1.5)]
    return _edited_rows(ctx, moves, "latent_edit_learned.png")


def latent_edit_success(ctx) -> list[Path]:
    """``evaluate --vector``'s edit-success plot for the blog's vector."""
    return [_save(Image.open(_evaluation(ctx) / "edit_success.png"), ctx.out / "latent_edit_success.png")]


def measure_pictures(ctx) -> list[Path]:
    """``evaluate``'s attribute histograms and nearest real images of the final generator."""
    folder = _evaluation(ctx)
    return [_save(Image.open(folder / f"{name}.png"), ctx.out / f"measure_{name}.png")
            for name in ("attributes", "nearest_pixels", "nearest_features")]


def measure_checkpoints(ctx) -> list[Path]:
    """Eight idols (the same noise) from the untrained generator and three of the run's epoch
    checkpoints: a quarter of the way, half way and the last (10, 20 and 30 of the default run)."""
    import numpy as np  # noqa: PLC0415

    from minigan.checkpoint import load_generator  # noqa: PLC0415
    from minigan.data import to_images  # noqa: PLC0415
    from minigan.viz import labelled_grid  # noqa: PLC0415
    from minigan.sampling import generate, noise  # noqa: PLC0415

    checkpoints = _checkpoint_picks(ctx)
    rows = []
    for _, path in checkpoints:
        G, _ = load_generator(path)
        rows.append(to_images(generate(G, noise(np.random.default_rng(0), 8, G.nz))))  # (8, S, S, 3)
    picture = labelled_grid(np.stack(rows), [label for label, _ in checkpoints], None, scale=1)
    return [_save(picture, ctx.out / "measure_checkpoints.png")]


def _checkpoint_picks(ctx) -> list[tuple[str, Path]]:
    """The untrained generator and the run's epoch checkpoints a quarter of the way, half way and last."""
    untrained = ctx.work / "untrained" / "checkpoints" / "last.npz"
    if not untrained.exists():  # the generator the default run started from (same seed, same settings)
        from minigan.train import TrainConfig, Trainer  # noqa: PLC0415

        Trainer(TrainConfig(out=str(ctx.work), name="untrained"), stream=io.StringIO()).save()
    saved = sorted((ctx.run / "checkpoints").glob("epoch_*.npz"))
    if len(saved) < 3:
        raise SystemExit(f"{ctx.run}: measure_checkpoints needs three epoch checkpoints, found {len(saved)}")
    picks = [saved[len(saved) // 4], saved[len(saved) // 2], saved[-1]]
    return [("untrained", untrained)] + [(f"epoch {int(p.stem.split('_')[1])}", p) for p in picks]


def measure_numbers(ctx) -> list[Path]:
    """The figures of chapter 10's tables, into ``WORK/measure_numbers.json``: the mean losses
    and D(G(z)) of the picked epochs' logged steps, and ``evaluate`` of each picked checkpoint."""
    import json  # noqa: PLC0415

    log = [json.loads(line) for line in (ctx.run / "log.jsonl").read_text().splitlines() if line.strip()]
    numbers = {"run": str(ctx.run), "checkpoints": {}}
    for label, path in _checkpoint_picks(ctx):
        folder = ctx.work / f"evaluation_{label.replace(' ', '_')}"
        if not (folder / "figures.json").exists():
            _minigan("evaluate", "--checkpoint", path, "--classifier", ctx.classifier, "--n", 1000, "--out", folder)
        entry = {"evaluate": json.loads((folder / "figures.json").read_text())}
        if label != "untrained":
            steps = [r for r in log if r.get("type") == "step" and r["epoch"] == int(label.split()[1])]
            entry["log"] = {k: round(sum(r[k] for r in steps) / len(steps), 3)
                            for k in ("loss_d", "loss_g", "d_real", "d_fake")}
        numbers["checkpoints"][label] = entry
    path = ctx.work / "measure_numbers.json"
    path.write_text(json.dumps(numbers, indent=1) + "\n")
    return [path]


def latent_numbers(ctx) -> list[Path]:
    """The figures of chapter 12's "What we measured", into ``WORK/latent_numbers.json``: how
    smooth the interpolations are, who the blond idols are, the four vectors' edit success and
    that of the vector learned with keep weight 0.7 (against blond - rest scaled to learn_direction's
    limit and a random direction as long), all on 500 idols of seed 1."""
    import json  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    from minigan.checkpoint import load_generator  # noqa: PLC0415
    from minigan.latent import interpolate, load_vector  # noqa: PLC0415
    from minigan.metrics import edit_success  # noqa: PLC0415
    from minigan.models.classifier import generate_and_classify, load_classifier  # noqa: PLC0415
    from minigan.sampling import generate, noise  # noqa: PLC0415

    G, _ = load_generator(ctx.run)
    clf, clf_meta = load_classifier(ctx.classifier)
    vocab = clf_meta["vocab"]
    blond, black = vocab["hair_color"].index("blond"), vocab["hair_color"].index("black")
    numbers = {"run": str(ctx.run), "classifier": str(ctx.classifier)}

    grid = noise(np.random.default_rng(0), 64, G.nz)  # pairs 0>1, 2>3, ... of the numbered grid
    for steps in (10, 20):
        largest = []
        for a, b in zip(grid[0::2], grid[1::2]):
            x = generate(G, interpolate(a, b, steps)).astype(np.float64)  # (steps, 3, S, S)
            neighbours = np.sqrt(((x[1:] - x[:-1]) ** 2).mean(axis=(1, 2, 3)))
            largest.append(neighbours.max() / np.sqrt(((x[-1] - x[0]) ** 2).mean()))
        numbers[f"interpolation_{steps}_steps"] = {"median": round(float(np.median(largest)), 3),
                                                   "max": round(float(np.max(largest)), 3),
                                                   "even": round(1 / (steps - 1), 3), "pairs": len(largest)}

    z = noise(np.random.default_rng(0), 10000, G.nz)  # the idols `vector --from-labels` sampled
    predicted = generate_and_classify(G, clf, z, progress="classifying 10,000 idols")[0].predictions
    styles = vocab["hair_style"]
    numbers["styles_among"] = {
        name: {"n": int((predicted["hair_color"] == c).sum()),
               **{s: round(float((predicted["hair_style"][predicted["hair_color"] == c] == i).mean()), 3)
                  for i, s in enumerate(styles)}}
        for name, c in (("blond", blond), ("black", black))}

    def success(vector, strengths):
        rows = edit_success(G, clf, vector, "hair_color", blond, strengths, n=500, seed=1, progress=False)
        return [{"s": r["strength"], "blond": r["share_target"], "style_kept": r["keep"]["hair_style"],
                 "blond_random": r["share_target_random"], "style_kept_random": r["keep_random"]["hair_style"]}
                for r in rows]

    numbers["vectors"] = {name: {"norm": round(float(np.linalg.norm(v)), 2), "rows": success(v, [0, 1, 1.5, 2])}
                          for name in ("blond_black", "blond_rest", "blond_rest_balanced", "blond_exemplars")
                          for v in [load_vector(_vector(ctx, name)).vector]}
    learned_strengths = [0.75, 1, 1.25, 1.5]
    start = load_vector(_vector(ctx, "blond_rest")).vector
    numbers["learned"] = {}
    for weight in (0.7,):  # the picture's; each weight costs a few minutes of learning
        v = load_vector(_learned(ctx, weight)).vector
        numbers["learned"][f"{weight:g}"] = {"norm": round(float(np.linalg.norm(v)), 2),
                                             "rows": success(v, learned_strengths)}
    limit = 1.5 * float(np.linalg.norm(start))  # learn_direction's default limit, where it starts
    numbers["learned"]["start"] = {"norm": round(limit, 2),
                                   "rows": success(start * (limit / np.linalg.norm(start)), learned_strengths)}
    path = ctx.work / "latent_numbers.json"
    path.write_text(json.dumps(numbers, indent=1) + "\n")
    print(json.dumps(numbers, indent=None)[:3000], flush=True)
    return [path]


def run_pictures(ctx) -> list[Path]:
    """Chapter 8's pictures: the progress GIF and strip, the last grid, the fooled gallery, the losses."""
    run, out = ctx.run, ctx.out
    last_grid = _sample_grids(run)[1][-1]
    written = [progress_gif(run, out), progress_strip(run, out)]
    for source, name in ((last_grid, "run_samples.png"), (run / "fooled.png", "run_fooled.png"),
                         (run / "losses.png", "run_losses.png")):
        written.append(_save(Image.open(source), out / name))
    return written


FIGURES = {
    "run": run_pictures,
    "latent_interpolate": latent_interpolate,
    "latent_linear_vs_slerp": latent_linear_vs_slerp,
    "latent_morph": latent_morph,
    "latent_numbered": latent_numbered,
    "latent_edit_blond": latent_edit_blond,
    "latent_edit_exemplars": latent_edit_exemplars,
    "latent_edit_compare": latent_edit_compare,
    "latent_edit_learned": latent_edit_learned,
    "latent_edit_success": latent_edit_success,
    "measure_pictures": measure_pictures,
    "measure_checkpoints": measure_checkpoints,
    "latent_numbers": latent_numbers,
    "measure_numbers": measure_numbers,
}


@dataclass
class Context:
    run: Path  # the run folder
    out: Path  # where the docs' pictures go
    classifier: Path  # the attribute classifier
    work: Path  # intermediate outputs: vectors, the evaluation, full-size pictures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a finished run folder, e.g. runs/idols")
    parser.add_argument("--out", default=str(HERE), help="where to write (default: docs/img)")
    parser.add_argument("--classifier", default="runs/classifier.npz",
                        help="the attribute classifier (default runs/classifier.npz)")
    parser.add_argument("--work", default=None, help="intermediate outputs (default RUN/docs_figures)")
    parser.add_argument("--only", action="append", choices=sorted(FIGURES),
                        help="draw only this picture (repeatable; default: all)")
    args = parser.parse_args(argv)
    run = Path(args.run)
    ctx = Context(run, Path(args.out), Path(args.classifier), Path(args.work) if args.work else run / "docs_figures")
    ctx.out.mkdir(parents=True, exist_ok=True)
    ctx.work.mkdir(parents=True, exist_ok=True)
    for name in args.only or FIGURES:
        print(f"{name}:", flush=True)
        for path in FIGURES[name](ctx):
            print(f"  {path} ({path.stat().st_size // 1024} KiB)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
