"""The GPU kernels: CuPy versions of :mod:`minigan.kernels.reference`, same results, faster.

Each public function here has the signature and the result of its namesake in ``reference.py``
(read that file for the maths) and of its numba twin in ``cpu.py`` (read that one for the
loops: this file follows it function for function). What changes on a GPU is the unit of work:

* **One thread per output element.** Every kernel is a CuPy ``ElementwiseKernel`` over its
  output (one column-matrix entry, one pixel, one parameter) or a ``ReductionKernel`` over the
  rows of a ``(P, C)`` matrix (one channel's sums). No thread adds into memory another thread
  writes: no atomics, no races, the same bits on every run.
* **col2im gathers.** Chainer's way: the thread of pixel ``(n, y, x, c)`` walks the few patches
  that cover it and sums their entries, in the order the reference adds them, so the result
  equals the reference's bit for bit (only additions, in the same order).
* **One pass over memory, one launch.** ``(x - mean) * scale + beta`` as plain CuPy code is
  three kernel launches and two temporaries; on a GPU each launch costs about as much as
  moving a megabyte, so the element-wise work of batch norm, the activations and Adam is fused
  into one kernel each.
* **No fused multiply-adds the reference does not do** (``--fmad=false``), as ``cpu.py`` turns
  off ``fastmath``: the element-wise kernels give the reference's bits; the channel sums of
  batch norm are float64, so they agree with NumPy's float32 sums to float32 rounding.

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

from .reference import conv_output_size

__all__ = [
    "im2col_nhwc",
    "col2im_nhwc",
    "batch_norm_forward_train",
    "batch_norm_backward_train",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "relu_forward",
    "relu_backward",
    "adam_update",
]

_OPTIONS = ("--fmad=false",)  # no contraction of a*b + c into one rounding: the reference's bits

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
    // i runs over cols (N*OH*OW, KH*KW*C) in C order: output pixel p = (n, oh, ow), tap (ki, kj, c)
    const long long patch = (long long)kh * kw * channels;
    const long long p = i / patch;
    const int k = (int)(i - p * patch);
    const int c = k % channels;
    const int kj = (k / channels) % kw;
    const int ki = k / (channels * kw);
    const int ow = (int)(p % out_w);
    const int oh = (int)((p / out_w) % out_h);
    const long long n = p / ((long long)out_w * out_h);
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
    _im2col_nhwc_kernel(cp.ascontiguousarray(x).reshape(-1), h, w, c, kh, kw, stride, padding, oh, ow, out)
    return out


_col2im_nhwc_kernel = cp.ElementwiseKernel(
    "raw T cols, " + _GEOMETRY,
    "T img",
    """
    // i runs over img (N, H, W, C) in C order; (iy, ix) is the pixel in the padded image
    const int c = i % channels;
    const long long pixel = i / channels;
    const int ix = (int)(pixel % width) + padding;
    const int iy = (int)((pixel / width) % height) + padding;
    const long long n = pixel / ((long long)width * height);
    // the patches (oh, ow) whose taps reach the pixel: oh*stride <= iy < oh*stride + kh
    const int oh_first = iy < kh ? 0 : (iy - kh) / stride + 1;
    const int oh_stop = min(iy / stride + 1, out_h);
    const int ow_first = ix < kw ? 0 : (ix - kw) / stride + 1;
    const int ow_stop = min(ix / stride + 1, out_w);
    const long long patch = (long long)kh * kw * channels;
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
    x = cp.empty((n, h, w, c), dtype=cols.dtype)
    _col2im_nhwc_kernel(cp.ascontiguousarray(cols).reshape(-1), h, w, c, kh, kw, stride, padding, oh, ow, x)
    return x


# -- batch normalisation (channels last) -----------------------------------------------------------

