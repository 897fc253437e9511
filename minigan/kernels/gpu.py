"""The GPU kernels: CuPy versions of :mod:`minigan.kernels.reference`, same results, faster.

Each public function here has the signature and the result of its namesake in ``reference.py``
(read that file for the maths) and of its numba twin in ``cpu.py`` (read that one for the
loops: this file follows it function for function). What changes on a GPU is the unit of work:

* **One thread per output element.** Every kernel is a CuPy ``ElementwiseKernel`` over its
  output (one column-matrix entry, one pixel, one parameter, one channel's sum over a group of
  rows) or a ``ReductionKernel`` (the groups' sums of a channel). No thread adds into memory
  another thread writes: no atomics, no races, the same bits on every run.
* **col2im gathers.** Chainer's way: the thread of pixel ``(n, y, x, c)`` walks the few patches
  that cover it and sums their entries, in the order the reference adds them, so the result
  equals the reference's bit for bit (only additions, in the same order).
* **One pass over memory, one launch.** ``(x - mean) * scale + beta`` as plain CuPy code is
  three kernel launches and two temporaries; on a GPU each launch costs about as much as
  moving a megabyte, so the element-wise work of batch norm, the activations and Adam is fused
  into one kernel each.
* **No fused multiply-adds the reference does not do** (``--fmad=false``), as ``cpu.py`` turns
  off ``fastmath``: the element-wise kernels give the reference's bits; the channel sums of
  batch norm are float64 (as in ``cpu.py``, but added in groups of rows), so they agree with
  NumPy's float32 sums to float32 rounding.

Compilation: CuPy compiles each kernel on its first call, once per dtype (float32 in training,
float64 in gradient checks), and caches the binary in memory and on disk
(``~/.cupy/kernel_cache``), so only the first process on a machine pays for it.

GEMMs are not here: every matrix product goes through ``cupy.matmul`` (cuBLAS). Whether they
use TF32 tensor cores is CuPy's setting: off unless the environment has ``CUPY_TF32=1``.

Importing this module needs CuPy (not a GPU); without CuPy the import fails with ImportError
and :mod:`minigan.kernels` uses the reference versions for CuPy arrays.
"""

from __future__ import annotations

import cupy as cp

from . import reference
from . import KERNEL_NAMES
from .reference import conv_output_size

__all__ = list(KERNEL_NAMES)  # every dispatched kernel, each with its reference twin's signature

_OPTIONS = ("--fmad=false",)  # no contraction of a*b + c into one rounding: the reference's bits

_INT_LIMIT = 2**31  # kernels index with C int: larger arrays go to the reference code

_GEOMETRY = ("int32 height, int32 width, int32 channels, int32 kh, int32 kw, int32 stride, "
             "int32 padding, int32 out_h, int32 out_w")


# -- layouts ------------------------------------------------------------------------------------


def _layout(a):
    """``"C"`` or ``"channels_last"``: the order of ``a``'s elements in memory (``"C"`` when it
    is neither; :func:`_stored` then copies). As ``cpu._layout``."""
    if a.flags.c_contiguous:
        return "C"
    if a.ndim == 4 and a.transpose(0, 2, 3, 1).flags.c_contiguous:
        return "channels_last"
    return "C"


def _stored(a, layout):
    """``a``'s elements as a C-contiguous array in ``layout``'s order: the array itself or its
    free ``(N, H, W, C)`` view when ``a`` is stored that way, a copy otherwise. An element-wise
    kernel over it walks memory in order (coalesced loads)."""
    return cp.ascontiguousarray(a if layout == "C" else a.transpose(0, 2, 3, 1))


def _unstored(a, layout):
    """The inverse view of :func:`_stored`: the result in the caller's ``(N, C, H, W)`` shape."""
    return a if layout == "C" else a.transpose(0, 3, 1, 2)


# -- im2col / col2im (channels last) -------------------------------------------------------------


