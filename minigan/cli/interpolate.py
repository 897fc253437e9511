"""``python -m minigan interpolate``: walk the noise space between pairs of idols."""

from __future__ import annotations

import numpy as np

from ..errors import MiniganError
from ..latent import interpolation_strips
from ..viz import image_grid, labelled_grid, save_gif
from .args import (add_force, add_generator_arguments, add_idol_arguments, load_generator, make_parser, named_idols,
                   made, output_path, refuse_conditional, whole)

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
    G, _, kind = load_generator(args)
    refuse_conditional(G, args, "draw its idols with  minigan sample --set label=value  and change one label with "
                                "minigan edit --set label=value (interpolating between label sets is not written yet)")
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
