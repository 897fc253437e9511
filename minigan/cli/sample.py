"""``python -m minigan sample``: draw idols from a trained generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..data.dataset import to_images
from ..errors import MiniganError
from ..sampling import generate, noise
from ..viz import captioned_grid, save_grid
from .args import (IMAGE_SUFFIXES, MAX_IDOLS, add_force, add_generator_arguments, add_idol_arguments, load_generator,
                   made, make_parser, named_idols, output_folder, output_path, whole)

__all__ = ["main"]


def build_parser(prog: str | None = None):
    parser = make_parser(
        "sample", prog=prog,
        description="Draw idols from a trained generator. The output's suffix decides the form: "
                    "a .png is one grid, a .npz holds the images (uint8, N x 64 x 64 x 3) and their "
                    "noise vectors, a name without a suffix is a folder with one PNG per idol. "
                    "Idol i of --seed S is the same idol in every command (`--idols i --seed S`).")
    add_generator_arguments(parser)
    parser.add_argument("--n", type=whole(1, MAX_IDOLS), default=64, help="how many idols")
    add_idol_arguments(parser, "instead of the first --n, these idols of the numbered grid, e.g. 3,17,22",
                       "default: idols 0 to N-1")
    parser.add_argument("--out", required=True, help="grid.png, samples.npz or a folder")
    parser.add_argument("--nrow", type=whole(1, 1000), default=8, help="images per row of a grid")
    parser.add_argument("--scale", type=whole(1, 16), default=None, help="enlarge the grid's pixels (default: 1; 2 with --numbered)")
    parser.add_argument("--numbered", action="store_true",
                        help="print each idol's number under it, to pick exemplars for `minigan vector`")
    add_force(parser)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        out = output_path(out, "samples.png", force=args.force)
    elif suffix == ".npz":
        out = output_path(out, "samples.npz", suffixes=(".npz",), force=args.force)
    elif suffix:
        raise MiniganError(f"--out {out}: use a .png grid, an .npz file, or a folder name without a suffix")
    else:
        out = output_folder(out, args.force, ours=lambda p: p.suffix == ".png" and p.name.startswith(("idol_", "seed_")))
    G, _, kind = load_generator(args)
    if args.idols or args.seeds:
        z, labels = named_idols(args, G.nz, kind, ())
    else:
        z, labels = noise(np.random.default_rng(args.seed), args.n, G.nz, kind), [str(i) for i in range(args.n)]
    images = to_images(generate(G, z))  # (N, S, S, 3) uint8
    if suffix:
        made(out)
    else:
        out.mkdir(parents=True, exist_ok=True)
    if suffix in IMAGE_SUFFIXES:
        if args.numbered:
            captioned_grid(images, labels, nrow=args.nrow, scale=args.scale or 2).save(out)
        else:
            save_grid(images, out, nrow=args.nrow, scale=args.scale or 1)
    elif suffix == ".npz":
        np.savez_compressed(out, images=images, z=z, seed=np.int64(args.seed))
    else:
        digits = len(str(len(images) - 1))
        names = ([f"idol_{i:0{digits}d}" for i in range(len(images))] if not (args.idols or args.seeds)
                 else [label.replace("#", "idol_").replace("seed ", "seed_") for label in labels])
        for name, image in zip(names, images):
            Image.fromarray(image).save(out / f"{name}.png")
    which = ", ".join(labels) if args.idols or args.seeds else f"seed {args.seed}"
    print(f"wrote {len(images)} idols ({which}) to {out}")
    return 0
