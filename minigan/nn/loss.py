"""Binary cross-entropy on logits, the GAN's loss, computed without overflow.

For a logit ``x`` (the discriminator's raw score) and a target ``t`` in [0, 1] (1 = real)::

    loss = -[t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x))]
         = max(x, 0) - x * t + log(1 + exp(-|x|))

The second form never takes ``exp`` of a large positive number nor ``log`` of zero, so it is
exact for logits of any size (the first form gives ``inf`` or ``nan`` once ``|x|`` passes ~90 in
float32). Its derivative is the simple ``dloss/dx = sigmoid(x) - t``.
"""

from __future__ import annotations

from ..backend import get_array_module
from .activation import sigmoid

__all__ = ["BCEWithLogitsLoss"]


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
