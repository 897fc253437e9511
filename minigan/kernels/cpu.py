"""The CPU kernels: numba versions of :mod:`minigan.kernels.reference`, same results, faster.

Each public function here has the signature and the result of its namesake in ``reference.py``
(read that file for the maths); the tests compare the two on odd shapes. What is different is
only how the loops run:

* **One pass over memory.** NumPy evaluates ``(x - mean) * scale + beta`` as three passes with
  two temporary arrays; a numba loop reads ``x`` once and writes ``y`` once.
* **Outer loops over outputs that no two iterations share** (``prange`` over output rows of
  ``cols``, images, rows of a matrix, elements). No iteration adds into memory another one
  writes, so the loops could run on threads with no atomics and no races.
* **Serial, on purpose** (``parallel=False``, so ``prange`` runs as ``range``): NumPy's
  OpenBLAS keeps its worker threads spinning for about 0.1 s after every GEMM, and numba
  threads started between two GEMMs only fight them. Measured on a 2-core machine: a DCGAN
  step at batch 64 took 533 ms serial, 573 ms with numba's workqueue threads and 1100 ms with
  its OpenMP threads, and a small test GAN 4 ms against 240 ms (benchmarks/README.md). Set
  ``parallel=True`` in ``_JIT`` below to try threads again on another machine.
* **Deterministic.** Every output is computed in a fixed order, and sums over a channel are
  accumulated in a fixed order too (in float64, see ``_column_moments``), so the same input
  gives the same bits, and would on any number of threads.
* ``fastmath`` is off: no reassociation, no fused multiply-adds the reference does not do, so
  the element-wise kernels give the reference's bits exactly.

Importing this module compiles nothing: numba compiles each kernel on its first call for the
dtypes it meets (float32 in training, float64 in gradient checks) and caches the machine code
on disk (``cache=True``), so later processes load it in milliseconds. If numba is missing the
import fails and :mod:`minigan.kernels` falls back to the reference versions.

GEMMs are not here: every matrix product goes through NumPy's BLAS (``xp.matmul``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import KERNEL_NAMES
from .reference import conv_output_size

__all__ = list(KERNEL_NAMES)  # every dispatched kernel, each with its reference twin's signature

# numba options of every kernel: compiled once per dtype and cached on disk; serial (see the
# module docstring); no fast-math, so results round exactly as the reference's; no GIL held
_JIT = dict(cache=True, parallel=False, fastmath=False, nogil=True)


def _contiguous(a):
    """``a`` as a C-contiguous array (a no-op for the arrays the layers pass), so that each kernel
    compiles once per dtype and not once per memory layout."""
    return np.ascontiguousarray(a)


# -- layouts ------------------------------------------------------------------------------------


def _nhwc(x):
    """The ``(N, H, W, C)`` channels-last view of an ``(N, C, H, W)`` array: free when ``x`` is
    channels-last in memory (as every image inside minigan's networks is), a copy otherwise."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _is_channels_last(a):
    return a.ndim == 4 and a.transpose(0, 2, 3, 1).flags.c_contiguous


def _layout(a):
    """``"C"`` (C-contiguous) or ``"channels_last"``: the two memory orders the element-wise
    kernels run on. An array in neither order is copied to C order."""
    if a.flags.c_contiguous:
        return a, "C"
    if _is_channels_last(a):
        return a, "channels_last"
    return np.ascontiguousarray(a), "C"


def _flat(a, layout):
    """The elements of ``a`` as a 1-D VIEW, in memory order (writing it writes ``a``)."""
    return a.reshape(-1) if layout == "C" else a.transpose(0, 2, 3, 1).reshape(-1)


def _empty(shape, dtype, layout):
    """An uninitialised array of ``shape`` stored in ``layout``."""
    if layout == "C":
        return np.empty(shape, dtype=dtype)
    n, c, h, w = shape
    return np.empty((n, h, w, c), dtype=dtype).transpose(0, 3, 1, 2)


def _in_layout(a, layout):
    """``a`` stored in ``layout``: itself if it already is, else a copy."""
    if (layout == "C" and a.flags.c_contiguous) or (layout == "channels_last" and _is_channels_last(a)):
        return a
    out = _empty(a.shape, a.dtype, layout)
    out[...] = a
    return out


# -- im2col / col2im (channels last) -----------------------------------------------------------------


@njit(**_JIT)
def _im2col_nhwc_kernel(x, kh, kw, stride, padding, oh, ow, cols):
    """``cols[(n, oh, ow), (i, j, c)] = x[n, oh*stride + i - padding, ow*stride + j - padding, c]``
    (zero outside the image). One output row ``(n, oh)`` per iteration: no two iterations write
    the same memory.

    Each kernel tap copies the ``C`` values of one pixel. With few channels (the RGB input) the
    ``KW`` taps of a kernel row that lies inside the image are copied as one run of ``KW*C``
    values instead (in both arrays they are neighbours); with many, the per-tap copy is faster.
    """
    n, h, w, c = x.shape
    rows = x.reshape((n, h, w * c))  # the same memory: one image row of W*C values
    run = kw * c  # values in one kernel row of a patch
    for r in prange(n * oh):
        b = r // oh
        y = r % oh
        for xo in range(ow):
            dst = cols[r * ow + xo]  # (KH*KW*C,): the patch under output pixel (b, y, xo)
            w0 = xo * stride - padding  # image column under kernel column j = 0
            for i in range(kh):
                hy = y * stride + i - padding
                if c < 16 and 0 <= hy < h and w0 >= 0 and w0 + kw <= w:
                    src_run = rows[b, hy, w0 * c:(w0 + kw) * c]  # (KW*C,): contiguous
                    out_run = dst[i * run:(i + 1) * run]
                    for t in range(run):
                        out_run[t] = src_run[t]
                    continue
                for j in range(kw):
                    wx = w0 + j
                    start = (i * kw + j) * c
                    if hy < 0 or hy >= h or wx < 0 or wx >= w:  # the tap is on the padding
                        for t in range(c):
                            dst[start + t] = 0
                    else:
                        src = x[b, hy, wx]  # (C,)
                        for t in range(c):
                            dst[start + t] = src[t]


def im2col_nhwc(x, kh: int, kw: int, stride: int, padding: int, out=None):
    n, h, w, c = x.shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    shape = (n * oh * ow, kh * kw * c)
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    elif out.shape != shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ValueError(f"im2col_nhwc: out must be a C-contiguous {shape} {x.dtype} array, "
                         f"got {out.shape} {out.dtype}")
    _im2col_nhwc_kernel(_contiguous(x), kh, kw, stride, padding, oh, ow, out)
    return out


@njit(**_JIT)
def _col2im_nhwc_kernel(cols, kh, kw, stride, padding, oh, ow, x):
    """The adjoint of ``_im2col_nhwc_kernel``, ``x (N, H, W, C)``: each patch (row of ``cols``)
    is added back onto the pixels it was copied from.

    One image per iteration: the patches of image ``n`` only touch ``x[n]``, so no two
    iterations add into the same memory. Reading ``cols`` in order and adding into one image
    (256 kB at most in DCGAN: it stays in cache) is several times faster than gathering each
    pixel's taps from all over ``cols``. A pixel receives its taps in the order of the patches,
    ``(oh, ow)`` ascending, that is kernel offsets ``(i, j)`` descending: the reference adds
    them in that order too, so the bits agree.
    """
    n, h, w, c = x.shape
    for b in prange(n):
        x[b] = 0
        for y in range(oh):
            for xo in range(ow):
                src = cols[(b * oh + y) * ow + xo]  # (KH*KW*C,): the patch of output pixel (b, y, xo)
                for i in range(kh):
                    hy = y * stride + i - padding
                    if hy < 0 or hy >= h:
                        continue  # this kernel row fell on the padding
                    for j in range(kw):
                        wx = xo * stride + j - padding
                        if wx < 0 or wx >= w:
                            continue
                        dst = x[b, hy, wx]  # (C,)
                        start = (i * kw + j) * c
                        for t in range(c):
                            dst[t] += src[start + t]


def col2im_nhwc(cols, x_shape, kh: int, kw: int, stride: int, padding: int):
    n, h, w, c = x_shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    if cols.shape != (n * oh * ow, kh * kw * c):
        raise ValueError(f"col2im_nhwc: cols has shape {cols.shape}, expected {(n * oh * ow, kh * kw * c)}")
    x = np.empty((n, h, w, c), dtype=cols.dtype)
    _col2im_nhwc_kernel(_contiguous(cols), kh, kw, stride, padding, oh, ow, x)
    return x


# -- batch normalisation (channels last) ---------------------------------------------------------------


@njit(cache=True)
def _column_moments(a, shift):
    """``sum_p d[p, c]`` and ``sum_p d[p, c]**2`` with ``d = a - shift`` for every channel ``c``
    of ``a (P, C)``: float64 sums in row order, so the same bits every time.

    Each channel is its own chain of additions, so the loop over a row's channels vectorises
    without reassociating anything. (Serial: one pass over a DCGAN layer takes well under a
    millisecond, and splitting the rows between threads would make the order depend on them.)
    """
    m, c = a.shape
    s1 = np.zeros(c)  # float64, (C,)
    s2 = np.zeros(c)
    for p in range(m):
        row = a[p]
        for ch in range(c):
            d = np.float64(row[ch]) - shift[ch]
            s1[ch] += d
            s2[ch] += d * d
    return s1, s2


@njit(**_JIT)
def _scale_shift_kernel(x, mean, scale, beta, y):
    """``y[p, c] = (x[p, c] - mean[c]) * scale[c] + beta[c]``; one thread per block of rows."""
    m, c = x.shape
    for p in prange(m):
        xr = x[p]
        yr = y[p]
        for ch in range(c):
            yr[ch] = (xr[ch] - mean[ch]) * scale[ch] + beta[ch]


@njit(cache=True)
def _batch_norm_statistics(x, eps, mean, inv_std, var):
    """Mean and biased variance of each column of ``x (P, C)`` in one pass over ``x``.

    The sums are of ``d = x - x[0]`` (the first row, a value near the mean), in float64::

        mean = x[0] + sum(d) / M,      var = sum(d**2) / M - (sum(d) / M)**2

    Shifting by a sample keeps the subtraction in ``var`` from cancelling (the textbook
    one-pass formula, with an unshifted ``sum(x**2)``, loses every digit when the mean is large
    against the spread); the reference's two passes give the same numbers to float rounding.
    """
    m, c = x.shape
    shift = x[0].astype(np.float64)  # (C,)
    s1, s2 = _column_moments(x, shift)
    for ch in range(c):
        offset = s1[ch] / m  # mean - shift
        vr = max(s2[ch] / m - offset * offset, 0.0)
        mean[ch] = shift[ch] + offset
        var[ch] = vr
        inv_std[ch] = 1.0 / np.sqrt(vr + eps)


def batch_norm_forward_train(x, gamma, beta, eps: float):
    n, c, h, w = x.shape
    x2 = _nhwc(x).reshape(-1, c)  # (P, C), P = N*H*W
    mean, inv_std, var = (np.empty(c, dtype=x.dtype) for _ in range(3))
    _batch_norm_statistics(x2, float(eps), mean, inv_std, var)
    y2 = np.empty_like(x2)
    # y = (x - mean) * (gamma * inv_std) + beta, in x's dtype: the reference's formula
    _scale_shift_kernel(x2, mean, _contiguous(gamma * inv_std), _contiguous(beta), y2)
    return y2.reshape(n, h, w, c).transpose(0, 3, 1, 2), mean, inv_std, var  # (N, C, H, W), channels last


@njit(cache=True)
def _batch_norm_backward_sums(dy, x, mean, inv_std):
    """``dbeta = sum(dy)`` and ``dgamma = sum(dy * xhat)`` per column of ``(P, C)`` arrays, with
    ``xhat = (x - mean) * inv_std`` in x's dtype; float64 sums in row order."""
    m, c = x.shape
    s_dy = np.zeros(c)
    s_dyx = np.zeros(c)
    for p in range(m):
        gr = dy[p]
        xr = x[p]
        for ch in range(c):
            xhat = (xr[ch] - mean[ch]) * inv_std[ch]
            s_dy[ch] += gr[ch]
            s_dyx[ch] += np.float64(gr[ch]) * np.float64(xhat)
    return s_dy, s_dyx


@njit(**_JIT)
def _batch_norm_backward_kernel(dy, x, mean, inv_std, scale, m_x, dbeta, dgamma, dx):
    """``dx = scale * (m * dy - dbeta - xhat * dgamma)`` with ``scale = gamma * inv_std / m``."""
    m, c = x.shape
    for p in prange(m):
        gr = dy[p]
        xr = x[p]
        dr = dx[p]
        for ch in range(c):
            xhat = (xr[ch] - mean[ch]) * inv_std[ch]
            dr[ch] = scale[ch] * (m_x * gr[ch] - dbeta[ch] - xhat * dgamma[ch])


def batch_norm_backward_train(dy, x, mean, inv_std, gamma):
    n, c, h, w = x.shape
    x2, dy2 = _nhwc(x).reshape(-1, c), _nhwc(dy).reshape(-1, c)  # (P, C)
    mean, inv_std = _contiguous(mean), _contiguous(inv_std)
    s_dy, s_dyx = _batch_norm_backward_sums(dy2, x2, mean, inv_std)
    dbeta, dgamma = s_dy.astype(x.dtype), s_dyx.astype(x.dtype)
    m = x.dtype.type(n * h * w)
    dx2 = np.empty_like(x2)
    _batch_norm_backward_kernel(dy2, x2, mean, inv_std, _contiguous(gamma * inv_std / m), m, dbeta, dgamma, dx2)
    return dx2.reshape(n, h, w, c).transpose(0, 3, 1, 2), dgamma, dbeta


# -- element-wise ---------------------------------------------------------------------------------


@njit(**_JIT)
def _leaky_relu_forward_kernel(x, slope, y):
    for i in prange(x.size):
        v = x[i]
        y[i] = v if v > 0 else v * slope


@njit(**_JIT)
def _leaky_relu_backward_kernel(dy, x, slope, dx):
    for i in prange(x.size):
        g = dy[i]
        dx[i] = g if x[i] > 0 else g * slope


def leaky_relu_forward(x, negative_slope: float):
    x, layout = _layout(x)
    y = _empty(x.shape, x.dtype, layout)  # the layout of x
    _leaky_relu_forward_kernel(_flat(x, layout), x.dtype.type(negative_slope), _flat(y, layout))
    return y


def leaky_relu_backward(dy, x, negative_slope: float):
    x, layout = _layout(x)
    dy = _in_layout(dy, layout)  # the same element order as x
    dx = _empty(x.shape, dy.dtype, layout)
    _leaky_relu_backward_kernel(_flat(dy, layout), _flat(x, layout), dy.dtype.type(negative_slope),
                                _flat(dx, layout))
    return dx


@njit(**_JIT)
def _relu_forward_kernel(x, y, mask):
    for i in prange(x.size):
        v = x[i]
        if v > 0:
            mask[i] = True
            y[i] = v
        else:
            mask[i] = False
            y[i] = 0


@njit(**_JIT)
def _relu_backward_kernel(dy, mask, dx):
    for i in prange(dy.size):
        if mask[i]:
            dx[i] = dy[i]
        else:
            dx[i] = 0


def relu_forward(x):
    x, layout = _layout(x)
    y = _empty(x.shape, x.dtype, layout)
    mask = _empty(x.shape, np.bool_, layout)
    _relu_forward_kernel(_flat(x, layout), _flat(y, layout), _flat(mask, layout))
    return y, mask


def relu_backward(dy, mask):
    mask, layout = _layout(mask)
    dy = _in_layout(dy, layout)
    dx = _empty(mask.shape, dy.dtype, layout)
    _relu_backward_kernel(_flat(dy, layout), _flat(mask, layout), _flat(dx, layout))
    return dx


# -- optimizer ------------------------------------------------------------------------------------


_ADAM_BLOCK = 1024  # values per block: four arrays of them stay in L1 cache


@njit(**_JIT)
def _adam_kernel(p, g, m, v, step_size, beta1, one_minus_beta1, beta2, one_minus_beta2, sqrt_bias2, eps):
    """The rule of ``reference.adam_update``, block by block, one short loop per line of it.

    Every scalar has the arrays' dtype and the expressions round exactly as NumPy's passes do,
    so the bits are the reference's. (One loop over all four arrays at once does the same
    work, but LLVM then does not vectorise it: this is 2x faster.)
    """
    n = p.size
    denom = np.empty(_ADAM_BLOCK, dtype=p.dtype)
    for start in range(0, n, _ADAM_BLOCK):
        stop = min(n, start + _ADAM_BLOCK)
        pb, gb, mb, vb = p[start:stop], g[start:stop], m[start:stop], v[start:stop]
        for i in range(stop - start):
            mb[i] = mb[i] * beta1 + one_minus_beta1 * gb[i]
        for i in range(stop - start):
            vb[i] = vb[i] * beta2 + one_minus_beta2 * (gb[i] * gb[i])
        for i in range(stop - start):
            denom[i] = np.sqrt(vb[i]) / sqrt_bias2 + eps
        for i in range(stop - start):
            pb[i] = pb[i] - step_size * (mb[i] / denom[i])


def adam_update(p, g, m, v, step_size: float, beta1: float, beta2: float, sqrt_bias2: float,
                eps: float) -> None:
    for a in (p, m, v):
        if not a.flags.c_contiguous:
            raise ValueError("adam_update updates p, m and v in place: they must be C-contiguous")
    t = p.dtype.type
    _adam_kernel(p.reshape(-1), _contiguous(g).reshape(-1), m.reshape(-1), v.reshape(-1), t(step_size),
                 t(beta1), t(1 - beta1), t(beta2), t(1 - beta2), t(sqrt_bias2), t(eps))


@njit(**_JIT)
def _ema_kernel(average, x, decay, one_minus_decay):
    """The rule of ``reference.ema_update`` in one pass: each product rounded on its own, as
    NumPy's two passes round them, so the bits are the reference's."""
    for i in range(average.size):
        average[i] = average[i] * decay + one_minus_decay * x[i]


def ema_update(average, x, decay: float) -> None:
    if not average.flags.c_contiguous:
        raise ValueError("ema_update updates the average in place: it must be C-contiguous")
    t = average.dtype.type
    _ema_kernel(average.reshape(-1), _contiguous(x).reshape(-1), t(decay), t(1 - decay))
