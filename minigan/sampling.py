"""Drawing idols from a trained generator, and asking the discriminator about them.

``python -m minigan sample``  writes a grid, a folder of PNGs or an ``.npz`` of samples;
``python -m minigan fooled``  writes the samples the discriminator rates most real (the blog's
"images that fooled the discriminator").

Noise is always drawn on the CPU from a seeded ``numpy.random.Generator`` and then moved to the
model's device, so a seed names the same idols on every machine and device.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .backend import get_array_module, normalize_device, to_numpy
from .errors import MiniganError

__all__ = ["NOISE_KINDS", "noise", "generate", "discriminate", "most_real", "sample_main", "fooled_main"]

NOISE_KINDS = ("gaussian", "uniform")


def noise(rng: np.random.Generator, n: int, nz: int, kind: str = "gaussian") -> np.ndarray:
    """``(n, nz)`` float32 noise: standard normal, or uniform in [-1, 1] (the blog mentions both)."""
    if kind == "gaussian":
        return rng.standard_normal((n, nz), dtype=np.float32)
    if kind == "uniform":
        return rng.uniform(-1.0, 1.0, (n, nz)).astype(np.float32)
    raise ValueError(f"unknown noise distribution {kind!r}: use one of {', '.join(NOISE_KINDS)}")


def generate(G, z, batch_size: int = 256):
    """``G(z)`` in evaluation mode, in batches: float ``(N, C, S, S)`` in [-1, 1] on G's device.

    ``z`` may be NumPy or already on the device. The generator is returned to the mode it was in.
    """
    xp = get_array_module(G.layers[0].params["W"])
    was_training = G.layers[0].training
    G.eval()
    try:
        parts = [G.forward(xp.asarray(z[i:i + batch_size])) for i in range(0, len(z), batch_size)]
    finally:
        G.train(was_training)
    return xp.concatenate(parts) if len(parts) > 1 else parts[0]


def discriminate(D, x, batch_size: int = 256) -> np.ndarray:
    """``sigmoid(D(x))`` in evaluation mode, as a NumPy ``(N,)`` array of probabilities of "real"."""
    from .nn import sigmoid  # noqa: PLC0415

    was_training = D.layers[0].training
    D.eval()
    try:
        scores = [to_numpy(sigmoid(D.forward(x[i:i + batch_size]))) for i in range(0, len(x), batch_size)]
    finally:
        D.train(was_training)
    return np.concatenate(scores)


def most_real(G, D, n: int = 512, top: int = 32, seed: int = 0, noise_kind: str = "gaussian"):
    """Sample ``n`` idols and keep the ``top`` that D scores highest.

    Returns ``(images uint8 (top, S, S, 3), scores (top,), z (top, nz), indices (top,))``, best
    first; ``indices`` number the samples of ``noise(default_rng(seed), n, nz)``.
    """
    from .data import to_images  # noqa: PLC0415

    z = noise(np.random.default_rng(seed), n, G.nz, noise_kind)
    x = generate(G, z)
    scores = discriminate(D, x)
    order = np.argsort(-scores, kind="stable")[:top]  # (top,) best first
    best = x[get_array_module(x).asarray(order)]  # (top, C, S, S) on G's device
    return to_images(best), scores[order], z[order], order


# -- command line -------------------------------------------------------------------------------


def add_generator_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint``, ``--device`` and ``--noise``: what every command that draws idols takes."""
    parser.add_argument("--checkpoint", required=True,
                        help="a checkpoint .npz, or a run folder (uses its checkpoints/last.npz)")
    parser.add_argument("--device", default="cpu", help="cpu or gpu (default cpu)")
    parser.add_argument("--noise", choices=NOISE_KINDS, default=None,
                        help="noise distribution (default: the one the model was trained with)")


def load_generator_from_args(args):
    """``(G, meta, noise kind)`` for the options of :func:`add_generator_arguments`."""
    from .checkpoint import load_generator  # noqa: PLC0415

    G, meta = load_generator(args.checkpoint, normalize_device(args.device))
    return G, meta, args.noise or meta.get("config", {}).get("noise", "gaussian")


def _add_seed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise: the same seed gives the same idols (default 0)")


def sample_main(argv=None) -> int:
    """``python -m minigan sample``."""
    from .data import to_images  # noqa: PLC0415
    from .viz import captioned_grid, save_grid  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="python -m minigan sample",
        description="Draw idols from a trained generator. The output's suffix decides the form: "
                    "a .png is one grid, a .npz holds the images (uint8, N x 64 x 64 x 3) and their "
                    "noise vectors, anything else is a folder with one PNG per idol.")
    add_generator_arguments(parser)
    _add_seed(parser)
    parser.add_argument("--n", type=int, default=64, help="how many idols (default 64)")
    parser.add_argument("--out", required=True, help="grid.png, samples.npz or a folder")
    parser.add_argument("--nrow", type=int, default=8, help="images per row of a grid (default 8)")
    parser.add_argument("--scale", type=int, default=None, help="enlarge the grid's pixels (default 1; 2 with --numbered)")
    parser.add_argument("--numbered", action="store_true",
                        help="print each idol's index under it, to pick exemplars for `minigan vector`")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    G, meta, kind = load_generator_from_args(args)
    z = noise(np.random.default_rng(args.seed), args.n, G.nz, kind)
    images = to_images(generate(G, z))  # (N, S, S, 3) uint8
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix in (".png", ".jpg", ".jpeg", ".webp"):
        out.parent.mkdir(parents=True, exist_ok=True)
        if args.numbered:
            captioned_grid(images, [str(i) for i in range(len(images))], nrow=args.nrow, scale=args.scale or 2).save(out)
        else:
            save_grid(images, out, nrow=args.nrow, scale=args.scale or 1)
    elif suffix == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, images=images, z=z, seed=np.int64(args.seed))
    elif suffix:
        raise MiniganError(f"--out {out}: use a .png grid, an .npz file, or a folder name without a suffix")
    else:
        from PIL import Image  # noqa: PLC0415

        out.mkdir(parents=True, exist_ok=True)
        digits = len(str(args.n - 1))
        for i, image in enumerate(images):
            Image.fromarray(image).save(out / f"idol_{i:0{digits}d}.png")
    print(f"wrote {args.n} idols (seed {args.seed}) to {out}")
    return 0


def fooled_main(argv=None) -> int:
    """``python -m minigan fooled``."""
    from .checkpoint import load_discriminator  # noqa: PLC0415
    from .viz import captioned_grid  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="python -m minigan fooled",
        description="Sample many idols and show the ones the discriminator rates most real, with "
                    "its score D(G(z)) under each (the blog's 'images that fooled the discriminator').")
    add_generator_arguments(parser)
    _add_seed(parser)
    parser.add_argument("--n", type=int, default=512, help="how many idols to sample (default 512)")
    parser.add_argument("--top", type=int, default=32, help="how many to show (default 32)")
    parser.add_argument("--out", default="fooled.png", help="output PNG (default fooled.png)")
    args = parser.parse_args(argv)
    if not 1 <= args.top <= args.n:
        parser.error("--top must be between 1 and --n")
    G, meta, kind = load_generator_from_args(args)
    D, _ = load_discriminator(args.checkpoint, normalize_device(args.device))
    images, scores, _, order = most_real(G, D, args.n, args.top, args.seed, kind)
    captioned_grid(images, [f"#{i} {s:.2f}" for i, s in zip(order, scores)], nrow=8, scale=2).save(args.out)
    print(f"wrote the {args.top} of {args.n} idols D rates most real to {args.out} "
          f"(scores {scores[-1]:.3f} to {scores[0]:.3f})")
    return 0
