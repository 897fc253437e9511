"""The DCGAN generator and discriminator (Radford, Metz & Chintala 2015), 64x64 images.

The layout is pytorch/examples' ``dcgan/main.py``, layer for layer (so weights can be compared
and exchanged by index), with the paper's rules: no pooling (strided convolutions instead), no
fully connected hidden layers, BatchNorm in both networks except at G's output and D's input,
ReLU in G with tanh at the end, LeakyReLU(0.2) in D. Shapes for the default sizes::

    Generator (nz=100, ngf=64)                         Discriminator (ndf=64)
    z              (N, 100, 1, 1)                      x               (N, 3, 64, 64)
    0 ConvT 4,1,0  (N, 512, 4, 4)    1 BN  2 ReLU      0 Conv 4,2,1    (N, 64, 32, 32)   1 LReLU
    3 ConvT 4,2,1  (N, 256, 8, 8)    4 BN  5 ReLU      2 Conv 4,2,1    (N, 128, 16, 16)  3 BN 4 LReLU
    6 ConvT 4,2,1  (N, 128, 16, 16)  7 BN  8 ReLU      5 Conv 4,2,1    (N, 256, 8, 8)    6 BN 7 LReLU
    9 ConvT 4,2,1  (N, 64, 32, 32)  10 BN 11 ReLU      8 Conv 4,2,1    (N, 512, 4, 4)    9 BN 10 LReLU
   12 ConvT 4,2,1  (N, 3, 64, 64)   13 Tanh           11 Conv 4,1,0    (N, 1, 1, 1) -> logits (N,)

The first transposed convolution turns the noise vector (a 1x1 "image" with nz channels) into
a 4x4 map: the paper's projection, as one layer. ``image_size`` (default 64) may be any
``4 * 2**k`` with ``k >= 1``; each doubling adds one ConvT (or Conv) block, so 16 or 32 pixel
models exist for fast tests. Convolutions have no bias (BatchNorm's beta plays that role).
"""

from __future__ import annotations

import numpy as np

from ..backend import device_of, to_device
from ..nn import BatchNorm2d, Conv2d, ConvTranspose2d, LeakyReLU, ReLU, Sequential, Tanh

__all__ = ["Generator", "Discriminator", "dcgan_init", "num_blocks"]


def num_blocks(image_size: int) -> int:
    """Number of stride-2 blocks between 4x4 and ``image_size`` (4 for 64x64)."""
    k = int(image_size).bit_length() - 3  # 4 * 2**k == image_size
    if image_size < 8 or 4 * 2**k != image_size:
        raise ValueError(f"image_size must be 4 * 2**k with k >= 1 (8, 16, 32, 64, 128...), got {image_size}")
    return k


def dcgan_init(model, rng=None, std: float = 0.02):
    """Re-initialise ``model`` in place as the DCGAN paper does; returns ``model``.

    Convolutions and transposed convolutions: ``W ~ N(0, std)``, bias 0. BatchNorm:
    ``gamma ~ N(1, std)``, ``beta = 0``. The numbers are drawn on the CPU (so that a seed gives
    the same weights on every device) and copied into the existing arrays.
    """
    rng = np.random.default_rng(rng)

    def fill(layer, key, values):
        target = layer.params[key]
        target[...] = to_device(values.astype(target.dtype), device_of(target))

    for _, layer in model.named_layers():
        if isinstance(layer, (Conv2d, ConvTranspose2d)):
            fill(layer, "W", rng.normal(0.0, std, size=layer.params["W"].shape))
            if "b" in layer.params:
                layer.params["b"][...] = 0
        elif isinstance(layer, BatchNorm2d):
            fill(layer, "gamma", rng.normal(1.0, std, size=layer.params["gamma"].shape))
            layer.params["beta"][...] = 0
    return model


class Generator(Sequential):
    """Noise ``z (N, nz)`` or ``(N, nz, 1, 1)`` -> images ``(N, nc, S, S)`` in [-1, 1].

    Weights are drawn with the DCGAN initialisation from ``rng`` (a seed or a Generator).
    """

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64,
                 dtype=np.float32, rng=None):
        k = num_blocks(image_size)
        width = ngf * 2 ** (k - 1)  # 512 for 64x64
        layers = [ConvTranspose2d(nz, width, 4, 1, 0, bias=False, dtype=dtype), BatchNorm2d(width, dtype=dtype), ReLU()]
        for _ in range(k - 1):  # 4x4 -> 8x8 -> ... -> S/2, halving the width each time
            layers += [ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False, dtype=dtype),
                       BatchNorm2d(width // 2, dtype=dtype), ReLU()]
            width //= 2
        layers += [ConvTranspose2d(width, nc, 4, 2, 1, bias=False, dtype=dtype), Tanh()]  # (N, nc, S, S)
        super().__init__(*layers)
        self.nz, self.ngf, self.nc, self.image_size = nz, ngf, nc, image_size
        dcgan_init(self, rng)

    def config(self) -> dict:
        return {"nz": self.nz, "ngf": self.ngf, "nc": self.nc, "image_size": self.image_size}

    def forward(self, z):
        return super().forward(self._noise_map(z))

    def _noise_map(self, z):
        """``z (N, nz)`` or ``(N, nz, 1, 1)`` as the 1x1 map ``(N, nz, 1, 1)`` the first layer takes
        (its shape kept for ``backward``); ValueError for any other shape."""
        self._z_shape = z.shape
        if z.ndim == 2:
            z = z.reshape(z.shape[0], z.shape[1], 1, 1)  # (N, nz, 1, 1)
        if z.ndim != 4 or z.shape[1:] != (self.nz, 1, 1):
            raise ValueError(f"Generator(nz={self.nz}) expects noise of shape (N, {self.nz}), got {self._z_shape}")
        return z

    def backward(self, dy):
        return super().backward(dy).reshape(self._z_shape)


class Discriminator(Sequential):
    """Images ``(N, nc, S, S)`` -> logits ``(N,)`` (real if large; no sigmoid: the loss takes logits)."""

    def __init__(self, nc: int = 3, ndf: int = 64, image_size: int = 64, dtype=np.float32, rng=None):
        k = num_blocks(image_size)
        layers = [Conv2d(nc, ndf, 4, 2, 1, bias=False, dtype=dtype), LeakyReLU(0.2)]  # (N, ndf, S/2, S/2)
        width = ndf
        for _ in range(k - 1):  # S/2 -> ... -> 4x4, doubling the width each time
            layers += [Conv2d(width, width * 2, 4, 2, 1, bias=False, dtype=dtype),
                       BatchNorm2d(width * 2, dtype=dtype), LeakyReLU(0.2)]
            width *= 2
        layers += [Conv2d(width, 1, 4, 1, 0, bias=False, dtype=dtype)]  # (N, 1, 1, 1)
        super().__init__(*layers)
        self.nc, self.ndf, self.image_size = nc, ndf, image_size
        dcgan_init(self, rng)

    def config(self) -> dict:
        return {"nc": self.nc, "ndf": self.ndf, "image_size": self.image_size}

    def forward(self, x):
        if x.ndim != 4 or x.shape[1:] != (self.nc, self.image_size, self.image_size):
            raise ValueError(f"Discriminator expects images of shape (N, {self.nc}, {self.image_size}, "
                             f"{self.image_size}), got {x.shape}")
        return super().forward(x).reshape(x.shape[0])  # (N,)

    def backward(self, dy):
        return super().backward(dy.reshape(dy.shape[0], 1, 1, 1))
