"""``python -m minigan dataset``: look at a dataset before training on it.

::

    python -m minigan dataset preview --out sheet.png            # the cast, one icon each
                                                                  # + sheet_character.png
    python -m minigan dataset preview --data path/to/icons --out mine.png
    python -m minigan dataset info [--data idols|DIR]

``preview`` writes a contact sheet with one icon per character (per subfolder for a folder
dataset), a second sheet with every icon of one character, and prints how many characters and
images carry each attribute value. ``info`` prints the size, source, cache file and label counts.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..data import load_dataset
from ..data.augment import augment_batch, augment_options
from ..data.dataset import ImageDataset, to_images, to_model_input
from ..data.summary import attribute_table, describe, group_label
from ..errors import DatasetError
from ..viz import contact_sheet
from .args import SEED, HelpFormatter, add_force, made, make_parser, output_path, whole

__all__ = ["main"]


def _print_table(rows):
    if not rows:
        print("(no attribute labels)")
        return
    head = ("attribute", "value", "characters", "images")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(4)]
    fmt = f"{{:<{widths[0]}}}  {{:<{widths[1]}}}  {{:>{widths[2]}}}  {{:>{widths[3]}}}"
    print(fmt.format(*head))
    last = None
    for r in rows:
        print(fmt.format(r[0] if r[0] != last else "", *r[1:]))
        last = r[0]


def _pick_group(ds: ImageDataset, group: str, which: str | None) -> int:
    vocab = ds.vocab[group]
    if which is None:
        return int(ds.labels[group][0])
    if which.lstrip("-").isdigit():
        i = int(which)
        if not 0 <= i < len(vocab):
            raise DatasetError(f"--character {which}: the index must be in [0, {len(vocab) - 1}]")
        return i
    lowered = [v.lower() for v in vocab]
    if which.lower() in lowered:
        return lowered.index(which.lower())
    close = [v for v in vocab if v.lower().startswith(which.lower()[:2])][:8]
    hint = f" (similar: {', '.join(close)})" if close else ""
    raise DatasetError(f"--character {which!r}: no such {group} in {ds.source}{hint}")


def _save(image: Image.Image, path: Path, colors: int):
    """Save ``image``; with ``colors`` > 0 as a palette image of that many colours (a PNG a
    third of the size, for documentation)."""
    if colors:
        image = image.quantize(colors=min(256, colors), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    image.save(path, optimize=bool(colors))


def _augment_page(images: np.ndarray, name: str, out: Path, args):
    """OUT_augment.png: the character's images as training would see them under ``--augment``."""
    try:
        options = augment_options(args.augment)
    except ValueError as exc:
        raise DatasetError(str(exc), argument="augment") from None
    rng = np.random.default_rng(args.seed)
    x = to_model_input(images)  # (n, 3, 64, 64) float32
    y = augment_batch(x, rng, **options) if options else x
    page = contact_sheet(to_images(y), None, columns=min(11, len(images)), scale=args.character_scale,
                         title=f"{name}, augmented with --augment {args.augment}")
    path = out.with_name(f"{out.stem}_augment{out.suffix or '.png'}")
    _save(page, path, args.colors)
    print(f"wrote {path}")


def _character_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}_character{out.suffix or '.png'}")


def preview(args) -> int:
    out = output_path(args.out, "dataset_preview.png", force=args.force)
    for path in (_character_path(out), out.with_name(f"{out.stem}_augment{out.suffix}")):
        output_path(path, path.name, force=args.force)
    ds = _load(args)
    group = group_label(ds)
    if group:
        firsts = np.unique(ds.labels[group], return_index=True)[1]  # first image of each group
        firsts = firsts[: args.max_tiles] if args.max_tiles else firsts
        captions = [ds.vocab[group][ds.labels[group][i]] for i in firsts] if args.labels else None
    else:
        firsts = np.arange(min(len(ds), args.max_tiles or 256))
        captions = None
    title = f"{ds.source}: {len(ds)} images" + (f", {len(ds.vocab[group])} {group}s" if group else "")
    shown = len(ds.vocab[group]) if group else len(ds)
    if len(firsts) < shown:
        title += f" (the first {len(firsts)} shown)"
    sheet = contact_sheet(ds.images[firsts], captions, columns=args.columns, scale=args.scale, title=title)
    _save(sheet, made(out), args.colors)
    print(f"wrote {out} ({len(firsts)} tiles, one per {group or 'image'})")
    if group:
        g = _pick_group(ds, group, args.character)
        members = np.flatnonzero(ds.labels[group] == g)
        name = ds.vocab[group][g]
        detail = describe(ds, members[0])
        title = f"{name}: {len(members)} images" + (f" ({detail})" if detail else "")
        page = contact_sheet(ds.images[members], None, columns=min(11, len(members)), scale=args.character_scale, title=title)
        path = _character_path(out)
        _save(page, path, args.colors)
        print(f"wrote {path} ({name}, {len(members)} images)")
        if args.augment:
            _augment_page(ds.images[members], name, out, args)
    print()
    _print_table(attribute_table(ds))
    return 0


