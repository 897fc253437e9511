"""``python -m minigan edit``: add an attribute vector to idols, and subtract it."""

from __future__ import annotations

import numpy as np

from ..latent import edit_images, load_vector
from ..viz import labelled_grid, save_gif
from ..conditioning import parse_label_set
from ..errors import MiniganError
from ..sampling import generate
from ..data import to_images
from .args import (add_force, add_generator_arguments, add_idol_arguments, attach_number_lists, is_conditional,
                   load_generator, make_parser, made, named_idols, noise_size, output_path, parse_floats, require_device,
                   seeded_labels, whole)

__all__ = ["main"]


def main(argv=None) -> int:
    parser = make_parser(
        "edit",
        description="Add an attribute vector to idols, and subtract it: one column per idol, one row "
                    "per strength (the blog's figure: subtracted on top, the original idols in the "
                    "middle, added below). --sweep shows a wider range of strengths and writes a GIF.")
    add_generator_arguments(parser)
    parser.add_argument("--vector", default=None,
                        help="an attribute vector .npz from `minigan vector` (a bare name such as blond: a bundled one)")
    parser.add_argument("--set", default=None, metavar="LABEL=VALUE",
                        help="for a model trained with --condition, instead of --vector: the same idols (same "
                             "noise, same other labels) with this label changed, e.g. hair_color=blond; "
                             "hair_color=all gives one row per value")
    parser.add_argument("--strengths", default="-1.5,0,1.5", help="strengths, one row each")
    parser.add_argument("--sweep", action="store_true",
                        help="strengths -3 to 3 in steps of 0.5 (overrides --strengths) and a GIF of the sweep")
    add_idol_arguments(parser, "idol numbers on the numbered grid, e.g. 3,17,22", "default: 0 to 7")
    parser.add_argument("--out", default=None, help="output PNG, or a folder (default: edit_NAME.png)")
    parser.add_argument("--scale", type=whole(1, 16), default=2, help="enlarge pixels")
    add_force(parser)
    args = parser.parse_args(attach_number_lists(argv))
    require_device(args.device)
    if args.set is not None:
        return edit_labels(args)
    if args.vector is None:
        raise MiniganError("give --vector (an attribute vector) or, for a model trained with --condition, --set "
                           "label=value")
    strengths = list(np.arange(-3, 3.01, 0.5)) if args.sweep else parse_floats(args.strengths, "--strengths", finite=True)
    strengths = sorted(strengths)
    vec = load_vector(args.vector)
    out = output_path(args.out, f"edit_{vec.name}.png", force=args.force)
    if args.sweep:
        output_path(out.with_suffix(".gif"), f"edit_{vec.name}.gif", suffixes=(".gif",), force=args.force)
    G, _, kind = load_generator(args)
    if is_conditional(G):
        raise MiniganError(f"{args.checkpoint} is a conditional model: change its labels with --set label=value "
                           "(the noise, the face, stays); attribute vectors are for the unconditional DCGAN")
    vec = load_vector(args.vector, G.nz)
    z, labels = named_idols(args, G.nz, kind, range(8))
    images = edit_images(G, z, vec.vector, strengths)  # (K, N, S, S, 3)
    row_labels = ["original" if s == 0 else f"{'+' if s > 0 else '-'}{abs(s):g} {vec.name}" for s in strengths]
    labelled_grid(images, row_labels, labels, scale=args.scale).save(made(out))
    message = f"wrote {len(z)} idols at strengths {', '.join(f'{s:g}' for s in strengths)} of {vec.name} to {out}"
    if args.sweep:
        gif = out.with_suffix(".gif")
        frames = [labelled_grid(images[k:k + 1], [row_labels[k]], labels, scale=args.scale,
                                label_width=90) for k in range(len(strengths))]
        save_gif(frames + frames[-2:0:-1], gif, duration_ms=250, last_frame_ms=250)
        message += f" and the sweep to {gif}"
    print(message)
    return 0


def edit_labels(args) -> int:
    """``edit --set label=value`` on a conditional model: row 0 the idols as drawn (their noise and
    labels), then one row per new value of the label, everything else kept."""
    G, meta, kind = load_generator(args)
    if not is_conditional(G):
        raise MiniganError(f"--set: {args.checkpoint} is an unconditional DCGAN: it takes no labels; edit it with "
                           "--vector (an attribute vector from  minigan vector)", argument="set")
    name, sep, value = args.set.partition("=")
    name = name.strip()
    if "," in args.set or not sep:
        raise MiniganError(f"--set {args.set}: edit changes one label, e.g. hair_color=blond (or hair_color=all)",
                           argument="set")
    if value.strip() == "all" and name in G.attributes:
        values = G.vocab[name]
    else:
        values = [value.strip()]
    changes = [parse_label_set(f"{name}={v}", G.attributes, G.vocab) for v in values]
    out = output_path(args.out, f"edit_{name}.png", force=args.force)
    z, columns = named_idols(args, noise_size(G), kind, range(8))
    labels = seeded_labels(args, G, meta, len(z))
    rows, names = [labels], ["original"]
    for change in changes:
        (a, v), = change.items()
        edited = labels.copy()
        edited[:, a] = v
        rows.append(edited)
        names.append(f"{name}={G.vocab[name][v]}")
    images = np.stack([to_images(generate(G, G.inputs(z, r))) for r in rows])  # (rows, N, S, S, 3)
    labelled_grid(images, names, columns, scale=args.scale).save(made(out))
    print(f"wrote {len(z)} idols with {name} set to {', '.join(values)} (noise and other labels kept) to {out}")
    return 0
