"""Sequential: layers applied one after the other; backward walks them in reverse."""

from __future__ import annotations

from .layer import Layer

__all__ = ["Sequential"]


class Sequential(Layer):
    """``y = layers[-1](... layers[1](layers[0](x)))``.

    ``backward`` applies each layer's backward in reverse order (the chain rule), so every
    layer's parameter gradients are accumulated along the way. Sub-layers are named by their
    index (``"0.W"``, ``"1.gamma"``), as in PyTorch's ``nn.Sequential``.
    """

    def __init__(self, *layers: Layer):
        super().__init__()
        self.layers = list(layers)

    def children(self):
        return ((str(i), layer) for i, layer in enumerate(self.layers))

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def clear_cache(self):
        for layer in self.layers:
            layer.clear_cache()

    def __getitem__(self, index):
        return self.layers[index]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        lines = [f"  ({i}): {layer!r}".replace("\n", "\n  ") for i, layer in enumerate(self.layers)]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"
