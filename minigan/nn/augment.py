"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) as a layer.

A GAN's discriminator overfits a small data set: it memorises the few thousand real images,
its feedback to the generator becomes useless, and the generator collapses onto a few outputs.
Augmenting only the real images does not help for long: the generator then learns to draw the
augmentations ("leaking" them). DiffAugment augments EVERY image the discriminator sees, real
and fake, with the same random policy, and because every operation is differentiable the
generator's gradient flows back through the augmentation to the clean fake image:

    D step:  D(T(real)) vs 1,  D(T(G(z))) vs 0          T drawn afresh for each call
    G step:  D(T(G(z))) vs 1,  dL/dG(z) = T^T (dL/dT(G(z)))

The operations are per-sample affine maps, shifts and masks, so their backward passes are short:

* ``color``: brightness ``x + b``, ``b ~ U(-0.5, 0.5)``; saturation
  ``(x - mean_c x) * s + mean_c x``, ``s ~ U(0, 2)``; contrast ``(x - mean x) * k + mean x``,
  ``k ~ U(0.5, 1.5)`` (means over channels, resp. over the whole image).
* ``translation``: shift by up to ``ratio = 1/8`` of the size in each direction, zeros shifted in.
* ``cutout``: zero a square of half the image size at a random place.

Shapes: ``x, y, dx, dy`` are ``(N, C, H, W)``. The random parameters are drawn on the CPU from
a ``numpy.random.Generator`` (the same numbers on every device) and moved to ``x``'s device.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .layer import Layer

__all__ = ["DiffAugment", "POLICIES"]

POLICIES = ("color", "translation", "cutout")


