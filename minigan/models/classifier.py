"""The attribute classifier: a small network that reads an idol's hair colour, hair style and
eye colour, its training, and its save/load.

A GAN has no loss that says how good its idols are, so minigan measures them with a second
network trained on the built-in set's labels. It plays three parts (:mod:`minigan.metrics`):

* its penultimate features give a domain-specific Frechet distance (the idea of FID, with a
  network that knows idols instead of ImageNet's Inception);
* its predictions tell which attributes the generated idols have (how often blond? how often
  twin tails?), so their histogram can be compared with the real set's, and so an attribute
  vector can be built from labels and its edits checked (:func:`minigan.latent.vector_from_labels`);
* its features give a second nearest-neighbour distance for the memorisation check.

``python -m minigan classifier train`` trains and saves it (:data:`DEFAULT_CLASSIFIER`). It is
the discriminator's shape with three heads::

    x (N, 3, 64, 64)
    Conv 4,2,1  (N, w, 32, 32)   LReLU                      w = width (default 8)
    Conv 4,2,1  (N, 2w, 16, 16)  BN LReLU
    Conv 4,2,1  (N, 4w, 8, 8)    BN LReLU
    Conv 4,2,1  (N, 8w, 4, 4)    BN LReLU
    Flatten     (N, 128w)
    Linear      (N, F)           LReLU      <- the features (F = feature_dim, default 128)
    one Linear (N, K_a) per attribute a     <- logits, trained with softmax cross-entropy
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import optim
from ..backend import get_array_module, normalize_device, to_device, to_numpy
from ..checkpoint import load_checkpoint, load_model_arrays, model_arrays, save_checkpoint
from ..data.augment import augment_batch
from ..data.dataset import iterate_batches, to_images, to_model_input
from ..errors import CheckpointError, DatasetError, MiniganError
from ..nn import (BatchNorm2d, Conv2d, Flatten, Layer, LeakyReLU, Linear, Sequential,
                  SoftmaxCrossEntropyLoss, softmax)
from ..progress import ProgressBar
from ..sampling import generate
from .dcgan import num_blocks

__all__ = [
    "CLASSIFIER_ATTRIBUTES",
    "DEFAULT_CLASSIFIER",
    "CLASSIFIER_AUGMENT",
    "AttributeClassifier",
    "ClassifierOutput",
    "split_indices",
    "train_classifier",
    "classify",
    "classifier_accuracy",
    "generate_and_classify",
    "require_heads",
    "parse_target",
    "save_classifier",
    "load_classifier",
]

#: The labels the classifier learns (the ones an attribute vector is usually about).
CLASSIFIER_ATTRIBUTES = ("hair_color", "hair_style", "eye_color")

#: Where ``classifier train`` saves, and where every command looks by default.
DEFAULT_CLASSIFIER = "runs/classifier.npz"

#: Light augmentation of the classifier's training images (arguments of
#: :func:`minigan.data.augment_batch`): a little zoom and rotation, mirror images. No colour
#: changes: colour is what two of the three labels are about.
CLASSIFIER_AUGMENT = {"zoom": (0.95, 1.1), "rotate": 8.0, "flip": True}


# -- the classifier ---------------------------------------------------------------------------------


class AttributeClassifier(Layer):
    """Images ``(N, 3, S, S)`` in [-1, 1] -> ``{attribute: logits (N, K_attribute)}``.

    A trunk of stride-2 convolutions (``S -> S/2 -> ... -> 4``) and one fully connected layer
    gives features ``(N, feature_dim)``; one linear head per attribute turns them into logits.

    Args:
        classes: ``{attribute: number of classes}``, e.g. ``{"hair_color": 10, ...}``.
        image_size: ``S``, a power of two times 4 (8, 16, 32, 64...).
        width: channels of the first convolution (doubled at every further one).
        feature_dim: size of the feature vector (the Frechet distance's space).
        rng: seed or ``numpy.random.Generator`` for the initial weights.
    """

    def __init__(self, classes: dict, image_size: int = 64, width: int = 8, feature_dim: int = 128,
                 dtype=np.float32, rng=None):

        super().__init__()
        rng = np.random.default_rng(rng)
        seeds = iter(rng.integers(0, 2**63, 16 + len(classes)))
        k = num_blocks(image_size)  # stride-2 blocks from S/2 down to 4x4 (4 for 64x64)
        layers = [Conv2d(3, width, 4, 2, 1, bias=False, dtype=dtype, rng=next(seeds)), LeakyReLU(0.2)]
        channels = width
        for _ in range(k - 1):
            layers += [Conv2d(channels, channels * 2, 4, 2, 1, bias=False, dtype=dtype, rng=next(seeds)),
                       BatchNorm2d(channels * 2, dtype=dtype), LeakyReLU(0.2)]
            channels *= 2
        layers += [Flatten(),  # (N, channels * 16)
                   Linear(channels * 16, feature_dim, dtype=dtype, rng=next(seeds)), LeakyReLU(0.2)]
        self.trunk = Sequential(*layers)
        self.heads = {name: Linear(feature_dim, int(k_classes), dtype=dtype, rng=next(seeds))
                      for name, k_classes in classes.items()}
        self.classes = {name: int(c) for name, c in classes.items()}
        self.image_size, self.width, self.feature_dim = int(image_size), int(width), int(feature_dim)

    def config(self) -> dict:
        return {"classes": self.classes, "image_size": self.image_size, "width": self.width,
                "feature_dim": self.feature_dim}

    @property
    def attributes(self) -> list[str]:
        return list(self.heads)

    def children(self):
        yield "trunk", self.trunk
        for name, head in self.heads.items():
            yield f"head_{name}", head

    def _check(self, x):
        if x.ndim != 4 or x.shape[1:] != (3, self.image_size, self.image_size):
            raise ValueError(f"the classifier takes images of shape (N, 3, {self.image_size}, "
                             f"{self.image_size}), got {tuple(x.shape)}")

    def features(self, x):
        """The penultimate features ``(N, feature_dim)`` (after the LeakyReLU)."""
        self._check(x)
        return self.trunk.forward(x)

    def forward(self, x):
        """``{attribute: logits (N, K)}``; keeps what :meth:`backward` needs."""
        feats = self.features(x)  # (N, F)
        self._features = feats
        return {name: head.forward(feats) for name, head in self.heads.items()}

    def backward(self, dlogits: dict):
        """``dlogits``: ``{attribute: dL/dlogits (N, K)}`` (missing heads count as zero).

        The heads share the features, so their gradients add: ``dF = sum_a dlogits_a @ W_a``.
        Returns ``dL/dx`` ``(N, 3, S, S)``.
        """
        dfeats = None
        for name, head in self.heads.items():
            if name in dlogits:
                d = head.backward(dlogits[name])  # (N, F)
                dfeats = d if dfeats is None else dfeats + d
        if dfeats is None:
            raise ValueError("backward needs the gradient of at least one head")
        return self.trunk.backward(dfeats)

    def clear_cache(self):
        self._features = None
        for _, child in self.children():
            child.clear_cache()

    def extra_repr(self):
        heads = ", ".join(f"{name}: {k}" for name, k in self.classes.items())
        return f"image_size={self.image_size}, width={self.width}, feature_dim={self.feature_dim}, heads {{{heads}}}"


@dataclass
class ClassifierOutput:
    """What :func:`classify` returns, as NumPy arrays.

    Attributes:
        features: ``(N, F)`` float32, the penultimate features.
        probabilities: ``{attribute: (N, K) float32}``, softmax of each head's logits.
    """

    features: np.ndarray
    probabilities: dict

    @functools.cached_property
    def predictions(self) -> dict:
        """``{attribute: (N,) int64}``, the most probable class of each head (worked out once)."""
        return {name: p.argmax(axis=1).astype(np.int64) for name, p in self.probabilities.items()}


def _as_model_input(images, xp):
    """uint8 ``(N, S, S, 3)`` -> float32 ``(N, 3, S, S)`` in [-1, 1] on ``xp``; float input is
    taken as model input already (moved to ``xp``)."""

    if images.dtype == np.uint8:
        return to_model_input(images, xp)
    return xp.asarray(images, dtype=xp.float32)


def classify(clf: AttributeClassifier, images, batch_size: int = 256,
             progress: str | None = None) -> ClassifierOutput:
    """Run the classifier (in evaluation mode) over ``images`` in batches.

    ``images``: uint8 ``(N, S, S, 3)`` (stored images) or float ``(N, 3, S, S)`` in [-1, 1]
    (generator output), NumPy or on the classifier's device. ``progress``: a description to show
    a progress bar with. Returns a :class:`ClassifierOutput` of NumPy arrays.
    """

    xp = clf.xp
    feats, probs = [], {name: [] for name in clf.heads}
    bar = ProgressBar(len(images), desc=progress, unit="img") if progress else None
    try:
        with clf.mode(training=False):
            for start in range(0, len(images), batch_size):
                x = _as_model_input(images[start:start + batch_size], xp)  # (B, 3, S, S)
                logits = clf.forward(x)
                feats.append(to_numpy(clf._features))
                for name, value in logits.items():
                    probs[name].append(to_numpy(softmax(value, axis=1)))
                if bar:
                    bar.update(len(x))
    finally:
        clf.clear_cache()
        if bar:
            bar.close()
    return ClassifierOutput(np.concatenate(feats), {name: np.concatenate(p) for name, p in probs.items()})


def require_heads(clf: AttributeClassifier, attributes) -> None:
    """MiniganError naming the classifier's heads if it has no head for one of ``attributes``."""
    for name in attributes:
        if name not in clf.heads:
            raise MiniganError(f"the classifier has no {name!r} head (it knows {', '.join(clf.heads)})")


def classifier_accuracy(clf: AttributeClassifier, images, labels: dict, batch_size: int = 256) -> dict:
    """``{attribute: share of images whose predicted class equals its label}`` (floats in [0, 1])."""
    predictions = classify(clf, images, batch_size).predictions
    return {name: float((predictions[name] == np.asarray(labels[name])).mean()) for name in clf.heads}


def split_indices(dataset, holdout: float = 0.15, by: str = "image", seed: int = 0):
    """Split a dataset into training and held-out indices: ``(train (M,), held_out (N - M,))``.

    ``by="image"`` holds out a random share of the images (every character is seen in training
    in other poses, so this measures how well it recognises new poses); ``by="character"`` holds
    out every image of a random share of the characters (never seen at all: closer to what a
    generator's new idols ask of it). Both sorted int64 arrays; deterministic given ``seed``.
    """
    if not 0 <= holdout < 1:
        raise ValueError(f"the held-out share must be in [0, 1), got {holdout}")
    rng = np.random.default_rng(seed)
    n = len(dataset)
    if by == "image":
        held = rng.permutation(n)[:int(round(holdout * n))]
    elif by == "character":
        if "character" not in dataset.labels:
            raise DatasetError("a split by character needs character labels (the built-in idol set has them)")
        characters = np.unique(dataset.labels["character"])
        held_chars = rng.permutation(characters)[:int(round(holdout * len(characters)))]
        held = np.flatnonzero(np.isin(dataset.labels["character"], held_chars))
    else:
        raise ValueError(f"split by 'image' or 'character', not {by!r}")
    mask = np.zeros(n, bool)
    mask[held] = True
    return np.flatnonzero(~mask).astype(np.int64), np.flatnonzero(mask).astype(np.int64)


def _require_labels(dataset, attributes):
    missing = [a for a in attributes if a not in dataset.labels]
    if missing:
        have = ", ".join(sorted(dataset.labels)) or "none"
        raise DatasetError(f"the data ({dataset.source}) has no {', '.join(missing)} labels (its labels: {have}); "
                           "train the classifier on the built-in idol set ('idols'), or choose labels it has with "
                           "--attributes")


def train_classifier(dataset, attributes=CLASSIFIER_ATTRIBUTES, epochs: int = 8, batch_size: int = 64,
                     lr: float = 2e-3, width: int = 8, feature_dim: int = 128, holdout: float = 0.15,
                     split: str = "image", seed: int = 0, augment: bool = True, device: str = "cpu",
                     progress: bool = True):
    """Train an :class:`AttributeClassifier` on a labelled dataset; returns ``(clf, report)``.

    Adam (betas 0.9, 0.999) on the sum of the heads' softmax cross-entropies, the learning rate
    following a cosine from ``lr`` to 0 over the run, light augmentation
    (:data:`CLASSIFIER_AUGMENT`). ``report`` holds the held-out accuracy per attribute (and per
    hair colour etc.), the split and the training time in seconds.
    """

    attributes = list(attributes)
    _require_labels(dataset, attributes)
    device = normalize_device(device)
    train_idx, held_idx = split_indices(dataset, holdout, split, seed)
    if len(train_idx) < batch_size:
        raise DatasetError(f"{len(train_idx)} training images, fewer than one batch of {batch_size}")
    rng = np.random.default_rng(seed + 1)
    classes = {a: len(dataset.vocab[a]) for a in attributes}
    clf = AttributeClassifier(classes, dataset.images.shape[1], width, feature_dim, rng=rng).to(device)
    opt = optim.Adam(clf, lr=lr, betas=(0.9, 0.999))
    losses = {a: SoftmaxCrossEntropyLoss() for a in attributes}
    images = to_device(dataset.images[train_idx], device)  # (M, S, S, 3) uint8 on the device
    xp = get_array_module(images)
    labels = {a: xp.asarray(dataset.labels[a][train_idx]) for a in attributes}  # (M,) each
    steps_per_epoch = len(train_idx) // batch_size
    total, step = epochs * steps_per_epoch, 0
    start = time.perf_counter()
    clf.train()
    for epoch in range(epochs):
        bar = ProgressBar(steps_per_epoch * batch_size, desc=f"classifier epoch {epoch + 1}/{epochs}",
                          unit="img") if progress else None
        for idx in iterate_batches(len(train_idx), batch_size, rng):
            opt.lr = lr * 0.5 * (1 + math.cos(math.pi * step / total))  # cosine decay to 0
            idx_dev = xp.asarray(idx)
            x = to_model_input(images[idx_dev], xp)  # (B, 3, S, S)
            if augment:
                x = augment_batch(x, rng, **CLASSIFIER_AUGMENT)
            logits = clf.forward(x)
            loss = sum(float(losses[a].forward(logits[a], labels[a][idx_dev])) for a in attributes)
            clf.zero_grad()
            clf.backward({a: losses[a].backward() for a in attributes})
            opt.step()
            step += 1
            if not math.isfinite(loss):
                raise MiniganError(f"classifier training diverged at step {step} (loss {loss}); try a lower learning rate")
            if bar:
                bar.update(batch_size, loss=loss)
        if bar:
            bar.close()
    seconds = time.perf_counter() - start
    clf.eval()
    report = {"split": split, "holdout": holdout, "train_images": int(len(train_idx)),
              "held_out_images": int(len(held_idx)), "epochs": epochs, "seconds": round(seconds, 1),
              "device": device}
    if len(held_idx):
        out = classify(clf, dataset.images[held_idx])
        report["held_out_accuracy"] = {}
        report["held_out_accuracy_by_class"] = {}
        for a in attributes:
            truth, pred = dataset.labels[a][held_idx], out.predictions[a]
            report["held_out_accuracy"][a] = round(float((pred == truth).mean()), 4)
            report["held_out_accuracy_by_class"][a] = {
                dataset.vocab[a][k]: round(float((pred[truth == k] == k).mean()), 4)
                for k in range(classes[a]) if (truth == k).any()}
    return clf, report


def save_classifier(path, clf: AttributeClassifier, vocab: dict, meta: dict | None = None) -> Path:
    """Save a classifier as a minigan checkpoint of kind ``"classifier"`` (arrays ``C/...``).

    ``vocab``: ``{attribute: [class names]}`` for the heads (stored so that predictions can be
    named without the dataset). ``meta``: anything else JSON-able (the training report).
    """

    info = {"kind": "classifier", "models": {"C": clf.config()},
            "vocab": {a: list(vocab[a]) for a in clf.heads}, **(meta or {})}
    return save_checkpoint(path, model_arrays("C", clf), info)


def load_classifier(path=DEFAULT_CLASSIFIER, device: str = "cpu"):
    """Read a classifier saved by :func:`save_classifier`; returns ``(clf, meta)`` in eval mode.

    Raises :class:`~minigan.errors.CheckpointError` for a missing file (with the command that
    makes one) or a checkpoint of another kind.
    """

    if not Path(path).exists():
        raise CheckpointError(f"no classifier at {path}: train one (python -m minigan classifier train, under "
                              "a minute), or name another")
    arrays, meta = load_checkpoint(path)
    if meta.get("kind") != "classifier":
        raise CheckpointError(f"{path} is a {meta.get('kind')!r} checkpoint, not an attribute classifier")
    config = meta["models"]["C"]
    clf = AttributeClassifier(config["classes"], config["image_size"], config["width"], config["feature_dim"])
    load_model_arrays(clf, arrays, "C", source=str(path))
    return clf.eval().to(normalize_device(device)), meta


def generate_and_classify(G, clf: AttributeClassifier, z, batch_size: int = 128, keep_images: bool = False,
                          progress: str | None = None):
    """Generate ``G(z)`` batch by batch and classify every idol.

    Args:
        z: ``(N, nz)`` noise (NumPy).
        keep_images: also return the idols as uint8 ``(N, S, S, 3)`` (else None).
        progress: a description for a progress bar (None: no bar).

    Returns ``(output, images)``: a :class:`ClassifierOutput` and the images or None. Raises
    :class:`MiniganError` when the generator's image size is not the classifier's.
    """

    if G.image_size != clf.image_size:
        raise MiniganError(f"the classifier was trained on {clf.image_size}x{clf.image_size} images but the "
                           f"generator makes {G.image_size}x{G.image_size} ones")
    bar = ProgressBar(len(z), desc=progress, unit="img") if progress else None
    outputs, images = [], []
    for start in range(0, len(z), batch_size):
        x = generate(G, z[start:start + batch_size], batch_size)  # (B, 3, S, S) on G's device
        outputs.append(classify(clf, x, batch_size))
        if keep_images:
            images.append(to_images(x))
        if bar:
            bar.update(len(x))
    if bar:
        bar.close()
    output = ClassifierOutput(np.concatenate([o.features for o in outputs]),
                              {a: np.concatenate([o.probabilities[a] for o in outputs]) for a in clf.heads})
    return output, (np.concatenate(images) if keep_images else None)


def parse_target(text: str, vocab: dict) -> tuple[str, int]:
    """``"hair_color=blond"`` or just ``"blond"`` (when one attribute has that class) ->
    ``(attribute, class index)``; raises MiniganError naming the choices."""
    text = text.strip()
    if "=" in text:
        attribute, name = (s.strip() for s in text.split("=", 1))
        if attribute not in vocab:
            raise MiniganError(f"unknown attribute {attribute!r}: the classifier knows {', '.join(vocab)}")
        if name not in vocab[attribute]:
            raise MiniganError(f"{attribute} has no class {name!r}: choose from {', '.join(vocab[attribute])}")
        return attribute, vocab[attribute].index(name)
    matches = [a for a in vocab if text in vocab[a]]
    if len(matches) == 1:
        return matches[0], vocab[matches[0]].index(text)
    if not matches:
        raise MiniganError(f"no attribute has a class {text!r}; write ATTRIBUTE=CLASS, e.g. hair_color=blond")
    raise MiniganError(f"{text!r} is a class of {' and '.join(matches)}: write ATTRIBUTE=CLASS, "
                       f"e.g. {matches[0]}={text}")