# Two float64 sums carried through one reduction (CuPy reduces one value per output; this is it).
# _column_moments: sum(d) and sum(d**2) over the rows of x (P, C), d = x - shift, as cpu._column_moments.
_SUM_PAIR = """
struct SumPair { double x, y; };
__device__ SumPair sum_pair(double x, double y) { SumPair s; s.x = x; s.y = y; return s; }
__device__ SumPair operator+(SumPair a, SumPair b) { return sum_pair(a.x + b.x, a.y + b.y); }
"""

_column_moments = cp.ReductionKernel(
    "T x, T shift",
    "float64 s1, float64 s2",
    "sum_pair((double)x - (double)shift, ((double)x - (double)shift) * ((double)x - (double)shift))",
    "a + b",
    "(s1 = a.x, s2 = a.y)",
    "sum_pair(0, 0)",
    "minigan_column_moments",
    reduce_type="SumPair",
    preamble=_SUM_PAIR,
    options=_OPTIONS,
)

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
    ``x - x[0]``: see ``cpu._batch_norm_statistics``), then ``y`` in one more. Three launches."""
    n, c, h, w = x.shape
    x2 = cp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(-1, c)  # (P, C), P = N*H*W; free if channels-last
    shift = x2[0]  # (C,): a sample near the mean keeps sum(d**2)/M - (sum(d)/M)**2 from cancelling
    s1, s2 = cp.empty(c, dtype=cp.float64), cp.empty(c, dtype=cp.float64)
    _column_moments(x2, shift, s1, s2, axis=0)
    mean, var, inv_std = _batch_norm_statistics(s1, s2, shift, float(x2.shape[0]), float(eps))
    y2 = cp.empty_like(x2)
    _scale_shift_kernel(x2, mean, inv_std, cp.ascontiguousarray(gamma), cp.ascontiguousarray(beta), y2)
    return y2.reshape(n, h, w, c).transpose(0, 3, 1, 2), mean, inv_std, var  # (N, C, H, W), channels last


_batch_norm_backward_sums = cp.ReductionKernel(
    "T dy, T x, T mean, T inv_std",
    "T dbeta, T dgamma",
    "sum_pair((double)dy, (double)dy * (double)((x - mean) * inv_std))",
    "a + b",
    "(dbeta = (T)a.x, dgamma = (T)a.y)",
    "sum_pair(0, 0)",
    "minigan_batch_norm_backward_sums",
    reduce_type="SumPair",
    preamble=_SUM_PAIR,
    options=_OPTIONS,
)

_batch_norm_backward_kernel = cp.ElementwiseKernel(
    "T dy, T x, T mean, T inv_std, T gamma, T m, T dbeta, T dgamma",
    "T dx",
    "dx = (gamma * inv_std / m) * (m * dy - dbeta - (x - mean) * inv_std * dgamma)",
    "minigan_batch_norm_backward",
    options=_OPTIONS,
)


def batch_norm_backward_train(dy, x, mean, inv_std, gamma):
    """Mirrors :func:`minigan.kernels.reference.batch_norm_backward_train` as
    ``cpu.batch_norm_backward_train`` does: ``dbeta`` and ``dgamma`` in one float64 reduction,
    then ``dx`` in one element-wise pass. Two launches."""
    n, c, h, w = x.shape
    x2 = cp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(-1, c)  # (P, C)
    dy2 = cp.ascontiguousarray(dy.transpose(0, 2, 3, 1)).reshape(-1, c)
    mean, inv_std = cp.ascontiguousarray(mean), cp.ascontiguousarray(inv_std)
    dbeta, dgamma = cp.empty(c, dtype=x.dtype), cp.empty(c, dtype=x.dtype)
    _batch_norm_backward_sums(dy2, x2, mean, inv_std, dbeta, dgamma, axis=0)
    dx2 = cp.empty_like(x2)
    _batch_norm_backward_kernel(dy2, x2, mean, inv_std, cp.ascontiguousarray(gamma), x.dtype.type(n * h * w),
                                dbeta, dgamma, dx2)
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