_im2col_nhwc_kernel = cp.ElementwiseKernel(
    "raw T img, " + _GEOMETRY,
    "T cols",
    """
    // entry e of cols (N*OH*OW, KH*KW*C), in C order: output pixel p = (n, oh, ow), tap (ki, kj, c);
    // int arithmetic (the wrapper checks every index fits): a GPU divides 64-bit integers slowly
    const int e = (int)i;
    const int patch = kh * kw * channels;
    const int p = e / patch, k = e - p * patch;
    const int c = k % channels, tap = k / channels;
    const int kj = tap % kw, ki = tap / kw;
    const int ow = p % out_w, q = p / out_w;
    const int oh = q % out_h, n = q / out_h;
    const int iy = oh * stride + ki - padding;  // the input pixel under this tap
    const int ix = ow * stride + kj - padding;
    cols = (iy >= 0 && iy < height && ix >= 0 && ix < width)
        ? img[((n * height + iy) * width + ix) * channels + c] : (T)0;
    """,
    "minigan_im2col_nhwc",
)


def im2col_nhwc(x, kh: int, kw: int, stride: int, padding: int, out=None):
    """Mirrors :func:`minigan.kernels.reference.im2col_nhwc` (and ``cpu.im2col_nhwc``): one thread
    per entry of ``cols``, reading the input pixel under its tap, or writing 0 on the padding."""
    n, h, w, c = x.shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    shape = (n * oh * ow, kh * kw * c)
    if out is None:
        out = cp.empty(shape, dtype=x.dtype)
    elif out.shape != shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ValueError(f"im2col_nhwc: out must be a C-contiguous {shape} {x.dtype} array, "
                         f"got {out.shape} {out.dtype}")
    if max(out.size, x.size) >= _INT_LIMIT:  # the kernel's int indices would overflow
        return reference.im2col_nhwc(x, kh, kw, stride, padding, out=out)
    _im2col_nhwc_kernel(cp.ascontiguousarray(x).reshape(-1), h, w, c, kh, kw, stride, padding, oh, ow, out)
    return out


_col2im_nhwc_kernel = cp.ElementwiseKernel(
    "raw T cols, " + _GEOMETRY,
    "T img",
    """
    // entry e of img (N, H, W, C), in C order; (iy, ix) is its pixel in the padded image
    const int e = (int)i;
    const int c = e % channels, pixel = e / channels;
    const int ix = pixel % width + padding, q = pixel / width;
    const int iy = q % height + padding, n = q / height;
    // the patches (oh, ow) whose taps reach the pixel: oh*stride <= iy < oh*stride + kh
    const int oh_first = iy < kh ? 0 : (iy - kh) / stride + 1;
    const int oh_stop = min(iy / stride + 1, out_h);
    const int ow_first = ix < kw ? 0 : (ix - kw) / stride + 1;
    const int ow_stop = min(ix / stride + 1, out_w);
    const int patch = kh * kw * channels;
    T sum = 0;
    // (oh, ow) ascending meets the taps (ki, kj) descending: the reference's order of additions
    for (int oh = oh_first; oh < oh_stop; ++oh) {
        for (int ow = ow_first; ow < ow_stop; ++ow) {
            const int ki = iy - oh * stride;
            const int kj = ix - ow * stride;
            sum += cols[((n * out_h + oh) * out_w + ow) * patch + (ki * kw + kj) * channels + c];
        }
    }
    img = sum;
    """,
    "minigan_col2im_nhwc",
)


def col2im_nhwc(cols, x_shape, kh: int, kw: int, stride: int, padding: int):
    """Mirrors :func:`minigan.kernels.reference.col2im_nhwc` (and ``cpu.col2im_nhwc``) by
    gathering: one thread per pixel value sums the column entries copied from it. Only
    additions, in the reference's order, so the bits are the reference's."""
    n, h, w, c = x_shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    if cols.shape != (n * oh * ow, kh * kw * c):
        raise ValueError(f"col2im_nhwc: cols has shape {cols.shape}, expected {(n * oh * ow, kh * kw * c)}")
    if cols.size >= _INT_LIMIT:  # the kernel's int indices would overflow
        return reference.col2im_nhwc(cols, x_shape, kh, kw, stride, padding)
    x = cp.empty((n, h, w, c), dtype=cols.dtype)
    _col2im_nhwc_kernel(cp.ascontiguousarray(cols).reshape(-1), h, w, c, kh, kw, stride, padding, oh, ow, x)
    return x


