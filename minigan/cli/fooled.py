"""``python -m minigan fooled``: the samples the discriminator rates most real."""

from __future__ import annotations

import numpy as np

from ..backend import normalize_device
from ..checkpoint import load_discriminator
from ..sampling import most_real, noise
from ..viz import captioned_grid
from .args import (MAX_IDOLS, add_force, add_generator_arguments, add_idol_arguments, add_label_argument,
                   is_conditional, load_generator, make_parser, made, named_idols, noise_size, output_path, whole,
                   with_labels)

__all__ = ["main"]


def main(argv=None) -> int:
    parser = make_parser(
        "fooled",
        description="Sample many idols and show the ones the discriminator rates most real, with "
                    "its score D(G(z)) under each (the blog's 'images that fooled the discriminator'). "
                    "With --idols or --seeds, rate those idols instead, best first.")
    add_generator_arguments(parser)
    parser.add_argument("--n", type=whole(1, MAX_IDOLS), default=512, help="how many idols to sample")
    add_idol_arguments(parser, "rate these idols of the numbered grid instead, e.g. 3,17,22",
                       "default: the first --n")
    parser.add_argument("--top", type=whole(1, MAX_IDOLS), default=32, help="how many to show (at most --n)")
    add_label_argument(parser)
    parser.add_argument("--out", default="fooled.png", help="output PNG, or a folder")
    add_force(parser)
    args = parser.parse_args(argv)
    out = output_path(args.out, "fooled.png", force=args.force)
    G, meta, kind = load_generator(args)
    z, classes = None, None
    if args.idols or args.seeds:
        z, labels = named_idols(args, noise_size(G), kind, ())
        args.n, args.top = len(z), min(args.top, len(z))
    if not 1 <= args.top <= args.n:
        parser.error("--top must be between 1 and --n")
    D, _ = load_discriminator(args.checkpoint, normalize_device(args.device))
    if is_conditional(G):  # every idol is drawn and judged for labels drawn as the data mixes them
        if z is None:
            z = noise(np.random.default_rng(args.seed), args.n, noise_size(G), kind)
            labels = [f"#{i}" for i in range(args.n)]
        classes = with_labels(args, G, meta, z)[1]
    images, scores, _, order = most_real(G, D, args.n, args.top, args.seed, kind, z=z, labels=classes)
    names = [labels[i] for i in order] if z is not None else [f"#{i}" for i in order]
    captioned_grid(images, [f"{name} {s:.2f}" for name, s in zip(names, scores)], nrow=8, scale=2).save(made(out))
    print(f"wrote the {args.top} of {args.n} idols D rates most real to {out} "
          f"(scores {scores[-1]:.3f} to {scores[0]:.3f})")
    return 0
