"""``python -m minigan interpolate``: walk the noise space between pairs of idols."""

from __future__ import annotations

import numpy as np

from ..errors import MiniganError
from ..latent import interpolation_strips
from ..viz import image_grid, labelled_grid, save_gif
from ..conditioning import parse_label_set
from ..data import to_images
from ..sampling import generate
from .args import (add_force, add_generator_arguments, add_idol_arguments, is_conditional, load_generator,
                   make_parser, made, named_idols, noise_size, output_path, seeded_labels, whole)

__all__ = ["main"]


def main(argv=None) -> int:
    parser = make_parser(
        "interpolate",
        description="Walk the noise space between pairs of idols: each row of the picture starts at "
                    "idol A, ends at idol B, and shows the idols of the points between them (the "
                    "blog's figure); a GIF morphs every pair at once, there and back. Name idols by "
                    "their number on the grid of `minigan sample --numbered --seed S` (--idols, with "
                    "--seed S) or one per seed (--seeds). Spherical interpolation (the default for "
                    "Gaussian noise) keeps every point at the norm the generator was trained on; the "
                    "straight line (--linear, the blog's) passes through weaker, washed-out idols "
                    "midway.")
    add_generator_arguments(parser)
    add_idol_arguments(parser, "pairs of idol numbers, A,B[,C,D...]: rows A->B, C->D...",
                       "default: 0,1,2,3,4,5,6,7")
    parser.add_argument("--steps", type=whole(2, 1000), default=10, help="images per row, endpoints included")
    parser.add_argument("--from", dest="start", default=None, metavar="LABEL=VALUE,...",
                        help="for a model trained with --condition: each idol (a row, its noise fixed) walks from "
                             "these labels ...")
    parser.add_argument("--to", dest="end", default=None, metavar="LABEL=VALUE,...",
                        help="... to these (the one-hot inputs move in a straight line; other labels stay)")
    method = parser.add_mutually_exclusive_group()
    method.add_argument("--slerp", dest="method", action="store_const", const="slerp",
                        help="spherical interpolation (the default for Gaussian noise)")
    method.add_argument("--linear", dest="method", action="store_const", const="linear",
                        help="straight line, as in the blog (the default for uniform noise)")
    parser.add_argument("--out", default="interpolation.png", help="output PNG, or a folder; the GIF is written next to it")
    parser.add_argument("--gif-frames", type=whole(0, 1000), default=24, help="frames from A to B in the GIF (0: no GIF)")
    parser.add_argument("--scale", type=whole(1, 16), default=2, help="enlarge pixels")
    add_force(parser)
    args = parser.parse_args(argv)
    out = output_path(args.out, "interpolation.png", force=args.force)
    if args.gif_frames:
        output_path(out.with_suffix(".gif"), "interpolation.gif", suffixes=(".gif",), force=args.force)
    G, meta, kind = load_generator(args)
    if args.start is not None or args.end is not None or is_conditional(G):
        return between_labels(args, G, meta, kind, out)
    method = args.method or ("slerp" if kind == "gaussian" else "linear")
    z, labels = named_idols(args, G.nz, kind, range(8))
    if len(z) % 2:
        raise MiniganError(f"interpolation takes pairs of idols, got {len(z)} ({', '.join(labels)})")
    z_start, z_end = z[0::2], z[1::2]  # (P, nz) each
    strips = interpolation_strips(G, z_start, z_end, args.steps, method)  # (P, steps, S, S, 3)
    columns = ["A"] + [f"{t:.2f}" for t in np.linspace(0, 1, args.steps)[1:-1]] + ["B"]
    rows = [f"{a} > {b}" for a, b in zip(labels[0::2], labels[1::2])]
    labelled_grid(strips, rows, columns, scale=args.scale).save(made(out))
    message = f"wrote {len(strips)} {method} interpolation(s) of {args.steps} steps to {out}"
    if args.gif_frames:
        path = out.with_suffix(".gif")
        frames = interpolation_strips(G, z_start, z_end, max(args.gif_frames, 2), method)  # (P, F, S, S, 3)
        pictures = [image_grid(frames[:, k], nrow=min(len(frames), 4), scale=max(args.scale, 2) + 1)
                    for k in range(frames.shape[1])]
        pictures += pictures[-2:0:-1]  # and back again
        save_gif(pictures, path, duration_ms=80, last_frame_ms=80)
        message += f" and the morph to {path}"
    print(message)
    return 0


def between_labels(args, G, meta, kind, out) -> int:
    """A conditional model: every idol (a row, its noise and unnamed labels fixed) from the labels of
    ``--from`` to those of ``--to``, the one-hot blocks moving in a straight line."""
    if not is_conditional(G):
        raise MiniganError(f"--from/--to: {args.checkpoint} is an unconditional DCGAN: it takes no labels; "
                           "interpolate between idols with --idols A,B", argument="from")
    if not args.start or not args.end:
        raise MiniganError(f"{args.checkpoint} is a conditional model: walk an idol between two label sets with "
                           "--from label=value --to label=value (its noise stays)", argument="from")
    start = parse_label_set(args.start, G.attributes, G.vocab)
    end = parse_label_set(args.end, G.attributes, G.vocab)
    z, rows = named_idols(args, noise_size(G), kind, range(8))
    labels = seeded_labels(args, G, meta, len(z))
    a, b = labels.copy(), labels.copy()
    for where, chosen in ((a, start), (b, end)):
        for attribute, value in chosen.items():
            where[:, attribute] = value
    xa, xb = G.inputs(z, a), G.inputs(z, b)  # the same noise; only the one-hot blocks differ
    ts = np.linspace(0, 1, args.steps)
    strips = np.stack([to_images(generate(G, (1 - t) * xa + t * xb)) for t in ts], axis=1)  # (N, steps, S, S, 3)
    columns = [args.start] + [f"{t:.2f}" for t in ts[1:-1]] + [args.end]
    labelled_grid(strips, rows, columns, scale=args.scale).save(made(out))
    print(f"wrote {len(z)} idols from {args.start} to {args.end} in {args.steps} steps (noise fixed) to {out}")
    return 0
