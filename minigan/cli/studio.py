"""``python -m minigan studio``: the Idol Studio, a page that runs the generator in the browser."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..checkpoint import PRETRAINED, resolve_checkpoint
from ..errors import MiniganError
from ..latent import bundled_vectors, load_vector
from ..studio.site import SITE_FILES, build_site, serve
from ..studio.web import PRECISIONS
from .args import add_force, load_generator, make_parser, output_folder, refuse_conditional, whole

__all__ = ["main", "studio_vectors", "studio_info"]


def build_parser(prog: str | None = None):
    parser = make_parser(
        "studio", prog=prog,
        description="Produce an idol by hand: a page that runs the generator in your browser (new idols, "
                    "attribute sliders, interpolation between two pinned idols, variations, favourites, PNG "
                    "download, links that reproduce an idol). Served on 127.0.0.1 until Ctrl-C; --export "
                    "writes it as a static site instead.")
    parser.add_argument("--checkpoint", default=PRETRAINED,
                        help="a checkpoint .npz, a run folder, or 'pretrained' (the model that ships with minigan)")
    parser.add_argument("--raw", action="store_true",
                        help="the trained generator instead of the moving average of its weights")
    parser.add_argument("--vector", action="append", default=None, metavar="V.npz",
                        help="an attribute vector to offer as a slider (repeatable; default: the bundled "
                             "vectors with the bundled model, none otherwise)")
    parser.add_argument("--port", type=whole(0, 65535), default=8765, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    parser.add_argument("--export", default=None, metavar="DIR",
                        help="write the studio as a static site to DIR (works from any static host) and stop")
    parser.add_argument("--precision", choices=PRECISIONS, default="float16",
                        help="how the page's weights are stored (float16: half the download)")
    add_force(parser)
    return parser


def studio_vectors(checkpoint, paths, nz: int) -> list:
    """The vectors the page offers: ``paths``, or the bundled ones for the bundled model."""
    if paths is None:
        bundled = resolve_checkpoint(checkpoint) != Path(checkpoint)  # the name "pretrained", not a file of that name
        paths = list(bundled_vectors().values()) if bundled else []
    vectors = [load_vector(p, nz=nz) for p in paths]
    names = [v.name for v in vectors]
    for name in names:
        if names.count(name) > 1:
            raise MiniganError(f"two vectors are named {name!r}: the page needs one name per slider "
                               "(rename one with  python -m minigan vector --name ...)")
    return vectors


def studio_info(checkpoint, meta: dict) -> dict:
    """What the page's "about this model" line says."""
    card = meta.get("card") if isinstance(meta.get("card"), dict) else {}
    info = {"checkpoint": PRETRAINED if str(checkpoint) == PRETRAINED else Path(checkpoint).name,
            "epoch": meta.get("epoch"), "generator": meta.get("source_generator", meta.get("generator"))}
    info.update({k: card[k] for k in ("name", "epochs", "fd", "trained_by") if k in card})
    return info


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.export is not None:
        out = output_folder(args.export, args.force, ours=lambda p: p.name in SITE_FILES + ("model.json", "model.bin"))
    args.device, args.noise = "cpu", None
    G, meta, _ = load_generator(args)
    refuse_conditional(G, args, "the studio runs unconditional models only for now; use  minigan sample --set  and "
                                "minigan edit --set  with it")
    vectors = studio_vectors(args.checkpoint, args.vector, G.nz)
    info = studio_info(args.checkpoint, meta)
    if args.export is not None:
        model = build_site(out, G, vectors, info, args.precision)
        size = sum((out / name).stat().st_size for name in SITE_FILES + ("model.json", "model.bin"))
        print(f"wrote the studio to {out} ({size / 1e6:.1f} MB; model {model['id']}, {len(vectors)} sliders); "
              f"serve that folder with any static web server, e.g.  python -m http.server -d {out}")
        return 0
    with tempfile.TemporaryDirectory(prefix="minigan-studio-") as folder:
        build_site(folder, G, vectors, info, args.precision)
        serve(folder, args.port, open_browser=not args.no_browser)
    return 0
