"""``python -m minigan sample``: draw idols from a trained generator."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.dataset import to_images
from ..errors import MiniganError
from ..sampling import generate, noise
from ..studio.link import IdolLink, edited_noise, parse_link
from ..studio.web import model_id
from ..viz import captioned_grid, save_grid
from .args import (IMAGE_SUFFIXES, MAX_IDOLS, add_force, add_generator_arguments, add_idol_arguments, add_label_argument,
                   is_conditional, label_names, load_generator, made, make_parser, named_idols, noise_size, output_folder,
                   output_path, whole, with_labels)
from .studio import studio_vectors

__all__ = ["main"]


def build_parser(prog: str | None = None):
    parser = make_parser(
        "sample", prog=prog,
        description="Draw idols from a trained generator. The output's suffix decides the form: "
                    "a .png is one grid, a .npz holds the images (uint8, N x 64 x 64 x 3) and their "
                    "noise vectors, a name without a suffix is a folder with one PNG per idol. "
                    "Idol i of --seed S is the same idol in every command (`--idols i --seed S`). "
                    "--link draws the one idol of an Idol Studio link (or of a PNG the studio saved).")
    add_generator_arguments(parser)
    parser.add_argument("--n", type=whole(1, MAX_IDOLS), default=64, help="how many idols")
    add_idol_arguments(parser, "instead of the first --n, these idols of the numbered grid, e.g. 3,17,22",
                       "default: idols 0 to N-1")
    parser.add_argument("--out", required=True, help="grid.png, samples.npz or a folder")
    parser.add_argument("--nrow", type=whole(1, 1000), default=8, help="images per row of a grid")
    parser.add_argument("--scale", type=whole(1, 16), default=None, help="enlarge the grid's pixels (default: 1; 2 with --numbered)")
    parser.add_argument("--numbered", action="store_true",
                        help="print each idol's number under it, to pick exemplars for `minigan vector`")
    add_label_argument(parser)
    parser.add_argument("--link", default=None, metavar="URL",
                        help="the idol of a studio link (the whole URL, its #fragment, or a PNG the studio saved, "
                             "which keeps its link): the same pixels as the page's canvas")
    parser.add_argument("--vector", action="append", default=None, metavar="V.npz",
                        help="with --link: the vectors of its sliders (repeatable; default: the bundled ones "
                             "with --checkpoint pretrained)")
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
    link = read_link(args.link) if args.link is not None else None
    if link is not None and (args.idols or args.seeds or args.numbered):
        raise MiniganError("--link draws the one idol of the link: leave out --idols, --seeds and --numbered")
    if link is None and args.vector:
        raise MiniganError("--vector is for the sliders of a --link; to move idols along a vector use  python -m minigan edit")
    if link is not None and not suffix:
        raise MiniganError(f"--out {out}: --link draws one idol; name a .png (or .npz) file")
    G, meta, kind = load_generator(args)
    classes = None
    if link is not None:
        if is_conditional(G):
            raise MiniganError("--link is for the studio's links, which the unconditional models make; this model "
                               "is conditional: draw with --set instead")
        z, labels = link_noise(link, args, G), ["link"]
    elif args.idols or args.seeds:
        z, labels = named_idols(args, noise_size(G), kind, ())
    else:
        z, labels = noise(np.random.default_rng(args.seed), args.n, noise_size(G), kind), [str(i) for i in range(args.n)]
    inputs, classes = with_labels(args, G, meta, z) if link is None else (z, None)
    if classes is not None and args.numbered:
        labels = [f"{name} {what}" for name, what in zip(labels, label_names(G, classes))]
    images = to_images(generate(G, inputs))  # (N, S, S, 3) uint8
    if suffix:
        made(out)
    else:
        out.mkdir(parents=True, exist_ok=True)
    if suffix in IMAGE_SUFFIXES and link is not None:  # the idol alone, as the page's canvas (x --scale)
        scale = args.scale or 1
        Image.fromarray(images[0]).resize((images.shape[2] * scale, images.shape[1] * scale), Image.NEAREST).save(out)
    elif suffix in IMAGE_SUFFIXES:
        if args.numbered:
            captioned_grid(images, labels, nrow=args.nrow, scale=args.scale or 2).save(out)
        else:
            save_grid(images, out, nrow=args.nrow, scale=args.scale or 1)
    elif suffix == ".npz":
        extra = {} if classes is None else {"labels": classes, "attributes": np.array(G.attributes)}
        np.savez_compressed(out, images=images, z=z, seed=np.int64(args.seed), **extra)
    else:
        digits = len(str(len(images) - 1))
        names = ([f"idol_{i:0{digits}d}" for i in range(len(images))] if not (args.idols or args.seeds)
                 else [label.replace("#", "idol_").replace("seed ", "seed_") for label in labels])
        for name, image in zip(names, images):
            Image.fromarray(image).save(out / f"{name}.png")
    which = ("the link's idol" if link is not None else ", ".join(labels) if args.idols or args.seeds
             else f"seed {args.seed}")
    print(f"wrote {len(images)} idols ({which}) to {out}")
    return 0


def read_link(text: str) -> IdolLink:
    """The link of ``--link``: a URL or fragment, or a PNG file that holds one (the studio's Save
    writes it into a ``minigan-link`` text chunk)."""
    path = Path(text)
    if path.suffix.lower() == ".png" and "#" not in text:
        if not path.is_file():
            raise MiniganError(f"--link {text}: no such PNG file", argument="link")
        try:
            with Image.open(path) as image:
                saved = image.text.get("minigan-link")
        except OSError as exc:
            raise MiniganError(f"--link {text}: not a readable PNG ({exc})", argument="link") from None
        if not saved:
            raise MiniganError(f"--link {text}: this PNG holds no studio link (only the studio's Save button "
                               "writes one)", argument="link")
        text = saved
    return parse_link(text)


def link_noise(link: IdolLink, args, G) -> np.ndarray:
    """``(1, nz)`` float32: the noise the page fed its generator; warns when the link was made
    with another model (the same noise then draws another idol)."""
    if link.z.shape[0] != G.nz:
        raise MiniganError(f"the link holds {link.z.shape[0]}-d noise; this generator takes {G.nz}-d noise "
                           "(the link was made with another model)", argument="link")
    ours = model_id(G)
    if link.model and link.model != ours:
        warnings.warn(f"the link was made with model {link.model}; {args.checkpoint} is model {ours}, "
                      "so the idol is not the one the link was made for", stacklevel=2)
    vectors = studio_vectors(args.checkpoint, args.vector, G.nz) if link.edits else []
    return edited_noise(link, {v.name: v for v in vectors})
