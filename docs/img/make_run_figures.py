"""Draw the docs' pictures of a finished training run (the default run, chapter 8 and the README).

    python examples/train_idols.py                              # the default run: runs/idols/
    python docs/img/make_run_figures.py --run runs/idols        # -> docs/img/run_*.png, run_progress.gif

These pictures need a trained model, so unlike ``make_figures.py`` they are not redrawn by the
test suite; they are exactly the run's own outputs, cropped and reduced to a palette so that
they stay small:

* ``run_progress.gif``: the first 6 fixed-noise idols of ``samples/`` at a few moments, from
  the untrained generator to the last epoch, each frame labelled;
* ``run_progress.png``: the same as a still picture, four idols (rows) at eight moments (columns);
* ``run_samples.png``: the last epoch's 8x8 grid (``samples/epoch_NNN.png``);
* ``run_fooled.png``: ``fooled.png``; ``run_losses.png``: ``losses.png``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent

TILE, PAD = 64, 2  # the layout of minigan.viz.image_grid: 64x64 tiles, 2 pixels apart


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


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


def progress_gif(run: Path, out: Path, rows: int = 2, cols: int = 3) -> Path:
    """The first ``rows x cols`` idols of each sample grid at chosen moments, labelled."""
    grids = sorted((run / "samples").glob("epoch_*.png"))
    epochs = [g for g in grids if re.fullmatch(r"epoch_\d{3}", g.stem)]
    last = int(epochs[-1].stem.split("_")[1])
    wanted = {0, 1, 3, 10, 30, last}
    picks = [g for g in grids if "_step_" in g.stem or int(g.stem.split("_")[1]) in wanted]
    steps_per_epoch = _steps_per_epoch(run)
    w, h = PAD + cols * (TILE + PAD), PAD + rows * (TILE + PAD)
    font = _font(12)
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
    grids = sorted((run / "samples").glob("epoch_*.png"))
    epochs = [g for g in grids if re.fullmatch(r"epoch_\d{3}", g.stem)]
    last = int(epochs[-1].stem.split("_")[1])
    firsts = [g for g in grids if "_step_" in g.stem]
    picks = [grids[0], firsts[0], firsts[len(firsts) // 2]] if firsts else [grids[0]]
    picks += [g for g in epochs if int(g.stem.split("_")[1]) in (1, 3, 10, 30, last)]
    steps_per_epoch = _steps_per_epoch(run)
    font, head = _font(11), 30
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
    path = out / "run_progress.png"
    _palette(strip).save(path, optimize=True)
    return path


def _steps_per_epoch(run: Path) -> int:
    import json  # noqa: PLC0415

    for line in (run / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "epoch":
            return int(record["step"]) // int(record["epoch"])
    raise ValueError(f"{run}/log.jsonl has no finished epoch")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a finished run folder, e.g. runs/idols")
    parser.add_argument("--out", default=str(HERE), help="where to write (default: docs/img)")
    args = parser.parse_args(argv)
    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    last_grid = sorted(g for g in (run / "samples").glob("epoch_*.png") if re.fullmatch(r"epoch_\d{3}", g.stem))[-1]
    written = [progress_gif(run, out), progress_strip(run, out)]
    for source, name in ((last_grid, "run_samples.png"), (run / "fooled.png", "run_fooled.png"),
                         (run / "losses.png", "run_losses.png")):
        _palette(Image.open(source)).save(out / name, optimize=True)
        written.append(out / name)
    for path in written:
        print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
