"""The conditional DCGAN: a generator that takes the labels with the noise, and a projection
discriminator (Miyato & Koyama 2018).

The generator is the DCGAN generator of :mod:`minigan.models.dcgan` whose input is the noise
with one one-hot block per conditioned attribute appended::

    input = [z (nz) | one_hot(hair_color) (10) | one_hot(hair_style) (6) | ...]   (N, nz + sum K, 1, 1)

Its first layer, the 4x4 transposed convolution, is linear in that input, so each label value
adds a learned 4x4x512 map to what the noise makes: an embedding of every class into the first
feature map (what make.girls.moe's generator did). Keeping the packed input one vector means
everything built for the unconditional generator (sampling, the moving average, folding it for
the studio, the page's JavaScript) works on it unchanged: a label is a part of the input.
:func:`conditional_input` packs it; :class:`ConditionalGenerator` records which part is which.

The discriminator's logit is the DCGAN discriminator's plus the projection term::

    h = the last feature map (N, 8 ndf, 4, 4)
    logit = conv4x4(h) + sum over attributes a of <E_a[y_a], sum over (h, w) of h>

Real images are pushed up with their own labels, fakes down with the labels they were drawn
for, so D learns whether an image looks like its label, and G learns to draw the label.

With ``auxiliary=True`` the discriminator also classifies (AC-GAN, Odena et al. 2017, what
make.girls.moe trained): a linear layer reads every attribute's logits off the mean of the same
feature map, ``aux = W mean_hw(h) + b``, ``(N, sum K)``, one block per attribute. The trainer
teaches it the real images' labels with a cross-entropy and lets G lower the same cross-entropy
on its fakes (:func:`minigan.gan.train_step`'s ``aux_weight``): a direct push towards each
label, where the projection only says whether image and label go together.

With ``conditional_bn=True`` the labels act at every resolution too: each of the generator's
batch norms is class-conditional (:class:`~minigan.nn.ConditionalBatchNorm2d`, BigGAN's way), its
scale and shift a learned row per class, read from the same one-hots of the packed input. The
input keeps its one-hots, so the packed input, and everything built on it, stay the same.
"""

from __future__ import annotations

import numpy as np

from ..backend import device_of, get_array_module, to_device
from ..nn import BatchNorm2d, ConditionalBatchNorm2d, Linear, Projection
from ..nn.embed import as_labels, check_label_range
from .dcgan import Discriminator, Generator

__all__ = ["ConditionalGenerator", "ProjectionDiscriminator", "conditional_input", "one_hot"]


def one_hot(labels, num_classes, dtype=np.float32, xp=np):
    """``(N, A)`` integer labels -> ``(N, sum(num_classes))``: one one-hot block per attribute."""
    labels = as_labels(labels, xp, len(num_classes))  # (N, A) integers, in range: checked as Projection checks them
    check_label_range(labels, num_classes)
    out = xp.zeros((labels.shape[0], sum(num_classes)), dtype=dtype)
    start = 0
    for a, k in enumerate(num_classes):
        out[xp.arange(labels.shape[0]), start + labels[:, a]] = 1
        start += k
    return out


def conditional_input(z, labels, num_classes):
    """The conditional generator's input: noise ``z (N, nz)`` with the labels' one-hots appended,
    on ``z``'s device and in its dtype."""
    xp = get_array_module(z)
    return xp.concatenate([z, one_hot(labels, num_classes, z.dtype, xp)], axis=1)


class ConditionalGenerator(Generator):
    """A DCGAN generator of ``nz + sum(num_classes)`` inputs: noise, then the labels' one-hots.

    ``forward`` takes the packed input (:func:`conditional_input`); ``noise_size`` is the noise
    part and ``nz`` (= ``input_size``) the whole. ``attributes`` names the conditioned labels,
    ``vocab`` their values. ``conditional_bn``: every batch norm is class-conditional too.
    """

    def __init__(self, attributes, vocab, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64,
                 dtype=np.float32, rng=None, conditional_bn: bool = False):
        self.attributes = [str(a) for a in attributes]
        self.vocab = {a: [str(v) for v in vocab[a]] for a in self.attributes}
        self.num_classes = tuple(len(self.vocab[a]) for a in self.attributes)
        self.noise_size = nz
        self.conditional_bn = bool(conditional_bn)
        super().__init__(nz + sum(self.num_classes), ngf, nc, image_size, dtype, rng)
        self.nz = self.input_size = nz + sum(self.num_classes)
        if self.conditional_bn:  # the same gamma and beta (DCGAN-initialised), with zero tables per class
            for i, layer in enumerate(self.layers):
                if isinstance(layer, BatchNorm2d):
                    cbn = ConditionalBatchNorm2d(layer.num_features, sum(self.num_classes), dtype=dtype)
                    cbn.params["gamma"][...] = layer.params["gamma"]
                    self.layers[i] = cbn

    def config(self) -> dict:
        config = {"attributes": self.attributes, "vocab": self.vocab, "nz": self.noise_size, "ngf": self.ngf,
                  "nc": self.nc, "image_size": self.image_size}
        if self.conditional_bn:  # (absent for the models of before, which load as they were)
            config["conditional_bn"] = True
        return config

    def forward(self, z):
        if not self.conditional_bn:
            return super().forward(z)
        h = self._noise_map(z)
        c = h.reshape(h.shape[0], self.nz)[:, self.noise_size:]  # (N, sum K): the one-hots
        for layer in self.layers:
            h = layer.forward(h, c) if isinstance(layer, ConditionalBatchNorm2d) else layer.forward(h)
        return h

    def backward(self, dy):
        if not self.conditional_bn:
            return super().backward(dy)
        dc = 0
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
            if isinstance(layer, ConditionalBatchNorm2d):
                dc = dc + layer.condition_grad
        if dy is None:  # the first layer was told that nobody reads the input's gradient
            return None
        dz = dy.reshape(dy.shape[0], self.nz).copy()
        dz[:, self.noise_size:] += dc  # the one-hots reach the output through the batch norms as well
        return dz.reshape(self._z_shape)

    def inputs(self, z, labels):
        """The packed input for noise ``z (N, noise_size)`` and labels ``(N, A)``."""
        if z.shape[-1] != self.noise_size:
            raise ValueError(f"the conditional generator takes {self.noise_size}-d noise, got {z.shape}")
        return conditional_input(z, labels, self.num_classes)


