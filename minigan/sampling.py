"""Drawing idols from a trained generator, and asking the discriminator about them.

:func:`generate` runs the generator on noise (``python -m minigan sample``), :func:`most_real`
keeps the samples the discriminator rates most real (the blog's "images that fooled the
discriminator", ``python -m minigan fooled``).

Noise is always drawn on the CPU from a seeded ``numpy.random.Generator`` and then moved to the
model's device, so a seed names the same idols on every machine and device.
"""

from __future__ import annotations

import numpy as np

from .backend import get_array_module, to_numpy
from .data.dataset import to_images
from .nn import sigmoid

__all__ = ["NOISE_KINDS", "noise", "generate", "discriminate", "most_real"]

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
    xp = G.xp
    with G.mode(training=False):
        parts = [G.forward(xp.asarray(z[i:i + batch_size])) for i in range(0, len(z), batch_size)]
    return xp.concatenate(parts) if len(parts) > 1 else parts[0]


def discriminate(D, x, batch_size: int = 256, labels=None) -> np.ndarray:
    """``sigmoid(D(x))`` in evaluation mode, as a NumPy ``(N,)`` array of probabilities of "real".
    ``labels (N, A)``: the labels a conditional (projection) discriminator judges the images for."""
    def judge(i):
        part = x[i:i + batch_size]
        return D.forward(part) if labels is None else D.forward(part, labels[i:i + batch_size])

    with D.mode(training=False):
        scores = [to_numpy(sigmoid(judge(i))) for i in range(0, len(x), batch_size)]
    return np.concatenate(scores)


def most_real(G, D, n: int = 512, top: int = 32, seed: int = 0, noise_kind: str = "gaussian", z=None,
              labels=None):
    """Sample ``n`` idols and keep the ``top`` that D scores highest.

    Returns ``(images uint8 (top, S, S, 3), scores (top,), z (top, nz), indices (top,))``, best
    first; ``indices`` number the samples of ``noise(default_rng(seed), n, nz)``, or the rows of
    ``z (n, nz)`` when the idols to rate are given. ``labels (n, A)``: for a conditional model,
    the labels the idols are drawn for (``z`` is then the noise alone; ``z`` returned likewise).
    """
    nz = G.noise_size if labels is not None else G.nz
    if z is None:
        z = noise(np.random.default_rng(seed), n, nz, noise_kind)
    x = generate(G, z if labels is None else G.inputs(z, labels))
    scores = discriminate(D, x, labels=labels)
    order = np.argsort(-scores, kind="stable")[:top]  # (top,) best first
    best = x[get_array_module(x).asarray(order)]  # (top, C, S, S) on G's device
    return to_images(best), scores[order], z[order], order