def info(args) -> int:
    ds = _load(args)
    n, h, w, c = ds.images.shape
    print(f"source      {ds.source}")
    print(f"images      {n} x {h}x{w}x{c} uint8 ({ds.images.nbytes / 2**20:.1f} MiB)")
    print(f"cache       {ds.cache_path if ds.cache_path else '(not cached)'}")
    if not ds.labels:
        print("labels      (none)")
    for name, values in ds.labels.items():
        counts = np.bincount(values, minlength=len(ds.vocab[name]))
        print(f"label       {name}: {len(ds.vocab[name])} values")
        if len(ds.vocab[name]) <= 24:
            print("            " + ", ".join(f"{v} {k}" for v, k in zip(ds.vocab[name], counts)))
        else:
            print(f"            {counts.min()}..{counts.max()} images per value")
    return 0


def _load(args) -> ImageDataset:
    start = time.perf_counter()
    ds = load_dataset(args.data, seed=args.seed)
    seconds = time.perf_counter() - start
    if seconds > 2:
        print(f"loaded {ds.source} in {seconds:.1f} s (cached for next time in {ds.cache_path})")
    return ds


def build_parser():
    parser = make_parser("dataset", description="Look at the built-in idol set or your own image folder before "
                                                "training on it.")
    sub = parser.add_subparsers(dest="action", metavar="{preview,info}")

    def common(p):
        p.add_argument("--data", default="idols",
                       help="'idols' (the built-in set), 'idols:SEED', or a folder of images")
        p.add_argument("--seed", type=SEED, default=0, help="seed of the built-in idol set")

    p = sub.add_parser("preview", formatter_class=HelpFormatter, help="write contact sheets and print attribute counts",
                       description="Write a contact sheet with one image per character (per subfolder for "
                                   "a folder of images), and OUT_character.png with every image of one "
                                   "character; print how many characters and images carry each attribute.")
    p.add_argument("--out", default="dataset_preview.png", help="the sheet to write (a PNG), or a folder")
    common(p)
    p.add_argument("--character", default=None, metavar="NAME_OR_INDEX",
                   help="whose images go on the second sheet (default: the first character)")
    p.add_argument("--columns", type=whole(1, 1000), default=16, help="tiles per row of the cast sheet")
    p.add_argument("--scale", type=whole(1, 16), default=1, help="enlarge the cast sheet's tiles this many times")
    p.add_argument("--character-scale", type=whole(1, 16), default=2,
                   help="enlarge the character sheet's tiles this many times")
    p.add_argument("--max-tiles", type=whole(0, 100_000), default=0, help="at most this many tiles on the cast sheet (0: all)")
    p.add_argument("--no-labels", dest="labels", action="store_false", help="no names under the tiles")
    p.add_argument("--augment", default=None, metavar="PRESET_OR_SETTINGS",
                   help="also write OUT_augment.png: the character's images augmented with a preset "
                        "(light, blog) or settings like 'zoom=1.0:1.2,rotate=15,flip=1'")
    p.add_argument("--colors", type=whole(0, 256), default=0, metavar="N",
                   help="save palette PNGs of N <= 256 colours (smaller files, e.g. for docs; default: full RGB)")
    add_force(p)
    p.set_defaults(func=preview)

    p = sub.add_parser("info", formatter_class=HelpFormatter, help="print size, source, cache file and label counts",
                       description="Print a dataset's size, source, cache file and label counts.")
    common(p)
    p.set_defaults(func=info)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)
