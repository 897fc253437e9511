"""The GAN game: one training step of the discriminator and the generator.

The discriminator D is a classifier of real against generated images; the generator G turns
noise into images and wins when D calls them real. Each step plays one round (Goodfellow et al.
2014, with the "non-saturating" generator loss every DCGAN uses):

1. D step: ``L_D = BCE(D(T(x)), t_real) + BCE(D(T(G(z))), 0)``; Adam step on D only.
   ``t_real`` is 1, or 0.9 with one-sided label smoothing (real targets only), which keeps D
   from becoming over-confident on a small data set.
2. G step: ``L_G = BCE(D(T(G(z))), 1)`` (maximise log D(G(z)) rather than minimise
   log(1 - D(G(z))), whose gradient vanishes exactly when G is bad); the gradient flows back
   through D (whose weights stay fixed) into G; Adam step on G only.

A conditional GAN with an auxiliary classifier in D (AC-GAN, ``aux_weight > 0``) adds
``aux_weight * CE(D_aux(T(x)), y_real)`` to ``L_D`` (D learns to read the labels of real images)
and ``aux_weight * CE(D_aux(T(G(z))), y_fake)`` to ``L_G`` (G draws what D reads as its labels);
``CE`` sums a softmax cross-entropy per attribute. D is not taught to classify the fakes: that
would reward it for reading labels off G's own mistakes.

``T`` is the differentiable augmentation (:class:`minigan.nn.DiffAugment`, or the identity).
This is pytorch/examples' dcgan step: the fakes are generated once, D sees them detached in
its step and again (through its updated weights) in G's.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from .backend import get_array_module
from .nn import BCEWithLogitsLoss, SoftmaxCrossEntropyLoss, sigmoid
from .nn.embed import as_labels

__all__ = ["StepResult", "train_step", "classification_loss"]


@dataclass
class StepResult:
    """What one step measured, as 0-d arrays on the step's device (no host synchronisation).

    ``loss_d``, ``loss_g``: the two adversarial losses. ``d_real``, ``d_fake``: mean D(x) and
    D(G(z)) (probabilities, after the sigmoid) in the D step; ``d_fake_g``: mean D(G(z)) in the G
    step. ``aux_d``, ``aux_g``: with an auxiliary classifier, its cross-entropies on the real
    images (D's step) and on the fakes (G's step), unweighted; None without one.
    """

    loss_d: object
    loss_g: object
    d_real: object
    d_fake: object
    d_fake_g: object
    aux_d: object = None
    aux_g: object = None

    def as_floats(self) -> dict[str, float]:
        """The numbers as Python floats (synchronises a GPU: call only when showing them)."""
        return {k: float(v) for k, v in self.__dict__.items() if v is not None}


@contextlib.contextmanager
def _without_input_gradient(model):
    """Inside the block nobody reads the gradient of ``model``'s input, so its first layer may
    skip computing it (``Layer.needs_input_grad``; a convolution saves a GEMM and a col2im)."""
    first = model.layers[0] if getattr(model, "layers", None) else model
    with first.mode(needs_input_grad=False):
        yield


def classification_loss(logits, labels, num_classes):
    """``(loss, dlogits)``: the sum over attributes of the mean softmax cross-entropy of each
    attribute's block of ``logits (N, sum K)`` against its column of ``labels (N, A)``."""
    xp = get_array_module(logits)
    labels = as_labels(labels, xp, len(num_classes))  # (N, A); a 1-d array for one attribute
    if logits.shape[1:] != (sum(num_classes),):
        raise ValueError(f"logits of shape {logits.shape} for classes {tuple(num_classes)}: expected (N, {sum(num_classes)})")
    total, grad, start = 0, xp.empty_like(logits), 0
    for a, k in enumerate(num_classes):
        ce = SoftmaxCrossEntropyLoss()
        total = total + ce.forward(logits[:, start:start + k], labels[:, a])
        grad[:, start:start + k] = ce.backward()
        start += k
    return total, grad


def train_step(G, D, opt_g, opt_d, real, z, *, real_label: float = 1.0, augment=None,
               loss=None, labels_real=None, labels_fake=None, aux_weight: float = 0.0) -> StepResult:
    """Play one round: update D on ``real`` and ``G(z)``, then G through D.

    Args:
        G, D: :class:`~minigan.models.dcgan.Generator` and ``Discriminator`` in training mode.
        opt_g, opt_d: their optimizers.
        real: real images ``(N, C, S, S)`` in [-1, 1], on the models' device and dtype.
        z: noise ``(N, nz)`` (any batch size; usually N).
        real_label: target for real images (0.9 = one-sided label smoothing).
        augment: a layer applied to every image D sees (``DiffAugment``), or None.
        labels_real, labels_fake: for a conditional GAN (:mod:`minigan.models.conditional`),
            the labels ``(N, A)`` of the real images and those the fakes were drawn for (``z``
            is then the generator's packed input, noise and one-hots); D takes them with the images.
        aux_weight: the weight of the auxiliary classifier's cross-entropies (a conditional D
            built with ``auxiliary=True``); 0 leaves the classifier out. They are returned apart
            (``aux_d``, ``aux_g``), not in ``loss_d`` and ``loss_g``.
    """
    bce = loss or BCEWithLogitsLoss()
    T = augment
    xp = get_array_module(real)
    if (labels_real is None) != (labels_fake is None):
        raise ValueError("a conditional step needs both labels_real and labels_fake")
    classify = aux_weight > 0
    if classify and (labels_real is None or not getattr(D, "auxiliary", False)):
        raise ValueError("aux_weight needs a conditional discriminator with a classifier (auxiliary=True) and labels")

    def gradients(logits, target, labels):
        """The adversarial loss of ``logits``, the classifier's (None without one) and D.backward's arguments."""
        value, grads = bce.forward(logits, target), [bce.backward()]
        if not classify:
            return value, None, grads
        aux, daux = classification_loss(D.aux_logits, labels, D.num_classes)
        return value, aux, grads + [aux_weight * daux]

    def judge(images, labels):
        return D.forward(images) if labels is None else D.forward(images, labels)

    # 1. discriminator: real images towards real_label, generated ones towards 0
    opt_d.zero_grad()
    with _without_input_gradient(D):  # dL/d(images) is not needed in D's step
        logits_real = judge(T.forward(real) if T is not None else real, labels_real)  # (N,)
        loss_real, aux_d, grads = gradients(logits_real, real_label, labels_real)
        D.backward(*grads)  # accumulates into D.grads
        fake = G.forward(z)  # (N, C, S, S), kept for the G step
        logits_fake = judge(T.forward(fake) if T is not None else fake, labels_fake)
        loss_fake = bce.forward(logits_fake, 0.0)
        D.backward(bce.backward())
    opt_d.step()

    # 2. generator: make D call the fakes real; D's weights are not trained here
    opt_g.zero_grad()
    with D.mode(requires_grad=False):  # skip D's weight gradients: they would be thrown away
        logits_g = judge(T.forward(fake) if T is not None else fake, labels_fake)
        loss_g, aux_g, grads = gradients(logits_g, 1.0, labels_fake)
        dfake = D.backward(*grads)  # dL_G / d(T(fake))
        if T is not None:
            dfake = T.backward(dfake)  # through the augmentation to the clean fake
        G.backward(dfake)
    opt_g.step()

    return StepResult(loss_d=loss_real + loss_fake, loss_g=loss_g,
                      d_real=xp.mean(sigmoid(logits_real)), d_fake=xp.mean(sigmoid(logits_fake)),
                      d_fake_g=xp.mean(sigmoid(logits_g)), aux_d=aux_d, aux_g=aux_g)
