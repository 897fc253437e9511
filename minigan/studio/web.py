"""The generator for the browser: batch norm folded into the transposed convolutions, the weights
laid out for the page's loops, written as ``model.json`` (architecture, vectors, provenance) and
``model.bin`` (the numbers).

Folding. In evaluation mode a BatchNorm after a transposed convolution is an affine map per
output channel ``o``::

    y[o] = gamma[o] (x[o] - mean[o]) / sqrt(var[o] + eps) + beta[o] = scale[o] x[o] + shift[o]

and the convolution's output channel ``o`` is linear in the weights ``W[:, o]``. So the pair is
one transposed convolution with weights ``W[:, o] * scale[o]`` and a bias ``shift[o]`` (plus
``scale[o] b[o]`` if it had a bias): the page runs five layers of ConvT + activation and nothing
else. :func:`folded_generator` builds that network from minigan's own layers, so the folding is
checked against the unfolded generator in NumPy, before JavaScript is involved.

Layout. ``model.bin`` holds, per layer, the weights as ``(C_in, KH, KW, C_out)`` (C-order) in
``float16`` or ``float32``, then the bias as ``float32``, each block starting at a multiple of 4
bytes. The page keeps feature maps as ``(H, W, C)``, so its innermost loop runs over output
channels, contiguous in both the weights and the output (see ``static/generator.js``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backend import to_numpy
from ..checkpoint import write_atomically, write_text_atomically
from ..nn import BatchNorm2d, ConditionalBatchNorm2d, ConvTranspose2d, ReLU, Sequential, Tanh

__all__ = ["WEB_FORMAT", "WEB_VERSION", "FoldedLayer", "fold_generator", "folded_generator", "model_id",
           "export_web_model", "PRECISIONS"]

WEB_FORMAT = "minigan-web-generator"
WEB_VERSION = 1
PRECISIONS = ("float16", "float32")


@dataclass
class FoldedLayer:
    """One transposed convolution of the folded generator and the activation after it."""

    weight: np.ndarray  # float32 (C_in, C_out, K, K), PyTorch's ConvTranspose2d layout
    bias: np.ndarray  # float32 (C_out,)
    stride: int
    padding: int
    activation: str  # "relu" or "tanh"


def fold_generator(G) -> list[FoldedLayer]:
    """``G``'s layers as ConvT + activation, each BatchNorm folded into the ConvT before it."""
    layers, out = list(G.layers), []
    i = 0
    while i < len(layers):
        conv = layers[i]
        if not isinstance(conv, ConvTranspose2d) or conv.output_padding:
            raise ValueError(f"cannot fold layer {i} ({type(conv).__name__}): the page runs "
                             "ConvTranspose2d [BatchNorm2d] ReLU|Tanh blocks only")
        W = to_numpy(conv.params["W"]).astype(np.float64)  # (C_in, C_out, K, K)
        b = to_numpy(conv.params["b"]).astype(np.float64) if "b" in conv.params else np.zeros(W.shape[1])
        i += 1
        if i < len(layers) and isinstance(layers[i], ConditionalBatchNorm2d):
            raise ValueError(f"cannot fold layer {i}: a class-conditional batch norm has a scale per label, "
                             "which the page does not run")
        if i < len(layers) and isinstance(layers[i], BatchNorm2d):
            bn = layers[i]
            scale = to_numpy(bn.params["gamma"]).astype(np.float64) / np.sqrt(
                to_numpy(bn.running_var).astype(np.float64) + bn.eps)
            W = W * scale[None, :, None, None]
            b = to_numpy(bn.params["beta"]).astype(np.float64) + scale * (b - to_numpy(bn.running_mean))
            i += 1
        if i >= len(layers) or not isinstance(layers[i], (ReLU, Tanh)):
            raise ValueError(f"cannot fold the generator: layer {i} should be ReLU or Tanh")
        activation = "relu" if isinstance(layers[i], ReLU) else "tanh"
        i += 1
        out.append(FoldedLayer(W.astype(np.float32), b.astype(np.float32), conv.stride, conv.padding, activation))
    return out


def folded_generator(layers: list[FoldedLayer]) -> Sequential:
    """The folded network as minigan layers (eval mode): what the page computes, in NumPy."""
    modules = []
    for layer in layers:
        c_in, c_out, k, _ = layer.weight.shape
        conv = ConvTranspose2d(c_in, c_out, k, layer.stride, layer.padding, bias=True)
        conv.params["W"][...] = layer.weight
        conv.params["b"][...] = layer.bias
        modules += [conv, ReLU() if layer.activation == "relu" else Tanh()]
    return Sequential(*modules).eval()


def model_id(G) -> str:
    """12 hex digits naming ``G``'s weights (SHA-256 of its float32 state, in name order): a link
    made with one model is recognised as such by another."""
    digest = hashlib.sha256()
    for name, value in sorted(G.state_dict().items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(to_numpy(value), dtype="<f4").tobytes())
    return digest.hexdigest()[:12]


def export_web_model(G, folder, vectors=(), info: dict | None = None, precision: str = "float16") -> dict:
    """Write ``folder/model.json`` and ``folder/model.bin`` for the page; returns the JSON.

    ``vectors``: :class:`~minigan.latent.AttributeVector` s shown as sliders, by name.
    ``info``: provenance for the page's "about" line (model card fields: run, epochs, fd...).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    blobs, layers, offset = [], [], 0

    def add(array) -> dict:
        nonlocal offset
        data = np.ascontiguousarray(array).tobytes()
        pad = -len(data) % 4
        blobs.append(data + b"\0" * pad)
        entry = {"offset": offset, "length": int(array.size), "dtype": str(array.dtype)}
        offset += len(data) + pad
        return entry

    for layer in fold_generator(G):
        c_in, c_out, k, _ = layer.weight.shape
        layers.append({"in": c_in, "out": c_out, "kernel": k, "stride": layer.stride, "padding": layer.padding,
                       "activation": layer.activation,
                       "weight": add(layer.weight.transpose(0, 2, 3, 1).astype(precision)),  # (C_in, K, K, C_out)
                       "bias": add(layer.bias.astype(np.float32))})
    names = [v.name for v in vectors]
    if len(set(names)) != len(names):
        raise ValueError(f"two vectors share a name: {names}")
    model = {
        "format": WEB_FORMAT, "version": WEB_VERSION, "id": model_id(G), "nz": G.nz, "image_size": G.image_size,
        "channels": G.nc, "precision": precision, "bytes": offset, "layers": layers,
        "vectors": [{"name": v.name, "values": [float(x) for x in np.asarray(v.vector, np.float32)],
                     "method": v.meta.get("method"), "attribute": v.meta.get("attribute"),
                     "plus": v.meta.get("plus"), "minus": v.meta.get("minus")} for v in vectors],
        "info": info or {},
    }
    write_atomically(folder / "model.bin", lambda f: f.write(b"".join(blobs)))
    write_text_atomically(folder / "model.json", json.dumps(model, ensure_ascii=False) + "\n")
    return model
