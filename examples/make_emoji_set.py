"""A real image set that minigan did not draw: Noto Color Emoji, one 64x64 icon per emoji, with
a labels.csv of their Unicode groups.

Debian ships both halves: the font (package ``fonts-noto-color-emoji``, 3,600-odd colour glyphs
drawn by Google's designers) and the list of emoji with their groups and subgroups (package
``unicode-data``, ``emoji-test.txt``). This script draws every fully-qualified emoji the font has
on a white square, shrinks it to 64x64 with LANCZOS, and writes::

    OUT/0001.png ... OUT/3655.png
    OUT/labels.csv      file,group,subgroup   (e.g. 0001.png,Smileys & Emotion,face-smiling)

so that ``--data OUT`` trains on real icons (chapter 10's recipe questions on real images) and
``--condition group`` trains a conditional model on a labels.csv of someone else's labels.

    apt-get install -y fonts-noto-color-emoji unicode-data
    python examples/make_emoji_set.py --out data/emoji
    python -m minigan dataset preview --data data/emoji --out emoji.png
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
EMOJI_TEST = "/usr/share/unicode/emoji/emoji-test.txt"
#: Noto Color Emoji is a bitmap font: its glyphs exist at this size only (136x128 pixels)
BITMAP_SIZE = 109


def read_emoji_test(path) -> list[tuple[str, str, str, str]]:
    """``[(emoji, name, group, subgroup), ...]`` for every fully-qualified emoji of ``emoji-test.txt``."""
    group = subgroup = ""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif "; fully-qualified" in line and not line.startswith("#"):
            codes, comment = line.split(";")[0].split(), line.split("#", 1)[1].strip()
            name = comment.split(" ", 2)[-1]  # "😀 E1.0 grinning face" -> "grinning face"
            out.append(("".join(chr(int(c, 16)) for c in codes), name, group, subgroup))
    return out


def draw(emoji: str, font, size: int = 64) -> np.ndarray | None:
    """One emoji as a ``(size, size, 3)`` uint8 icon on white; None when the font lacks it (it
    would draw a blank or a placeholder box)."""
    canvas = Image.new("RGBA", (136, 128), (255, 255, 255, 0))
    ImageDraw.Draw(canvas).text((0, 0), emoji, font=font, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        return None
    alpha = np.asarray(canvas)[..., 3]
    if alpha.mean() < 2:  # next to nothing drawn
        return None
    rgb = np.asarray(canvas)[..., :3]
    if (rgb[alpha > 0].std(axis=0) < 1).all():  # one flat colour: the font's box for a missing glyph
        return None
    square = Image.new("RGBA", (136, 136), (255, 255, 255, 255))
    square.alpha_composite(canvas, (0, 4))
    return np.asarray(square.convert("RGB").resize((size, size), Image.LANCZOS))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the folder to write (created; must be empty or absent)")
    parser.add_argument("--size", type=int, default=64, help="side of the icons")
    parser.add_argument("--font", default=FONT)
    parser.add_argument("--emoji-test", default=EMOJI_TEST)
    args = parser.parse_args(argv)
    for path, package in ((args.font, "fonts-noto-color-emoji"), (args.emoji_test, "unicode-data")):
        if not Path(path).is_file():
            print(f"error: {path} is missing: apt-get install -y {package}", file=sys.stderr)
            return 2
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} is not empty", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    font = ImageFont.truetype(args.font, BITMAP_SIZE)
    rows, missing = [], 0
    for emoji, name, group, subgroup in read_emoji_test(args.emoji_test):
        icon = draw(emoji, font, args.size)
        if icon is None:
            missing += 1
            continue
        file = f"{len(rows) + 1:04d}.png"
        Image.fromarray(icon).save(out / file)
        rows.append((file, group, subgroup, name))
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "group", "subgroup"])
        writer.writerows(row[:3] for row in rows)
    with open(out / "names.txt", "w", encoding="utf-8") as f:  # what each file is, for people
        f.writelines(f"{file}\t{name}\n" for file, _, _, name in rows)
    groups = sorted({r[1] for r in rows})
    print(f"wrote {len(rows)} icons of {len(groups)} groups and {len({r[2] for r in rows})} subgroups to {out}"
          + (f" ({missing} emoji the font lacks were left out)" if missing else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
