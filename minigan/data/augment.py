"""Augmentation of real images: random zoom, rotation and horizontal flip, a whole batch at once.

The blog enlarged its 4,500 icons with randomly zoomed and rotated copies. Here every sample of a
float NCHW batch gets its own zoom factor, angle and flip, and the whole batch is resampled at
once: by array operations (:func:`affine_batch_reference`, no Python loop over images, the same
code on NumPy and CuPy) or, for NumPy arrays, by an equivalent numba kernel (tested against it)::

    y = augment_batch(x, rng, zoom=(1.0, 1.2), rotate=15.0, flip=True)   # x, y: (N, C, H, W)

The deterministic core is :func:`affine_batch`, which takes the per-sample parameters. For every
output pixel it computes where that pixel comes from in the input (the inverse map) and samples
the input there bilinearly:

    (u, v)   = output pixel relative to the image centre ((W-1)/2, (H-1)/2), x right, y down;
               u is mirrored first (u -> -u) when the sample is flipped
    x_in     = ( u cos(a) - v sin(a)) / zoom + (W-1)/2
    y_in     = ( u sin(a) + v cos(a)) / zoom + (H-1)/2

so a sample is zoomed by ``zoom`` (> 1 enlarges, i.e. zooms in), rotated counter-clockwise on
screen by ``a`` degrees (``angle = 90`` equals ``np.rot90(x, 1, axes=(2, 3))`` on square images),
then mirrored left-right when ``flip`` (equal to ``x[..., ::-1]``). Samples that fall outside the
input repeat the border pixel (``border="edge"``, the default: no black corners) or mirror the
image across its border (``border="reflect"``).
"""

from __future__ import annotations


import numpy as np

from ..backend import get_array_module
from ..kernels import kernel_mode


__all__ = ["AUGMENT_PRESETS", "affine_batch", "affine_batch_reference", "augment_batch", "draw_augment_params", "augment_options"]

#: Named settings for ``--augment``: keyword arguments of :func:`augment_batch` (None: off).
#: "blog" is zoom and rotation as the blog did (no flip); "light" is a gentler zoom and
#: rotation plus horizontal flips.
AUGMENT_PRESETS = {
    "none": None,
    "light": {"zoom": (1.0, 1.1), "rotate": 5.0, "flip": True},
    "blog": {"zoom": (1.0, 1.2), "rotate": 15.0, "flip": False},
}

_SNAP = 1e-3  # sample positions this close to a whole pixel are snapped onto it (exact 90-degree turns)


def _border_coords(xp, c, size: int, border: str):
    """Map sample positions ``c`` (any shape, float) into [0, size - 1] by the border rule."""
    if border == "reflect":  # mirror about the image edges: ... 2 1 0 | 0 1 2 ... n-1 | n-1 n-2 ...
        period = 2.0 * size
        c = xp.mod(c + 0.5, period)
        c = xp.where(c >= size, period - c, c) - 0.5
    elif border != "edge":
        raise ValueError(f"border must be 'edge' or 'reflect', got {border!r}")
    return xp.clip(c, 0.0, size - 1.0)


def affine_batch(x, zoom, angle_deg, flip, border: str = "edge"):
    """Zoom, rotate and flip every sample of ``x`` by its own parameters (bilinear sampling).

    NumPy arrays go to a numba kernel (:func:`_affine_numba`, one pass over the output); CuPy arrays, and everything under ``MINIGAN_KERNELS=reference``, to the
    array-operations version :func:`affine_batch_reference`. Both give the same result.

    Args:
        x: float array (NumPy or CuPy), shape ``(N, C, H, W)``.
        zoom: ``(N,)`` zoom factors (1 = unchanged, > 1 zooms in), or one number for all.
        angle_deg: ``(N,)`` counter-clockwise rotations in degrees, or one number.
        flip: ``(N,)`` booleans, mirror left-right, or one bool.
        border: ``"edge"`` (repeat border pixels) or ``"reflect"``.

    Returns:
        Array of the same module, shape and dtype as ``x``. With zoom 1, angle 0 and no flip it
        equals ``x`` exactly. The transform is documented in the module docstring.
    """
    if border not in ("edge", "reflect"):
        raise ValueError(f"border must be 'edge' or 'reflect', got {border!r}")
    xp = get_array_module(x)
    if xp is np and not _reference_mode() and _affine_kernel() is not None:
        n = x.shape[0]
        dt = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float32)
        params = [np.ascontiguousarray(np.broadcast_to(np.asarray(p, dtype=t), (n,)))
                  for p, t in ((zoom, np.float64), (angle_deg, np.float64), (flip, np.bool_))]
        out = np.empty(x.shape, dtype=dt)  # (N, C, H, W)
        _affine_kernel()(np.ascontiguousarray(x, dtype=dt), params[0], np.radians(params[1]), params[2],
                         border == "reflect", out)
        return out if out.dtype == x.dtype else out.astype(x.dtype)
    return affine_batch_reference(x, zoom, angle_deg, flip, border)