# -- batch normalisation (channels last) -----------------------------------------------------------
#
# The per-channel sums run over the P = N*H*W rows of a (P, C) matrix. A reduction down the rows
# gives CuPy only C/32 thread blocks (2 for a 64-channel layer: the GPU would idle), so they run
# in two stages, in float64 and in a fixed order (the same bits every run):
#   1. one thread per (row group g, channel c) sums its channel over the group's rows (the threads
#      of a warp read neighbouring channels of one row: coalesced), into partial sums (G, C);
#   2. a reduction adds the G partial sums of each channel.

_SUM_PAIR = """
struct SumPair { double x, y; };
__device__ SumPair sum_pair(double x, double y) { SumPair s; s.x = x; s.y = y; return s; }
__device__ SumPair operator+(SumPair a, SumPair b) { return sum_pair(a.x + b.x, a.y + b.y); }
"""

_column_moments_partial = cp.ElementwiseKernel(
    "raw T x, raw T shift, int32 rows, int32 channels, int32 group",
    "float64 s1, float64 s2",
    """
    // i = g*C + c: sum(d) and sum(d*d), d = x - shift, over the rows [g*group, (g+1)*group) of channel c
    const int c = (int)i % channels;
    const int first = (int)i / channels * group;
    const int stop = min(first + group, rows);
    const double sh = (double)shift[c];
    double a = 0, b = 0;
    for (int r = first; r < stop; ++r) {
        const double d = (double)x[r * channels + c] - sh;
        a += d;
        b += d * d;
    }
    s1 = a;
    s2 = b;
    """,
    "minigan_column_moments_partial",
    options=_OPTIONS,
)

_batch_norm_backward_partial = cp.ElementwiseKernel(
    "raw T dy, raw T x, raw T mean, raw T inv_std, int32 rows, int32 channels, int32 group",
    "float64 s1, float64 s2",
    """
    // i = g*C + c: sum(dy) and sum(dy * xhat), xhat = (x - mean) * inv_std, over group g's rows
    const int c = (int)i % channels;
    const int first = (int)i / channels * group;
    const int stop = min(first + group, rows);
    const T m = mean[c], s = inv_std[c];
    double a = 0, b = 0;
    for (int r = first; r < stop; ++r) {
        const T g = dy[r * channels + c];
        const T xhat = (x[r * channels + c] - m) * s;
        a += (double)g;
        b += (double)g * (double)xhat;
    }
    s1 = a;
    s2 = b;
    """,
    "minigan_batch_norm_backward_partial",
    options=_OPTIONS,
)

_sum_partials = cp.ReductionKernel(
    "float64 p1, float64 p2",
    "float64 s1, float64 s2",
    "sum_pair(p1, p2)",
    "a + b",
    "(s1 = a.x, s2 = a.y)",
    "sum_pair(0, 0)",
    "minigan_sum_partials",
    reduce_type="SumPair",
    preamble=_SUM_PAIR,
    options=_OPTIONS,
)


