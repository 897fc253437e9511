"""Gradient checking: compare a layer's hand-written backward pass with finite differences.

For a layer ``y = f(x; theta)`` and a fixed random upstream gradient ``dy``, the scalar
``L = sum(f(x) * dy)`` has ``dL/dx = backward(dy)``. The central difference

    dL/dx[i] ~= (L(x + h e_i) - L(x - h e_i)) / (2h)

has a truncation error ``O(h^2)`` and a rounding error ``O(eps * |L| / h)``. In float64 with
``h = 1e-5`` both are tiny: the two agree to about 1e-8 relative when the backward pass is
right, and disagree at the percent level when it is wrong. (A smaller ``h`` lets rounding
dominate; a larger one lets a ReLU's kink fall between ``x - h`` and ``x + h``.) So checks run in
float64 (:func:`check_layer` casts a copy of the layer) and anything above ``1e-6`` is a bug.

Every entry of small tensors is checked. For a large tensor (many parameters), checking every
entry costs two forward passes each; there the check follows Chainer and compares *directional*
derivatives along a few random directions ``v``: ``<dL/dx, v>`` against
``(L(x + h v) - L(x - h v)) / (2h)``.

How the error is measured: for analytic ``a`` and numerical ``n``,
``|a - n| / max(|a|, |n|, floor)`` with ``floor = 1e-3 * max|n|`` over all the layer's gradients,
so entries that are tiny compared with the rest are judged by the layer's scale instead of by
their own (a relative error of 1e-2 on a gradient entry of 1e-12 is rounding, not a bug).

Run ``python -m minigan gradcheck`` for a table of every layer's worst error.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from . import nn
from .models.dcgan import Discriminator, Generator

__all__ = ["GradcheckResult", "relative_error", "numerical_gradient", "check_layer", "check_function", "layer_cases",
           "WithLabels"]


@dataclass
class TensorCheck:
    """The comparison for one tensor (the input or a parameter)."""

    name: str
    max_rel_error: float
    worst_index: tuple  # index of the worst entry ((); a direction number for directional checks)
    analytic: float  # analytic and numerical values at the worst index
    numerical: float
    directional: bool = False

    def __str__(self) -> str:
        where = f"direction {self.worst_index[0]}" if self.directional else f"index {self.worst_index}"
        return (f"{self.name}: max relative error {self.max_rel_error:.2e} at {where} "
                f"(analytic {self.analytic:.6g}, numerical {self.numerical:.6g})")


@dataclass
class GradcheckResult:
    """All comparisons of one check; ``ok`` when every tensor is within ``tol``."""

    checks: list[TensorCheck] = field(default_factory=list)
    tol: float = 1e-6

    @property
    def max_rel_error(self) -> float:
        return max((c.max_rel_error for c in self.checks), default=0.0)

    @property
    def worst(self) -> TensorCheck | None:
        return max(self.checks, key=lambda c: c.max_rel_error, default=None)

    @property
    def ok(self) -> bool:
        return self.max_rel_error <= self.tol

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self.checks)

    def assert_ok(self) -> None:
        """Raise AssertionError with the full report if any tensor fails."""
        if not self.ok:
            raise AssertionError(f"gradient check failed (tolerance {self.tol:g}):\n{self}")


def relative_error(analytic, numerical, floor=None):
    """Entry-wise ``|a - n| / max(|a|, |n|, floor)`` (see the module docstring).

    ``floor`` defaults to ``1e-3 * max|n|``; the checks below pass ``1e-3`` times the largest
    gradient of the whole layer, so that a tensor whose true gradient is zero (a bias before
    BatchNorm) is judged against the layer's scale and not against its own rounding noise.
    """
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numerical, dtype=np.float64)
    if floor is None:
        floor = 1e-3 * float(np.abs(n).max(initial=0.0))
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), max(floor, 1e-300))


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f()`` with respect to ``x``.

    ``x`` is perturbed in place, one entry at a time, and restored exactly afterwards.
    """
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def _numerical(analytic, x, f, h, max_entries, rng):
    """``(analytic, numerical, directional)``: every entry, or 4 random directional derivatives."""
    if x.size <= max_entries:
        return analytic, numerical_gradient(f, x, h), False
    a_dirs, n_dirs = [], []
    for _ in range(4):
        v = rng.standard_normal(x.shape)
        v /= np.linalg.norm(v)  # a random unit direction
        old = x.copy()
        x += h * v
        plus = f()
        x[...] = old - h * v
        minus = f()
        x[...] = old
        n_dirs.append((plus - minus) / (2 * h))
        a_dirs.append(float(np.sum(analytic * v)))
    return np.array(a_dirs), np.array(n_dirs), True


def _checks(named, tol) -> GradcheckResult:
    """Turn ``[(name, analytic, numerical, directional)]`` into a result with a common floor."""
    scale = max(float(np.abs(n).max(initial=0.0)) for _, _, n, _ in named)
    result = GradcheckResult(tol=tol)
    for name, a, n, directional in named:
        err = relative_error(a, n, floor=1e-3 * scale)
        i = np.unravel_index(int(np.argmax(err)), err.shape)
        result.checks.append(TensorCheck(name, float(err[i]), tuple(int(k) for k in i),
                                         float(a[i]), float(n[i]), directional))
    return result


