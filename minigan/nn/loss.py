"""Losses on logits, computed without overflow: binary cross-entropy (the GAN's loss) and
softmax cross-entropy (the attribute classifier's).

Binary cross-entropy.

For a logit ``x`` (the discriminator's raw score) and a target ``t`` in [0, 1] (1 = real)::

    loss = -[t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x))]
         = max(x, 0) - x * t + log(1 + exp(-|x|))

The second form never takes ``exp`` of a large positive number nor ``log`` of zero, so it is
exact for logits of any size (the first form gives ``inf`` or ``nan`` once ``|x|`` passes ~90 in
float32). Its derivative is the simple ``dloss/dx = sigmoid(x) - t``.

Softmax cross-entropy. For the logits ``x (K,)`` of one sample over ``K`` classes and its class
``t``::

    loss = -log softmax(x)[t],   softmax(x)[k] = exp(x[k]) / sum_j exp(x[j])
    log softmax(x) = (x - m) - log(sum_j exp(x[j] - m)),   m = max_j x[j]

Subtracting the largest logit first changes nothing mathematically (the ``exp(-m)`` cancels)
but keeps every ``exp`` in (0, 1], so the sum is at least 1 and never overflows nor underflows to
a ``log(0)``. The derivative is again simple: ``dloss/dx = softmax(x) - onehot(t)``.
"""

from __future__ import annotations

from ..backend import get_array_module
from .activation import sigmoid

__all__ = ["BCEWithLogitsLoss", "SoftmaxCrossEntropyLoss", "log_softmax", "softmax"]


class BCEWithLogitsLoss:
    """Mean binary cross-entropy of ``logits`` against ``targets`` (same shape, or a scalar target).

    ``forward(logits, targets)`` returns the mean loss as a 0-d array (``float()`` it to print);
    ``backward()`` returns ``d(mean loss)/d(logits)``, shape of ``logits``.
    """

    def forward(self, logits, targets):
        xp = get_array_module(logits)
        targets = xp.broadcast_to(xp.asarray(targets, dtype=logits.dtype), logits.shape)
        self._logits, self._targets = logits, targets
        losses = xp.maximum(logits, 0) - logits * targets + xp.log1p(xp.exp(-xp.abs(logits)))
        return losses.mean()

    __call__ = forward

    def backward(self):
        return (sigmoid(self._logits) - self._targets) / self._logits.size


def log_softmax(logits, axis: int = -1):
    """``log(softmax(logits))`` along ``axis``, stable for logits of any size (see the module
    docstring). Same shape and dtype as ``logits``."""
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=axis, keepdims=True)  # largest entry 0: exp() in (0, 1]
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits, axis: int = -1):
    """``exp(x[k]) / sum_j exp(x[j])`` along ``axis`` (probabilities), computed stably."""
    xp = get_array_module(logits)
    e = xp.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class SoftmaxCrossEntropyLoss:
    """Mean softmax cross-entropy of ``logits (N, K)`` against integer classes ``targets (N,)``.

    ``loss = mean_n( -log softmax(logits[n])[targets[n]] )``.
    ``forward(logits, targets)`` returns the mean loss as a 0-d array (``float()`` it to print);
    ``backward()`` returns ``d(mean loss)/d(logits) = (softmax(logits) - onehot(targets)) / N``,
    shape ``(N, K)``, in the dtype of ``logits``. ``targets`` may be NumPy even when the logits are
    on a GPU (they are moved).
    """

    def forward(self, logits, targets):
        xp = get_array_module(logits)
        if logits.ndim != 2:
            raise ValueError(f"logits must have shape (N, K), got {logits.shape}")
        targets = xp.asarray(targets).astype(xp.int64, copy=False)  # (N,)
        if targets.shape != (logits.shape[0],):
            raise ValueError(f"targets must have shape ({logits.shape[0]},), got {targets.shape}")
        log_p = log_softmax(logits, axis=1)  # (N, K)
        rows = xp.arange(logits.shape[0])
        self._log_p, self._targets = log_p, targets
        return -log_p[rows, targets].mean()

    __call__ = forward

    def backward(self):
        xp = get_array_module(self._log_p)
        n = self._log_p.shape[0]
        grad = xp.exp(self._log_p)  # (N, K) softmax
        grad[xp.arange(n), self._targets] -= 1
        grad /= n
        return grad