class ProjectionDiscriminator(Discriminator):
    """``forward(x, labels)``: the DCGAN discriminator's logit plus the projection of its last
    feature map onto the labels' embeddings. The projection is the sub-layer ``"projection"``
    (its tables ``projection.E0``, ``projection.E1``... in the checkpoint). ``auxiliary``: a
    classifier too, the sub-layer ``"classifier"``, whose logits ``(N, sum K)`` each ``forward``
    leaves in ``aux_logits`` and whose gradient ``backward(dy, daux)`` takes."""

    def __init__(self, attributes, vocab, nc: int = 3, ndf: int = 64, image_size: int = 64, dtype=np.float32,
                 rng=None, auxiliary: bool = False):
        rng = np.random.default_rng(rng)
        super().__init__(nc, ndf, image_size, dtype, rng)
        self.attributes = [str(a) for a in attributes]
        self.vocab = {a: [str(v) for v in vocab[a]] for a in self.attributes}
        self.num_classes = tuple(len(self.vocab[a]) for a in self.attributes)
        width = self.layers[-1].params["W"].shape[1]  # the last conv's input channels (8 ndf)
        self.projection = Projection(width, self.num_classes, dtype=dtype, rng=rng)
        self.auxiliary = bool(auxiliary)
        if self.auxiliary:
            self.classifier = Linear(width, sum(self.num_classes), dtype=dtype, rng=rng)
        self.aux_logits = None

    def config(self) -> dict:
        config = {"attributes": self.attributes, "vocab": self.vocab, **super().config()}
        if self.auxiliary:  # (absent for the models of before, which load as they were)
            config["auxiliary"] = True
        return config

    def children(self):
        yield from super().children()
        if hasattr(self, "projection"):  # (not yet while the DCGAN part is initialised)
            yield "projection", self.projection
        if getattr(self, "auxiliary", False):
            yield "classifier", self.classifier

    def forward(self, x, labels=None):
        if labels is None:
            raise ValueError("the projection discriminator needs the labels of its images: forward(x, labels)")
        if x.ndim != 4 or x.shape[1:] != (self.nc, self.image_size, self.image_size):
            raise ValueError(f"Discriminator expects images of shape (N, {self.nc}, {self.image_size}, "
                             f"{self.image_size}), got {x.shape}")
        h = x
        for layer in self.layers[:-1]:
            h = layer.forward(h)
        labels = to_device(labels, device_of(h))
        if self.auxiliary:
            self.aux_logits = self.classifier.forward(h.mean(axis=(2, 3)))  # (N, sum K)
        return self.layers[-1].forward(h).reshape(x.shape[0]) + self.projection.forward(h, labels)

    def backward(self, dy, daux=None):
        """``dy (N,)``: the gradient of the logits; ``daux (N, sum K)``: of ``aux_logits`` (None: 0)."""
        if daux is not None and not self.auxiliary:
            raise ValueError("daux: this discriminator has no classifier (auxiliary=False)")
        dh = self.layers[-1].backward(dy.reshape(dy.shape[0], 1, 1, 1)) + self.projection.backward(dy)
        if daux is not None:
            _, _, height, width = dh.shape  # the mean over (h, w) spreads its gradient evenly
            dh = dh + self.classifier.backward(daux)[:, :, None, None] / (height * width)
        for layer in reversed(self.layers[:-1]):
            dh = layer.backward(dh)
        return dh

    def clear_cache(self):
        super().clear_cache()
        self.projection.clear_cache()
        if self.auxiliary:
            self.classifier.clear_cache()
        self.aux_logits = None