def check_layer(layer, x, *, h: float = 1e-5, tol: float = 1e-6, seed: int = 0,
                max_entries: int = 2000, check_input: bool = True) -> GradcheckResult:
    """Check ``layer.backward`` against finite differences for the input and every parameter.

    The layer is deep-copied and cast to float64 (the original is untouched); ``x`` is cast to
    float64 too. The layer's mode (train or eval) is kept. Tensors with more than
    ``max_entries`` entries are checked along random directions. Returns a
    :class:`GradcheckResult` listing the worst relative error of each tensor with its index.
    """
    rng = np.random.default_rng(seed)
    layer = copy.deepcopy(layer).astype(np.float64)
    x = np.array(x, dtype=np.float64)
    dy = rng.standard_normal(np.shape(layer.forward(x.copy())))  # fixed random upstream gradient

    def loss():
        return float(np.sum(layer.forward(x) * dy))

    layer.zero_grad()
    layer.forward(x)
    dx = np.array(layer.backward(dy))
    named = []
    if check_input:
        named.append(("x", *_numerical(dx, x, loss, h, max_entries, rng)))
    for name, lay, key in layer.named_parameters():
        analytic = np.array(lay.grads[key])
        named.append((name, *_numerical(analytic, lay.params[key], loss, h, max_entries, rng)))
    return _checks(named, tol)


class WithLabels(nn.Layer):
    """A layer that takes labels (:class:`~minigan.nn.Projection`) or a condition
    (:class:`~minigan.nn.ConditionalBatchNorm2d`) with its input, held fixed:
    ``forward(x) = layer.forward(x, labels)``, so :func:`check_layer` can check ``x`` and the
    parameters (labels are integers; a condition's own gradient is checked with :func:`check_function`)."""

    def __init__(self, layer, labels):
        super().__init__()
        self.layer, self.labels = layer, np.asarray(labels)

    def children(self):
        yield "layer", self.layer

    def forward(self, x):
        return self.layer.forward(x, self.labels)

    def backward(self, dy):
        return self.layer.backward(dy)


def check_function(forward, backward, x, *, h: float = 1e-5, tol: float = 1e-6, seed: int = 0,
                   max_entries: int = 2000, name: str = "x") -> GradcheckResult:
    """Check a scalar function's gradient: ``forward(x) -> float``, ``backward() -> dL/dx``.

    For losses (``BCEWithLogitsLoss``) and whole pipelines (z -> G -> D -> loss).
    """
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=np.float64)
    forward(x)
    analytic = np.array(backward())
    return _checks([(name, *_numerical(analytic, x, lambda: float(forward(x)), h, max_entries, rng))], tol)


def layer_cases():
    """One representative case per layer kind as ``(title, layer, x)``: the table of
    ``python -m minigan gradcheck``."""
    rng = np.random.default_rng(0)
    img = lambda *s: rng.standard_normal(s)  # noqa: E731
    bn_eval = nn.BatchNorm2d(3)
    bn_eval.running_mean[...] = rng.standard_normal(3).astype(np.float32)
    bn_eval.running_var[...] = rng.uniform(0.5, 2, 3).astype(np.float32)
    bn_eval.params["gamma"][...] = rng.uniform(0.5, 1.5, 3).astype(np.float32)
    bn_eval.eval()
    yield "Conv2d(3, 4, 3, stride=1, padding=1)", nn.Conv2d(3, 4, 3, 1, 1, rng=1), img(2, 3, 5, 5)
    yield "Conv2d(3, 4, 4, stride=2, padding=1, bias=False)", nn.Conv2d(3, 4, 4, 2, 1, bias=False, rng=2), img(2, 3, 8, 8)
    yield "ConvTranspose2d(4, 3, 4, stride=2, padding=1)", nn.ConvTranspose2d(4, 3, 4, 2, 1, rng=3), img(2, 4, 3, 3)
    yield "ConvTranspose2d(5, 3, 4, stride=1, padding=0)", nn.ConvTranspose2d(5, 3, 4, 1, 0, rng=4), img(2, 5, 1, 1)
    yield "BatchNorm2d(3), training", nn.BatchNorm2d(3), img(4, 3, 3, 3)
    yield "BatchNorm2d(3), eval", bn_eval, img(4, 3, 3, 3)
    yield "ReLU", nn.ReLU(), img(3, 7)
    yield "LeakyReLU(0.2)", nn.LeakyReLU(0.2), img(3, 7)
    yield "Tanh", nn.Tanh(), img(3, 7)
    yield "Sigmoid", nn.Sigmoid(), img(3, 7)
    yield "Linear(6, 4)", nn.Linear(6, 4, rng=5), img(3, 6)
    yield "Flatten", nn.Flatten(), img(2, 3, 2, 2)
    yield "Projection(4, classes 3 and 2)", WithLabels(nn.Projection(4, (3, 2), rng=8), [[0, 1], [2, 0], [0, 0]]), \
        img(3, 4, 2, 2)
    cbn = nn.ConditionalBatchNorm2d(3, 4)
    for key in ("Wg", "Wb"):
        cbn.params[key][...] = rng.standard_normal((4, 3)).astype(np.float32)
    yield "ConditionalBatchNorm2d(3, condition 4), training", WithLabels(cbn, rng.uniform(0, 1, (4, 4))), img(4, 3, 3, 3)
    yield "Generator(nz=8, ngf=4, image 16x16)", Generator(nz=8, ngf=4, image_size=16, rng=6), img(2, 8)
    yield "Discriminator(ndf=4, image 16x16)", Discriminator(ndf=4, image_size=16, rng=7), img(2, 3, 16, 16)