class DiffAugment(Layer):
    """Random, differentiable augmentation of image batches (no parameters).

    Args:
        policy: comma-separated subset of ``color,translation,cutout`` (``""`` = identity).
        translation_ratio: largest shift as a fraction of the image size (1/8).
        cutout_ratio: side of the cutout square as a fraction of the image size (1/2).
        rng: seed or ``numpy.random.Generator`` for the random parameters.

    Each ``forward`` draws new parameters unless ``frozen`` is True, in which case the last
    parameters are reused (gradient checks need a fixed function).
    """

    def __init__(self, policy: str = "color,translation,cutout", translation_ratio: float = 0.125,
                 cutout_ratio: float = 0.5, rng=None):
        super().__init__()
        self.ops = tuple(op.strip() for op in policy.split(",") if op.strip())
        unknown = [op for op in self.ops if op not in POLICIES]
        if unknown:
            raise ValueError(f"unknown DiffAugment operation(s) {unknown}: choose from {', '.join(POLICIES)}")
        self.translation_ratio, self.cutout_ratio = float(translation_ratio), float(cutout_ratio)
        self.rng = np.random.default_rng(rng)
        self.frozen = False
        self._draw = None

    def extra_repr(self):
        return f"policy={','.join(self.ops)!r}"

    # -- random parameters ----------------------------------------------------------------------
    def sample(self, shape) -> dict:
        """Draw one set of parameters for a batch of ``shape = (N, C, H, W)`` (NumPy arrays)."""
        n, _, h, w = shape
        rng, p = self.rng, {}
        if "color" in self.ops:
            p["brightness"] = rng.uniform(-0.5, 0.5, n)
            p["saturation"] = rng.uniform(0.0, 2.0, n)
            p["contrast"] = rng.uniform(0.5, 1.5, n)
        if "translation" in self.ops:
            sh, sw = int(h * self.translation_ratio + 0.5), int(w * self.translation_ratio + 0.5)
            p["shift"] = np.stack([rng.integers(-sh, sh + 1, n), rng.integers(-sw, sw + 1, n)], axis=1)  # (N, 2)
        if "cutout" in self.ops:
            ch, cw = int(h * self.cutout_ratio + 0.5), int(w * self.cutout_ratio + 0.5)
            # top-left corner of the square; it may hang over the border, as in the paper's code
            p["cutout"] = np.stack([rng.integers(0, h + (1 - ch % 2), n) - ch // 2,
                                    rng.integers(0, w + (1 - cw % 2), n) - cw // 2], axis=1)  # (N, 2)
            p["cutout_size"] = (ch, cw)
        return p

    # -- the passes -------------------------------------------------------------------------------
    def forward(self, x):
        if not self.ops:
            return x
        if self._draw is None or not self.frozen:
            self._draw = self.sample(x.shape)
        p, xp = self._draw, get_array_module(x)
        per_sample = lambda v: xp.asarray(v, dtype=x.dtype)[:, None, None, None]  # noqa: E731  (N,1,1,1)
        if "color" in self.ops:
            x = x + per_sample(p["brightness"])
            s = per_sample(p["saturation"])
            channel_mean = x.mean(axis=1, keepdims=True)  # (N, 1, H, W)
            x = (x - channel_mean) * s + channel_mean
            k = per_sample(p["contrast"])
            mean = x.mean(axis=(1, 2, 3), keepdims=True)
            x = (x - mean) * k + mean
        if "translation" in self.ops:
            x = _translate(x, p["shift"])
        if "cutout" in self.ops:
            self._mask = _cutout_mask(x, p["cutout"], p["cutout_size"])  # (N, 1, H, W)
            x = x * self._mask
        return x

    def backward(self, dy):
        """The adjoint of each operation, applied in reverse order."""
        if not self.ops:
            return dy
        p, xp = self._draw, get_array_module(dy)
        per_sample = lambda v: xp.asarray(v, dtype=dy.dtype)[:, None, None, None]  # noqa: E731
        if "cutout" in self.ops:
            dy = dy * self._mask  # a mask is its own adjoint
        if "translation" in self.ops:
            dy = _translate(dy, -p["shift"])  # shifting back; what fell off stays lost
        if "color" in self.ops:
            # y = (x - m) * k + m with m = mean(x):  dx = k * dy + (1 - k) * mean(dy)
            k = per_sample(p["contrast"])
            dy = dy * k + (1 - k) * dy.mean(axis=(1, 2, 3), keepdims=True)
            s = per_sample(p["saturation"])  # the same with the channel mean
            dy = dy * s + (1 - s) * dy.mean(axis=1, keepdims=True)
            # brightness adds a constant: its derivative is the identity
        return dy

    def clear_cache(self):
        self._mask = None


def _translate(x, shift):
    """Shift each image by ``shift[n] = (dy, dx)`` pixels, filling with zeros.

    ``y[n, c, i, j] = x[n, c, i - dy, j - dx]`` where that pixel exists, else 0. Its adjoint is
    the shift by ``-shift``.
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    shift = xp.asarray(shift)
    rows = xp.arange(h)[None, :] - shift[:, 0:1]  # (N, H) source row of each output row
    cols = xp.arange(w)[None, :] - shift[:, 1:2]  # (N, W)
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # (N, H, W)
    rows, cols = xp.clip(rows, 0, h - 1), xp.clip(cols, 0, w - 1)
    batch = xp.arange(n)[:, None, None]
    y = x.transpose(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    y = y * valid[..., None].astype(x.dtype)
    return xp.ascontiguousarray(y.transpose(0, 3, 1, 2))


def _cutout_mask(x, corner, size):
    """``(N, 1, H, W)`` mask of ``x``'s dtype: 0 inside each sample's square, 1 elsewhere."""
    xp = get_array_module(x)
    n, _, h, w = x.shape
    corner = xp.asarray(corner)
    rows = xp.arange(h)[None, :] - corner[:, 0:1]  # (N, H)
    cols = xp.arange(w)[None, :] - corner[:, 1:2]  # (N, W)
    inside = ((rows >= 0) & (rows < size[0]))[:, :, None] & ((cols >= 0) & (cols < size[1]))[:, None, :]
    return (~inside)[:, None].astype(x.dtype)
