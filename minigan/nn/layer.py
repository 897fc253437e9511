"""The Layer: the one abstraction of minigan's neural-network library.

A layer is a function with a hand-written derivative:

* ``forward(x)`` returns ``y`` and keeps whatever ``backward`` will need (the input, a mask...),
* ``backward(dy)`` takes ``dL/dy`` (same shape as ``y``), returns ``dL/dx`` (same shape as ``x``)
  and ADDS ``dL/dparam`` into ``self.grads[name]`` for every parameter, so that gradients from
  several backward passes (a real and a fake batch, say) accumulate until ``zero_grad()``.

Parameters live in the dict ``params`` (``grads`` has the same keys and shapes); extra state
that is saved but not trained (BatchNorm's running statistics) is named in ``buffers``. A layer
reads its arrays from these dicts on every call, so code outside may replace or write them in
place: the optimizer updates them, a checkpoint loads them, a gradient check swaps in float64
copies. A layer computes in the dtype of its parameters (or of its input when it has none).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np

from ..backend import device_of, get_array_module, to_device

__all__ = ["Layer"]


class Layer:
    """Base class: parameters, gradients, train/eval mode, device moves, state dicts."""

    #: names of array attributes that are state but not parameters (saved, moved, not trained)
    buffers: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.params: dict[str, object] = {}
        self.grads: dict[str, object] = {}
        self.training = True
        #: when False, ``backward`` still returns dx but skips the parameter gradients
        #: (used for the discriminator during the generator's step: its weight gradients
        #: would be thrown away)
        self.requires_grad = True
        #: when False, nobody reads this layer's input gradient (it is the first layer of a
        #: network whose input is data), and ``backward`` may skip computing it and return
        #: None; the convolutions do, which saves a GEMM and a col2im per backward pass
        self.needs_input_grad = True

    # -- the two passes -----------------------------------------------------------------------
    def forward(self, x):
        """Compute the output for input ``x`` and remember what ``backward`` needs."""
        raise NotImplementedError

    def backward(self, dy):
        """Return ``dL/dx`` for upstream ``dL/dy``; add parameter gradients into ``grads``."""
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    # -- parameters ---------------------------------------------------------------------------
    def add_param(self, name: str, value) -> None:
        """Register a parameter and a zero gradient of the same shape, dtype and device."""
        xp = get_array_module(value)
        self.params[name] = value
        self.grads[name] = xp.zeros_like(value)

    def as_param_dtype(self, x, key: str = "W"):
        """``x`` in the dtype of ``params[key]`` (a copy only when it differs).

        A layer computes in its parameters' dtype: a float64 input (or output gradient) to a
        float32 layer is cast down rather than silently turning the rest of the network, or the
        backward pass, into float64.
        """
        dtype = self.params[key].dtype
        return x if x.dtype == dtype else x.astype(dtype)

    def children(self) -> Iterator[tuple[str, "Layer"]]:
        """Direct sub-layers as ``(name, layer)``; containers override this."""
        return iter(())

    def named_layers(self, prefix: str = "") -> Iterator[tuple[str, "Layer"]]:
        """This layer and every layer below it, as ``(dotted name, layer)``, depth first."""
        yield prefix, self
        for name, child in self.children():
            yield from child.named_layers(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self) -> Iterator[tuple[str, "Layer", str]]:
        """Every parameter below this layer as ``(dotted name, owning layer, key in params)``.

        The owner and key (not the array) are returned so that users always read the current
        array from ``layer.params[key]``, even after it has been replaced.
        """
        for prefix, layer in self.named_layers():
            for key in layer.params:
                yield (f"{prefix}.{key}" if prefix else key), layer, key

    def num_parameters(self) -> int:
        return sum(int(layer.params[key].size) for _, layer, key in self.named_parameters())

    def zero_grad(self) -> None:
        """Set every gradient below this layer to zero (in place)."""
        for _, layer in self.named_layers():
            for g in layer.grads.values():
                g[...] = 0

    # -- modes and devices --------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Layer":
        """Training mode (BatchNorm uses batch statistics). Returns self."""
        for _, layer in self.named_layers():
            layer.training = mode
        return self

    def eval(self) -> "Layer":
        """Evaluation mode (BatchNorm uses its running statistics). Returns self."""
        return self.train(False)

    def requires_grad_(self, flag: bool = True) -> "Layer":
        """Turn parameter-gradient computation on or off for this layer and all below it."""
        for _, layer in self.named_layers():
            layer.requires_grad = flag
        return self

    @contextmanager
    def mode(self, training: bool | None = None, requires_grad: bool | None = None,
             needs_input_grad: bool | None = None):
        """Set modes on this layer and every layer below it for a ``with`` block, then restore
        each layer's own settings (also when the block raises). ``None`` leaves a mode as it is.

        The one way to run a model for inference, as DeZero's ``using_config``::

            with G.mode(training=False, requires_grad=False):
                x = G.forward(z)  # BatchNorm uses its running statistics, no weight gradients

        ``needs_input_grad=True`` makes every layer compute its input gradient, down to the
        network's input (to differentiate an idol with respect to its noise, say).
        """
        layers = [layer for _, layer in self.named_layers()]
        saved = [(layer.training, layer.requires_grad, layer.needs_input_grad) for layer in layers]
        for layer in layers:
            if training is not None:
                layer.training = training
            if requires_grad is not None:
                layer.requires_grad = requires_grad
            if needs_input_grad is not None:
                layer.needs_input_grad = needs_input_grad
        try:
            yield self
        finally:
            for layer, (was_training, had_grad, needed_input_grad) in zip(layers, saved):
                layer.training, layer.requires_grad, layer.needs_input_grad = was_training, had_grad, needed_input_grad

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"gpu"``: where this layer's parameters (or buffers) live; ``"cpu"`` for a
        layer without arrays (an activation)."""
        for _, layer in self.named_layers():
            for value in layer.params.values():
                return device_of(value)
            for name in layer.buffers:
                return device_of(getattr(layer, name))
        return "cpu"

    @property
    def xp(self):
        """The array module of this layer's parameters: ``numpy`` or ``cupy``."""
        for _, layer in self.named_layers():
            for value in layer.params.values():
                return get_array_module(value)
        return np

    def to(self, device: str) -> "Layer":
        """Move parameters, gradients and buffers to ``"cpu"`` or ``"gpu"``. Returns self."""
        for _, layer in self.named_layers():
            for d in (layer.params, layer.grads):
                for key in d:
                    d[key] = to_device(d[key], device)
            for name in layer.buffers:
                setattr(layer, name, to_device(getattr(layer, name), device))
            layer.clear_cache()
        return self

    def astype(self, dtype) -> "Layer":
        """Cast parameters, gradients and buffers to ``dtype`` (float64 for gradient checks)."""
        for _, layer in self.named_layers():
            for d in (layer.params, layer.grads):
                for key in d:
                    d[key] = d[key].astype(dtype)
            for name in layer.buffers:
                setattr(layer, name, getattr(layer, name).astype(dtype))
            layer.clear_cache()
        return self

    def clear_cache(self) -> None:
        """Forget what the last forward pass kept for backward (frees memory)."""

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, object]:
        """Every parameter and buffer below this layer, by dotted name (arrays, not copies)."""
        state = {}
        for prefix, layer in self.named_layers():
            for key in (*layer.params, *layer.buffers):
                value = layer.params[key] if key in layer.params else getattr(layer, key)
                state[f"{prefix}.{key}" if prefix else key] = value
        return state

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Copy arrays from ``state`` into this layer's parameters and buffers.

        Every name must be present with the right shape; the values are cast to the dtype of
        the current arrays and stay on this layer's device. Raises ValueError naming every
        missing, unexpected or mis-shaped entry.
        """
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        wrong = [
            f"{k}: expected shape {tuple(own[k].shape)}, got {tuple(np.shape(state[k]))}"
            for k in own
            if k in state and tuple(own[k].shape) != tuple(np.shape(state[k]))
        ]
        if missing or unexpected or wrong:
            lines = []
            if missing:
                lines.append("missing: " + ", ".join(missing))
            if unexpected:
                lines.append("unexpected: " + ", ".join(unexpected))
            lines.extend(wrong)
            raise ValueError(f"state does not match {type(self).__name__}:\n  " + "\n  ".join(lines))
        for k, target in own.items():
            target[...] = to_device(state[k], device_of(target)).astype(target.dtype, copy=False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"