def _column_sums(partial_kernel, arrays, rows, channels):
    """Stage 1 and 2 above: the two float64 ``(C,)`` sums that ``partial_kernel`` defines over
    the ``rows`` rows of its ``(rows, channels)`` raw arrays (raveled, C-contiguous)."""
    groups = min(1024, max(1, rows // 64))  # >= 64 rows a thread; G*C threads, at most 1024 partials
    group = -(-rows // groups)  # rows per group, rounded up: the last group may be short
    partial1 = cp.empty((groups, channels), dtype=cp.float64)
    partial2 = cp.empty((groups, channels), dtype=cp.float64)
    partial_kernel(*arrays, rows, channels, group, partial1, partial2)
    s1, s2 = cp.empty(channels, dtype=cp.float64), cp.empty(channels, dtype=cp.float64)
    _sum_partials(partial1, partial2, s1, s2, axis=0)
    return s1, s2


_batch_norm_statistics = cp.ElementwiseKernel(
    "float64 s1, float64 s2, T shift, float64 m, float64 eps",
    "T mean, T var, T inv_std",
    """
    const double offset = s1 / m;  // mean - shift
    const double variance = fmax(s2 / m - offset * offset, 0.0);  // biased
    mean = (T)((double)shift + offset);
    var = (T)variance;
    inv_std = (T)(1.0 / sqrt(variance + eps));
    """,
    "minigan_batch_norm_statistics",
    options=_OPTIONS,
)

_scale_shift_kernel = cp.ElementwiseKernel(
    "T x, T mean, T inv_std, T gamma, T beta",
    "T y",
    "y = (x - mean) * (gamma * inv_std) + beta",
    "minigan_batch_norm_scale_shift",
    options=_OPTIONS,
)


def batch_norm_forward_train(x, gamma, beta, eps: float):
    """Mirrors :func:`minigan.kernels.reference.batch_norm_forward_train` as
    ``cpu.batch_norm_forward_train`` does: the statistics in one pass over ``x`` (float64 sums of
    ``x - x[0]``: see ``cpu._batch_norm_statistics``), then ``y`` in one more."""
    if x.size >= _INT_LIMIT:  # the kernels' int indices would overflow
        return reference.batch_norm_forward_train(x, gamma, beta, eps)
    n, c, h, w = x.shape
    x2 = cp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(-1, c)  # (P, C), P = N*H*W; free if channels-last
    shift = x2[0]  # (C,): a sample near the mean keeps sum(d**2)/M - (sum(d)/M)**2 from cancelling
    s1, s2 = _column_sums(_column_moments_partial, (x2.reshape(-1), shift), x2.shape[0], c)
    mean, var, inv_std = _batch_norm_statistics(s1, s2, shift, float(x2.shape[0]), float(eps))
    y2 = cp.empty_like(x2)
    _scale_shift_kernel(x2, mean, inv_std, cp.ascontiguousarray(gamma), cp.ascontiguousarray(beta), y2)
    return y2.reshape(n, h, w, c).transpose(0, 3, 1, 2), mean, inv_std, var  # (N, C, H, W), channels last


_batch_norm_backward_kernel = cp.ElementwiseKernel(
    "T dy, T x, T mean, T inv_std, T gamma, T m, float64 sum_dy, float64 sum_dy_xhat",
    "T dx",
    """
    const T dbeta = (T)sum_dy, dgamma = (T)sum_dy_xhat;
    dx = (gamma * inv_std / m) * (m * dy - dbeta - (x - mean) * inv_std * dgamma);
    """,
    "minigan_batch_norm_backward",
    options=_OPTIONS,
)


def batch_norm_backward_train(dy, x, mean, inv_std, gamma):
    """Mirrors :func:`minigan.kernels.reference.batch_norm_backward_train` as
    ``cpu.batch_norm_backward_train`` does: ``dbeta`` and ``dgamma`` as float64 sums, then ``dx``
    in one element-wise pass."""
    if x.size >= _INT_LIMIT:  # the kernels' int indices would overflow
        return reference.batch_norm_backward_train(dy, x, mean, inv_std, gamma)
    n, c, h, w = x.shape
    x2 = cp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(-1, c)  # (P, C)
    dy2 = cp.ascontiguousarray(dy.transpose(0, 2, 3, 1)).reshape(-1, c)
    mean, inv_std = cp.ascontiguousarray(mean), cp.ascontiguousarray(inv_std)
    sum_dy, sum_dy_xhat = _column_sums(_batch_norm_backward_partial, (dy2.reshape(-1), x2.reshape(-1), mean, inv_std),
                                       x2.shape[0], c)
    dx2 = cp.empty_like(x2)
    _batch_norm_backward_kernel(dy2, x2, mean, inv_std, cp.ascontiguousarray(gamma), x.dtype.type(n * h * w),
                                sum_dy, sum_dy_xhat, dx2)
    dgamma, dbeta = sum_dy_xhat.astype(x.dtype), sum_dy.astype(x.dtype)
    return dx2.reshape(n, h, w, c).transpose(0, 3, 1, 2), dgamma, dbeta


# -- element-wise ------------------------------------------------------------------------------------


_leaky_relu_forward_kernel = cp.ElementwiseKernel(
    "T x, T slope", "T y", "y = x > 0 ? x : x * slope", "minigan_leaky_relu_forward", options=_OPTIONS)
_leaky_relu_backward_kernel = cp.ElementwiseKernel(
    "T dy, T x, T slope", "T dx", "dx = x > 0 ? dy : dy * slope", "minigan_leaky_relu_backward", options=_OPTIONS)
_relu_forward_kernel = cp.ElementwiseKernel(
    "T x", "T y, bool mask", "mask = x > 0; y = mask ? x : (T)0;", "minigan_relu_forward", options=_OPTIONS)
_relu_backward_kernel = cp.ElementwiseKernel(
    "T dy, bool mask", "T dx", "dx = mask ? dy : (T)0", "minigan_relu_backward", options=_OPTIONS)


def leaky_relu_forward(x, negative_slope: float):
    """Mirrors :func:`minigan.kernels.reference.leaky_relu_forward`; keeps ``x``'s memory layout."""
    layout = _layout(x)
    y = _leaky_relu_forward_kernel(_stored(x, layout), x.dtype.type(negative_slope))
    return _unstored(y, layout)


def leaky_relu_backward(dy, x, negative_slope: float):
    """Mirrors :func:`minigan.kernels.reference.leaky_relu_backward`; ``dx`` in ``x``'s layout."""
    layout = _layout(x)
    dx = _leaky_relu_backward_kernel(_stored(dy, layout), _stored(x, layout), dy.dtype.type(negative_slope))
    return _unstored(dx, layout)


def relu_forward(x):
    """Mirrors :func:`minigan.kernels.reference.relu_forward`: ``y`` and the boolean mask in one pass."""
    layout = _layout(x)
    y, mask = _relu_forward_kernel(_stored(x, layout))
    return _unstored(y, layout), _unstored(mask, layout)


def relu_backward(dy, mask):
    """Mirrors :func:`minigan.kernels.reference.relu_backward`; ``dx`` in the mask's layout."""
    layout = _layout(mask)
    dx = _relu_backward_kernel(_stored(dy, layout), _stored(mask, layout))
    return _unstored(dx, layout)


# -- optimizer ------------------------------------------------------------------------------------


_adam_kernel = cp.ElementwiseKernel(
    "T g, T step_size, T beta1, T one_minus_beta1, T beta2, T one_minus_beta2, T sqrt_bias2, T eps",
    "T p, T m, T v",
    """
    m = m * beta1 + one_minus_beta1 * g;
    v = v * beta2 + one_minus_beta2 * (g * g);
    p = p - step_size * (m / (sqrt(v) / sqrt_bias2 + eps));
    """,
    "minigan_adam",
    options=_OPTIONS,
)


def adam_update(p, g, m, v, step_size: float, beta1: float, beta2: float, sqrt_bias2: float,
                eps: float) -> None:
    """Mirrors :func:`minigan.kernels.reference.adam_update` (and ``cpu.adam_update``): ``p``,
    ``m`` and ``v`` updated in place by one thread per parameter, every scalar in their dtype,
    the reference's operations in its order."""
    t = p.dtype.type
    _adam_kernel(g, t(step_size), t(beta1), t(1 - beta1), t(beta2), t(1 - beta2), t(sqrt_bias2), t(eps), p, m, v)


_ema_kernel = cp.ElementwiseKernel(
    "T x, T decay, T one_minus_decay",
    "T average",
    "average = average * decay + one_minus_decay * x;",
    "minigan_ema",
    options=_OPTIONS,
)


def ema_update(average, x, decay: float) -> None:
    """Mirrors :func:`minigan.kernels.reference.ema_update`: ``average`` updated in place by one
    thread per value, in its dtype, without contracting the two products into one rounding."""
    t = average.dtype.type
    _ema_kernel(x, t(decay), t(1 - decay), average)
