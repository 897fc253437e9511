"""The layer that takes class labels: the projection discriminator's class term.

Labels are integer arrays, so there is no gradient with respect to them; the gradient flows
into the class tables and into the feature input.

:class:`Projection` is the class term of the projection discriminator (Miyato & Koyama 2018,
"cGANs with Projection Discriminator"), for one or more attributes at once::

      phi[n]  = sum over (h, w) of x[n, :, h, w]                 global sum pooling, (N, C)
      out[n]  = sum over attributes a of <E_a[labels[n, a]], phi[n]>

so that the discriminator's logit is ``psi(phi(x)) + out``: an inner product between the image's
features and a learned vector per class. Its backward pass::

      dphi[n]   = dout[n] * sum_a E_a[labels[n, a]]
      dx[n]     = dphi[n] broadcast over (h, w)                  (sum pooling's adjoint)
      dE_a[k]  += sum over n with labels[n, a] == k of dout[n] * phi[n]

Each table is an embedding: row ``k`` is the vector of class ``k``, and the rows of a class that
occurs twice in a batch add up.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .init import uniform_fan_in
from .layer import Layer

__all__ = ["Projection", "as_labels", "check_label_range"]


def as_labels(labels, xp, columns: int | None = None):
    """``labels`` as an integer array of ``xp`` (intp), checked: integral values, and with
    ``columns`` given, of shape ``(N, columns)`` (a 1-d array is one column)."""
    labels = xp.asarray(labels)
    if labels.dtype.kind == "f":
        if not bool(xp.all(labels == xp.round(labels))):
            raise ValueError("labels must be whole numbers")
    elif labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.intp)
    if columns is not None:
        if labels.ndim == 1 and columns == 1:
            labels = labels[:, None]
        if labels.ndim != 2 or labels.shape[1] != columns:
            raise ValueError(f"labels must have shape (N, {columns}), got {labels.shape}")
    return labels


def check_label_range(labels, sizes) -> None:
    """ValueError unless column ``a`` of ``labels`` lies in ``[0, sizes[a])`` for every ``a``."""
    for a, k in enumerate(sizes):
        column = labels[:, a] if labels.ndim == 2 else labels
        if column.size and (int(column.min()) < 0 or int(column.max()) >= k):
            raise ValueError(f"label {a} must lie in [0, {k}), got values from {int(column.min())} to {int(column.max())}")


class Projection(Layer):
    """The projection discriminator's class term: ``x (N, C, H, W)`` and ``labels (N, A)`` ->
    ``(N,)``, one table ``E{a} (num_classes[a], C)`` per attribute (see the module docstring).

    The tables start as PyTorch's default for a linear layer of ``C`` inputs
    (``U(-1/sqrt(C), 1/sqrt(C))``). ``forward(x, labels)`` takes the labels with the features;
    ``backward(dout)`` returns ``dx`` (channels-last, like the convolutions' outputs).
    """

    def __init__(self, channels: int, num_classes, dtype=np.float32, rng=None):
        super().__init__()
        self.channels, self.num_classes = int(channels), tuple(int(k) for k in num_classes)
        if not self.num_classes or min(self.num_classes) < 1:
            raise ValueError(f"num_classes must be one or more positive sizes, got {num_classes}")
        rng = np.random.default_rng(rng)
        for a, k in enumerate(self.num_classes):
            self.add_param(f"E{a}", uniform_fan_in(rng, (k, self.channels), self.channels, dtype))

    def _rows(self, labels):
        """``sum_a E_a[labels[:, a]]`` ``(N, C)``."""
        return sum(self.params[f"E{a}"][labels[:, a]] for a in range(len(self.num_classes)))

    def forward(self, x, labels):
        xp = get_array_module(x)
        x = self.as_param_dtype(x, "E0")
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"Projection({self.channels}) expects features (N, {self.channels}, H, W), got {x.shape}")
        labels = self._labels = as_labels(labels, xp, len(self.num_classes))
        if labels.shape[0] != x.shape[0]:
            raise ValueError(f"{labels.shape[0]} label rows for {x.shape[0]} images")
        check_label_range(labels, self.num_classes)
        self._x_shape = x.shape
        phi = self._phi = x.sum(axis=(2, 3))  # (N, C)
        return (self._rows(labels) * phi).sum(axis=1)  # (N,)

    def backward(self, dout):
        xp = get_array_module(self.params["E0"])
        dout = self.as_param_dtype(dout, "E0").reshape(-1)
        labels = self._labels
        if self.requires_grad:
            contribution = dout[:, None] * self._phi  # (N, C)
            for a in range(len(self.num_classes)):
                xp.add.at(self.grads[f"E{a}"], labels[:, a], contribution)
        dphi = dout[:, None] * self._rows(labels)  # (N, C)
        n, c, h, w = self._x_shape
        dx = xp.empty((n, h, w, c), dtype=dphi.dtype)  # channels-last, like every feature map here
        dx[...] = dphi[:, None, None, :]
        return dx.transpose(0, 3, 1, 2)

    def clear_cache(self):
        self._labels = self._phi = None

    def extra_repr(self):
        return f"{self.channels}, num_classes={list(self.num_classes)}"