def affine_batch_reference(x, zoom, angle_deg, flip, border: str = "edge"):
    """:func:`affine_batch` written with array operations: readable, runs on NumPy and CuPy.

    Arguments and result as :func:`affine_batch`.
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    dt = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
    zoom = xp.broadcast_to(xp.asarray(zoom, dtype=dt), (n,))
    angle = xp.broadcast_to(xp.asarray(angle_deg, dtype=dt), (n,)) * dt.type(np.pi / 180)
    flip = xp.broadcast_to(xp.asarray(flip, dtype=bool), (n,))
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    u = xp.arange(w, dtype=dt) - dt.type(cx)  # (W,)
    v = xp.arange(h, dtype=dt) - dt.type(cy)  # (H,)
    u = xp.where(flip[:, None], -u[None, :], u[None, :])[:, None, :]  # (N, 1, W)
    v = v[None, :, None]  # (1, H, 1)
    cos = (xp.cos(angle) / zoom)[:, None, None]  # (N, 1, 1)
    sin = (xp.sin(angle) / zoom)[:, None, None]
    xs = u * cos - v * sin + dt.type(cx)  # (N, H, W) input column of each output pixel
    ys = u * sin + v * cos + dt.type(cy)  # (N, H, W) input row
    # snap positions within _SNAP of a pixel centre, so 90-degree turns and identities are exact
    rx, ry = xp.rint(xs), xp.rint(ys)
    xs = xp.where(xp.abs(xs - rx) < _SNAP, rx, xs)
    ys = xp.where(xp.abs(ys - ry) < _SNAP, ry, ys)
    xs = _border_coords(xp, xs, w, border)
    ys = _border_coords(xp, ys, h, border)
    # bilinear weights: the four neighbours (x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)
    x0 = xp.floor(xs).astype(xp.int64)  # (N, H, W), in [0, W-1]
    y0 = xp.floor(ys).astype(xp.int64)
    wx = (xs - x0).astype(dt)[..., None]  # (N, H, W, 1) weight of the right neighbour
    wy = (ys - y0).astype(dt)[..., None]  # (N, H, W, 1) weight of the lower neighbour
    x1 = xp.minimum(x0 + 1, w - 1)
    y1 = xp.minimum(y0 + 1, h - 1)
    # gather with channels last, so each index fetches C contiguous values
    pixels = xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * w, c)  # (N*H*W, C)
    base = (xp.arange(n, dtype=xp.int64) * (h * w))[:, None, None]  # (N, 1, 1)
    row0, row1 = base + y0 * w, base + y1 * w  # (N, H, W) flat index of the rows

    def at(rows, cols):  # xp.take on axis 0 is several times faster than fancy indexing
        return xp.take(pixels, (rows + cols).reshape(-1), axis=0).reshape(n, h, w, c)  # (N, H, W, C)

    top = at(row0, x0)
    top += (at(row0, x1) - top) * wx  # (N, H, W, C) linear along x on row y0
    bottom = at(row1, x0)
    bottom += (at(row1, x1) - bottom) * wx  # on row y0 + 1
    out = top
    out += (bottom - top) * wy  # (N, H, W, C) then linear along y
    return xp.ascontiguousarray(out.transpose(0, 3, 1, 2)).astype(x.dtype, copy=False)  # (N, C, H, W)


_KERNEL = None


def _reference_mode() -> bool:
    """True under ``MINIGAN_KERNELS=reference`` (or :func:`minigan.kernels.use_kernels`)."""
    return kernel_mode() == "reference"


def _affine_kernel():
    """The numba kernel, compiled on first use (and cached on disk by numba).

    It runs on one thread: a batch of 64 takes a few ms, and a second thread buys little while
    the training step next to it wants the other cores (measured on 2 shared cores: 5 ms
    serial, 14 ms with ``parallel=True``)."""
    global _KERNEL
    if _KERNEL is None:
        try:
            from numba import njit  # noqa: PLC0415 (imported on first use: keeps --help fast)
        except ImportError:  # numba is a dependency, but the reference path works without it
            _KERNEL = False
        else:
            _KERNEL = njit(cache=True)(_affine_numba)
    return _KERNEL or None


def _affine_numba(x, zoom, angle, flip, reflect, out):
    """Numba kernel of :func:`affine_batch`: ``out[s, :, i, j]`` for every output pixel.

    ``x``, ``out``: (N, C, H, W); ``zoom``, ``angle`` (radians): (N,) float64; ``flip``: (N,)
    bool; ``reflect``: border rule (True: mirror, False: edge). The same maths as
    :func:`affine_batch_reference`, one loop instead of array temporaries.
    """
    n, c, h, w = x.shape
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    for s in range(n):
        cos = np.cos(angle[s]) / zoom[s]
        sin = np.sin(angle[s]) / zoom[s]
        for i in range(h):
            v = i - cy
            for j in range(w):
                u = cx - j if flip[s] else j - cx
                xs = u * cos - v * sin + cx
                ys = u * sin + v * cos + cy
                r = np.floor(xs + 0.5)
                if abs(xs - r) < 1e-3:
                    xs = r
                r = np.floor(ys + 0.5)
                if abs(ys - r) < 1e-3:
                    ys = r
                if reflect:
                    xs = (xs + 0.5) % (2.0 * w)
                    xs = (2.0 * w - xs if xs >= w else xs) - 0.5
                    ys = (ys + 0.5) % (2.0 * h)
                    ys = (2.0 * h - ys if ys >= h else ys) - 0.5
                xs = min(max(xs, 0.0), w - 1.0)
                ys = min(max(ys, 0.0), h - 1.0)
                x0, y0 = int(np.floor(xs)), int(np.floor(ys))
                x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
                wx, wy = xs - x0, ys - y0
                for ch in range(c):
                    top = x[s, ch, y0, x0] + (x[s, ch, y0, x1] - x[s, ch, y0, x0]) * wx
                    bottom = x[s, ch, y1, x0] + (x[s, ch, y1, x1] - x[s, ch, y1, x0]) * wx
                    out[s, ch, i, j] = top + (bottom - top) * wy


def _range(value, name, default_low):
    if np.isscalar(value):
        lo, hi = default_low, float(value)
    else:
        lo, hi = (float(v) for v in value)
    if hi < lo:
        lo, hi = hi, lo
    if name == "zoom" and lo <= 0:
        raise ValueError(f"zoom factors must be positive, got {value}")
    return lo, hi


def draw_augment_params(n: int, rng: np.random.Generator, zoom=(1.0, 1.2), rotate=15.0, flip=True):
    """Draw ``n`` samples' parameters on the CPU: returns NumPy ``(zoom, angle_deg, flip)``, each
    of shape ``(n,)``: zoom uniform in ``zoom`` (a pair, or one number z meaning (1, z)), angle
    uniform in [-rotate, rotate] degrees, flip True with probability 0.5 when ``flip``."""
    zlo, zhi = _range(zoom, "zoom", 1.0)
    rotate = abs(float(rotate))
    zooms = rng.uniform(zlo, zhi, n)  # (n,)
    angles = rng.uniform(-rotate, rotate, n)  # (n,)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, dtype=bool)  # (n,)
    return zooms, angles, flips


def augment_batch(x, rng: np.random.Generator, zoom=(1.0, 1.2), rotate=15.0, flip=True, border="edge"):
    """Randomly zoom, rotate and flip each sample of a float ``(N, C, H, W)`` batch.

    Parameters are drawn with ``rng`` on the CPU (:func:`draw_augment_params`) and moved to the
    batch's device; the resampling is :func:`affine_batch`. Returns an array of the same shape,
    dtype and device as ``x``; values stay within the input's range (bilinear sampling).
    """
    xp = get_array_module(x)
    zooms, angles, flips = draw_augment_params(len(x), rng, zoom, rotate, flip)
    return affine_batch(x, xp.asarray(zooms), xp.asarray(angles), xp.asarray(flips), border=border)


def augment_options(spec) -> dict | None:
    """Parse an ``--augment`` value into :func:`augment_batch` keyword arguments (None: off).

    ``spec`` is a preset name (see :data:`AUGMENT_PRESETS`), or explicit settings such as
    ``"zoom=1.0:1.2,rotate=10,flip=1,border=reflect"`` (missing keys are off: zoom 1, rotate
    0, no flip). Raises ValueError on anything else.
    """
    if spec is None:
        return None
    if isinstance(spec, dict):
        return dict(spec)
    text = str(spec).strip().lower()
    if text in AUGMENT_PRESETS:
        preset = AUGMENT_PRESETS[text]
        return None if preset is None else dict(preset)
    options = {"zoom": (1.0, 1.0), "rotate": 0.0, "flip": False}
    try:
        for item in filter(None, text.split(",")):
            key, value = (s.strip() for s in item.split("=", 1))
            if key == "zoom":
                parts = [float(p) for p in value.split(":")]
                options["zoom"] = (1.0, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
            elif key == "rotate":
                options["rotate"] = float(value)
            elif key == "flip":
                options["flip"] = value in ("1", "true", "yes", "on")
            elif key == "border":
                if value not in ("edge", "reflect"):
                    raise ValueError
                options["border"] = value
            else:
                raise ValueError
    except ValueError:
        raise ValueError(f"augment {spec!r}: use one of {', '.join(AUGMENT_PRESETS)} or settings like "
                         "'zoom=1.0:1.2,rotate=10,flip=1'") from None
    return options
