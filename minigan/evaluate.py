"""Measuring a generator: an attribute classifier, a Frechet distance, attribute histograms,
a memorisation check and edit success.

A GAN has no loss that says how good its idols are, so minigan measures them with a second
network: a small **attribute classifier** trained on the built-in set's labels (hair colour, hair
style, eye colour). It plays three parts:

* its penultimate features give a domain-specific Frechet distance (the idea of FID, with a
  network that knows idols instead of ImageNet's Inception);
* its predictions tell which attributes the generated idols have (how often blond? how often
  twin tails?), so their histogram can be compared with the real set's, and so an attribute
  vector can be built from labels and its edits checked (``minigan vector --from-labels``);
* its features give a second nearest-neighbour distance for the memorisation check.

::

    python -m minigan classifier train                       # runs/classifier.npz, under a minute
    python -m minigan evaluate --checkpoint runs/idols       # one JSON line, pictures in a folder

The classifier is the discriminator's shape with three heads::

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

import argparse
import functools
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backend import get_array_module, get_cupy, normalize_device, to_device, to_numpy
from .errors import CheckpointError, DatasetError, MiniganError
from .nn import (BatchNorm2d, Conv2d, Flatten, Layer, LeakyReLU, Linear, Sequential,
                 SoftmaxCrossEntropyLoss)

__all__ = [
    "CLASSIFIER_ATTRIBUTES",
    "DEFAULT_CLASSIFIER",
    "AttributeClassifier",
    "ClassifierOutput",
    "split_indices",
    "train_classifier",
    "classify",
    "classifier_accuracy",
    "generate_and_classify",
    "save_classifier",
    "load_classifier",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_of_features",
    "histogram_distance",
    "attribute_histogram_distance",
    "nearest_neighbours",
    "memorisation",
    "edit_success",
    "classifier_main",
    "evaluate_main",
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
        from .models.dcgan import num_blocks  # noqa: PLC0415

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
    from .data import to_model_input  # noqa: PLC0415

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
    from .nn import softmax  # noqa: PLC0415
    from .progress import ProgressBar  # noqa: PLC0415

    xp = get_array_module(clf.trunk.layers[0].params["W"])
    was_training = clf.training
    clf.eval()
    feats, probs = [], {name: [] for name in clf.heads}
    bar = ProgressBar(len(images), desc=progress, unit="img") if progress else None
    try:
        for start in range(0, len(images), batch_size):
            x = _as_model_input(images[start:start + batch_size], xp)  # (B, 3, S, S)
            logits = clf.forward(x)
            feats.append(to_numpy(clf._features))
            for name, value in logits.items():
                probs[name].append(to_numpy(softmax(value, axis=1)))
            if bar:
                bar.update(len(x))
    finally:
        clf.train(was_training)
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
        raise DatasetError(f"the data ({dataset.source}) has no {', '.join(missing)} labels; the attribute "
                           "classifier is trained on the built-in idol set (--data idols)")


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
    from . import optim  # noqa: PLC0415
    from .data import augment_batch, iterate_batches, to_model_input  # noqa: PLC0415
    from .progress import ProgressBar  # noqa: PLC0415

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
                raise MiniganError(f"classifier training diverged at step {step} (loss {loss}); try a lower --lr")
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
    from .checkpoint import model_arrays, save_checkpoint  # noqa: PLC0415

    info = {"kind": "classifier", "models": {"C": clf.config()},
            "vocab": {a: list(vocab[a]) for a in clf.heads}, **(meta or {})}
    return save_checkpoint(path, model_arrays("C", clf), info)


def load_classifier(path=DEFAULT_CLASSIFIER, device: str = "cpu"):
    """Read a classifier saved by :func:`save_classifier`; returns ``(clf, meta)`` in eval mode.

    Raises :class:`~minigan.errors.CheckpointError` for a missing file (with the command that
    makes one) or a checkpoint of another kind.
    """
    from .checkpoint import load_checkpoint, load_model_arrays  # noqa: PLC0415

    if not Path(path).exists():
        raise CheckpointError(f"no classifier at {path}: train one with  python -m minigan classifier train "
                              f"--out {path}  (a few minutes), or pass --classifier PATH")
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
    from .data import to_images  # noqa: PLC0415
    from .progress import ProgressBar  # noqa: PLC0415
    from .sampling import generate  # noqa: PLC0415

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


# -- Frechet distance ----------------------------------------------------------------------------


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(F,)`` and covariance ``(F, F)`` (unbiased, ``N - 1``) of ``features (N, F)``, in float64."""
    f = np.asarray(to_numpy(features), dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need at least two feature vectors of shape (N, F), got {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """The Frechet (2-Wasserstein) distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``::

        FD = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr( (sigma1 sigma2)^(1/2) )

    (Dowson & Landau 1982; FID is this between Inception features of real and generated images.)
    For diagonal covariances it is ``sum (mu1 - mu2)^2 + sum (sqrt(s1) - sqrt(s2))^2``.

    The matrix square root is :func:`scipy.linalg.sqrtm`. ``sigma1 sigma2`` is a product of two
    positive semi-definite matrices, so its eigenvalues are real and non-negative and its
    principal square root is real; in floating point sqrtm may still return tiny imaginary
    parts (dropped when below 1e-3 of the largest entry; larger ones are an error) or fail on a
    singular product (fewer samples than features): then ``eps * I`` is added to both
    covariances, as the reference FID code does. Returns a float >= 0 (clipped at 0 for rounding).
    """
    from scipy import linalg  # noqa: PLC0415

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"mismatched shapes: mu {mu1.shape} {mu2.shape}, sigma {sigma1.shape} {sigma2.shape}")
    diff = mu1 - mu2  # (F,)
    with warnings.catch_warnings():  # "matrix is singular": handled below, not worth a warning
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)  # (F, F)
        if not np.isfinite(covmean).all():
            offset = eps * np.eye(len(mu1))
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        largest = max(np.abs(covmean).max(), 1e-300)
        if np.abs(covmean.imag).max() > 1e-3 * largest:
            raise ValueError(f"the matrix square root has a large imaginary part "
                             f"({np.abs(covmean.imag).max():.3g}); are the covariances positive semi-definite?")
        covmean = covmean.real
    fd = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)
    return float(max(fd, 0.0))


def frechet_distance_of_features(features_a, features_b) -> float:
    """:func:`frechet_distance` between the Gaussians fitted to two sets of features ``(N, F)``."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


# -- attribute histograms ------------------------------------------------------------------------


def histogram_distance(classes_a, classes_b, num_classes: int) -> float:
    """Total variation distance between the class histograms of two label arrays::

        TV = 1/2 sum_k |p_a(k) - p_b(k)|    in [0, 1]

    the share of one set's idols that would have to change class to match the other's mix
    (0: the same mix; 1: no class in common).
    """
    p, q = class_shares(classes_a, num_classes), class_shares(classes_b, num_classes)
    return float(0.5 * np.abs(p - q).sum())


def class_shares(classes, num_classes: int) -> np.ndarray:
    """The share of each class ``(num_classes,)`` in an array of class numbers."""
    return np.bincount(np.asarray(classes), minlength=num_classes) / max(len(classes), 1)


def attribute_histogram_distance(predictions_real: dict, predictions_fake: dict, classes: dict) -> dict:
    """``{attribute: TV distance}`` (see :func:`histogram_distance`) and ``"mean"`` over them.

    Both sides should be the classifier's predictions (not the real labels), so that its own
    mistakes cancel instead of counting as a difference.
    """
    out = {a: round(histogram_distance(predictions_real[a], predictions_fake[a], k), 4) for a, k in classes.items()}
    out["mean"] = round(float(np.mean([out[a] for a in classes])), 4)
    return out


# -- memorisation -------------------------------------------------------------------------------


def nearest_neighbours(queries, references, exclude=None, chunk: int = 256):
    """Each query's nearest reference by Euclidean distance.

    Args:
        queries: ``(Q, D)`` float array; references: ``(R, D)`` (same device).
        exclude: optional ``(Q,)`` int array; query ``i`` may not pick reference ``exclude[i]``
            (leave-one-out: the query is itself one of the references).
        chunk: queries per matrix product.

    Returns NumPy ``(distances (Q,) float64, indices (Q,) int64)``. The squared distances come
    from ``|q|^2 + |r|^2 - 2 q.r`` (one matrix product per chunk), clipped at 0.
    """
    xp = get_array_module(queries)
    queries, references = xp.asarray(queries, dtype=xp.float32), xp.asarray(references, dtype=xp.float32)
    ref_sq = (references * references).sum(axis=1)  # (R,)
    dists, idxs = [], []
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk]  # (B, D)
        d2 = (q * q).sum(axis=1)[:, None] + ref_sq[None, :] - 2 * (q @ references.T)  # (B, R)
        if exclude is not None:
            rows = xp.arange(len(q))
            d2[rows, xp.asarray(exclude[start:start + chunk])] = xp.inf
        best = d2.argmin(axis=1)  # (B,)
        dists.append(to_numpy(xp.sqrt(xp.maximum(d2[xp.arange(len(q)), best], 0))))
        idxs.append(to_numpy(best))
    return np.concatenate(dists).astype(np.float64), np.concatenate(idxs).astype(np.int64)


def _pixels(images, xp=np):
    """uint8 ``(N, S, S, 3)`` -> float32 ``(N, S*S*3)`` in [0, 1] divided by ``sqrt(S*S*3)``, so
    that a Euclidean distance is the root-mean-square pixel difference (0 to 1)."""
    flat = xp.asarray(images).reshape(len(images), -1).astype(xp.float32)  # (N, D)
    return flat * xp.float32(1 / (255 * math.sqrt(flat.shape[1])))


def memorisation(sample_images, sample_features, real_images, real_features, quantile: float = 0.05,
                 calibration: int = 1000, seed: int = 0, device: str = "cpu") -> dict:
    """Does the generator copy training images? Nearest real image of each sample, twice.

    Distances: in pixels, the root-mean-square difference of the uint8 images scaled to [0, 1];
    in features, the Euclidean distance of the classifier's features.

    Calibration. The threshold below which a sample counts as a near-copy is taken from the
    real images themselves: for ``calibration`` random real images, the distance to their
    nearest *other* real image (leave-one-out), and the ``quantile`` (default 5%) of those. A
    fresh image from the same distribution as the training set, never seen by it, would fall
    below that threshold with probability ``quantile``; so a generator that makes new idols
    has a near-copy share close to ``quantile``, and one that reproduces training images has a
    much larger share. (On the idol set the nearest other real image is usually the same
    character in another pose, so "near-copy" means closer than two poses of one idol.)

    Returns a dict: ``pixel`` and ``feature`` each with ``threshold``, ``share_below``
    (near-copy share), ``median`` (samples' median nearest distance), ``real_median``
    (real-vs-real median), ``expected_share`` (= quantile); plus the NumPy arrays
    ``pixel_distances``, ``pixel_indices``, ``feature_distances``, ``feature_indices`` ``(N,)``.
    """
    xp = get_cupy() if normalize_device(device) == "gpu" else np
    rng = np.random.default_rng(seed)
    calib = rng.permutation(len(real_images))[:min(calibration, len(real_images))]  # (C,)
    result = {}
    spaces = {"pixel": (_pixels(sample_images, xp), _pixels(real_images, xp)),
              "feature": (xp.asarray(sample_features, dtype=xp.float32), xp.asarray(real_features, dtype=xp.float32))}
    for space, (samples, reals) in spaces.items():
        d_samples, i_samples = nearest_neighbours(samples, reals)
        d_real, _ = nearest_neighbours(reals[xp.asarray(calib)], reals, exclude=calib)
        threshold = float(np.quantile(d_real, quantile))
        result[space] = {"threshold": round(threshold, 5),
                         "share_below": round(float((d_samples < threshold).mean()), 4),
                         "median": round(float(np.median(d_samples)), 5),
                         "real_median": round(float(np.median(d_real)), 5), "expected_share": quantile}
        result[f"{space}_distances"], result[f"{space}_indices"] = d_samples, i_samples
    return result


# -- edit success ---------------------------------------------------------------------------------


def edit_success(G, clf: AttributeClassifier, vector, attribute: str, target: int, strengths, n: int = 500,
                 seed: int = 0, noise_kind: str = "gaussian", random_baseline: bool = True,
                 progress: bool = True) -> list[dict]:
    """How well adding ``strength * vector`` gives idols the class ``target`` of ``attribute``.

    ``n`` idols ``z = noise(default_rng(seed), n, nz)`` are classified as they are and after each
    edit ``z + s * vector``. For each strength ``s`` (0 gives the base rate) returns a dict:
    ``strength``; ``share_target``, the share classified ``target``; ``keep``, for every other
    attribute the share whose predicted class is the one the unedited idol had; ``keep_all``,
    the share that kept all of them.

    With ``random_baseline``, the same idols are also moved the same distance along a random
    direction (``s * |vector|`` along a unit vector drawn with ``seed + 1``), and the row gets
    ``share_target_random``, ``keep_random`` and ``keep_all_random``. A generator's idols change
    somewhat under any move in noise space; the baseline says how much of an edit's change of
    the other attributes is that, and how much the vector's own doing.
    """
    from .latent import edit_noise  # noqa: PLC0415
    from .sampling import noise  # noqa: PLC0415

    require_heads(clf, (attribute,))
    z = noise(np.random.default_rng(seed), n, G.nz, noise_kind)  # (n, nz)
    original = generate_and_classify(G, clf, z,
                                     progress="classifying the originals" if progress else None)[0].predictions
    others = [a for a in clf.heads if a != attribute]
    direction = np.random.default_rng(seed + 1).standard_normal(G.nz)  # (nz,)
    direction *= np.linalg.norm(vector) / np.linalg.norm(direction)  # as long as the vector

    def compare(pred) -> tuple[float, dict, float]:
        keep = {a: round(float((pred[a] == original[a]).mean()), 4) for a in others}
        kept_all = np.all([pred[a] == original[a] for a in others], axis=0) if others else np.ones(n, bool)
        return round(float((pred[attribute] == target).mean()), 4), keep, round(float(kept_all.mean()), 4)

    rows = []
    for s in strengths:
        row = {"strength": float(s)}
        edits = [("", vector)] + ([("_random", direction)] if random_baseline else [])
        for suffix, v in edits:
            pred = original if s == 0 else generate_and_classify(
                G, clf, edit_noise(z, v, [s])[0],
                progress=f"edits at strength {s:g}{suffix.replace('_', ', ')}" if progress else None)[0].predictions
            row[f"share_target{suffix}"], row[f"keep{suffix}"], row[f"keep_all{suffix}"] = compare(pred)
        rows.append(row)
    return rows


# -- pictures ---------------------------------------------------------------------------------------


def attribute_chart(shares: dict, vocab: dict, path, title: str = "attributes: real vs generated") -> str:
    """A grouped bar chart, one panel per attribute: the share of each class among the real and
    the generated idols. ``shares``: ``{series name: {attribute: (K,) shares}}``. Saves a PNG."""
    from PIL import Image, ImageDraw  # noqa: PLC0415

    from .viz import COLOURS, load_font  # noqa: PLC0415

    attributes = list(vocab)
    series = list(shares)
    panel_h, margin_l, width = 190, 50, 960
    picture = Image.new("RGB", (width, 40 + panel_h * len(attributes)), "white")
    draw = ImageDraw.Draw(picture)
    font, small = load_font(14), load_font(11)
    draw.text((width / 2 - draw.textlength(title, font=load_font(16)) / 2, 8), title, fill="black", font=load_font(16))
    legend_x = width - 20 - sum(draw.textlength(s, font=small) + 34 for s in series)
    for i, name in enumerate(series):
        draw.rectangle([legend_x, 12, legend_x + 14, 24], fill=COLOURS[i % len(COLOURS)])
        draw.text((legend_x + 18, 11), name, fill="black", font=small)
        legend_x += draw.textlength(name, font=small) + 34
    for p, attribute in enumerate(attributes):
        top = 40 + p * panel_h
        bottom = top + panel_h - 40
        names = vocab[attribute]
        highest = max(max(float(np.max(shares[s][attribute])) for s in series), 1e-9)
        draw.text((margin_l, top), attribute.replace("_", " "), fill="black", font=font)
        group_w = (width - margin_l - 20) / len(names)
        bar_w = group_w * 0.8 / len(series)
        draw.line([(margin_l, bottom), (width - 20, bottom)], fill=(120, 120, 120))
        for k, label in enumerate(names):
            left = margin_l + k * group_w + group_w * 0.1
            for i, s in enumerate(series):
                value = float(shares[s][attribute][k])
                h = value / highest * (bottom - top - 24)
                draw.rectangle([left + i * bar_w, bottom - h, left + (i + 1) * bar_w - 1, bottom],
                               fill=COLOURS[i % len(COLOURS)])
            text_w = draw.textlength(label, font=small)
            draw.text((left + group_w * 0.4 - text_w / 2, bottom + 3), label, fill=(60, 60, 60), font=small)
        draw.text((6, top + 18), f"{highest:.0%}", fill=(90, 90, 90), font=small)
    picture.save(path)
    return str(path)


def nearest_pairs_picture(sample_images, real_images, distances, indices, path, count: int = 16,
                          threshold: float | None = None) -> str:
    """The ``count`` samples closest to a training image, each followed by that real image, with
    the distance under it (``*`` marks a near-copy below ``threshold``). Saves a PNG."""
    from .viz import captioned_grid  # noqa: PLC0415

    order = np.argsort(distances, kind="stable")[:count]  # closest first
    tiles, captions = [], []
    for i in order:
        tiles += [sample_images[i], real_images[indices[i]]]
        mark = "*" if threshold is not None and distances[i] < threshold else ""
        captions += [f"sample {i}", f"real {indices[i]} {distances[i]:.3f}{mark}"]
    captioned_grid(np.stack(tiles), captions, nrow=8, scale=2, caption_height=14).save(path)
    return str(path)


# -- command line ---------------------------------------------------------------------------------


def classifier_main(argv=None) -> int:
    """``python -m minigan classifier train|info``."""
    parser = argparse.ArgumentParser(
        prog="python -m minigan classifier",
        description="The attribute classifier: a small convolutional network with one head per "
                    "attribute (hair colour, hair style, eye colour), trained on the built-in idol "
                    "set's labels. `minigan vector --from-labels` uses it to find which generated "
                    "idols are blond, and `minigan evaluate` for its Frechet distance, attribute "
                    "histograms and memorisation check.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="{train,info}")
    train = sub.add_parser("train", help="train the classifier and print its held-out accuracy",
                           description="Train the attribute classifier on labelled idols with a held-out "
                                       "split, print the held-out accuracy per attribute, and save it.")
    train.add_argument("--out", default=DEFAULT_CLASSIFIER, help=f"where to save it (default {DEFAULT_CLASSIFIER})")
    train.add_argument("--data", default="idols", help="labelled data: 'idols' (default) or 'idols:SEED'")
    train.add_argument("--epochs", type=int, default=8, help="passes over the training images (default 8)")
    train.add_argument("--batch-size", type=int, default=64, help="images per step (default 64)")
    train.add_argument("--lr", type=float, default=2e-3, help="Adam's learning rate at the start; it decays "
                                                               "to 0 along a cosine (default 2e-3)")
    train.add_argument("--width", type=int, default=8, help="channels of the first convolution (default 8)")
    train.add_argument("--features", type=int, default=128, help="size of the feature vector (default 128)")
    train.add_argument("--holdout", type=float, default=0.15,
                       help="share held out to measure accuracy (default 0.15)")
    train.add_argument("--split", choices=("image", "character"), default="image",
                       help="hold out random images (default) or every image of random characters "
                            "(harder: those idols are never seen)")
    train.add_argument("--no-augment", action="store_true", help="train without zoom/rotation/flip augmentation")
    train.add_argument("--seed", type=int, default=0, help="seed of the split, weights and batches (default 0)")
    train.add_argument("--device", default="cpu", help="cpu or gpu (default cpu)")
    info = sub.add_parser("info", help="print a saved classifier's settings and held-out accuracy")
    info.add_argument("--classifier", default=DEFAULT_CLASSIFIER,
                      help=f"the classifier (default {DEFAULT_CLASSIFIER})")
    args = parser.parse_args(argv)

    if args.action == "info":
        clf, meta = load_classifier(args.classifier)
        print(f"{args.classifier}: {clf!r}, {clf.num_parameters()} parameters")
        print(json.dumps({k: meta[k] for k in ("training", "dataset") if k in meta}, indent=2))
        return 0

    from .data import load_dataset  # noqa: PLC0415

    for name in ("epochs", "batch_size", "width", "features"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= args.holdout < 1:
        parser.error("--holdout must be in [0, 1)")
    if normalize_device(args.device) == "gpu":
        get_cupy()  # fail now, with the install hint, not after loading the data
    dataset = load_dataset(args.data)
    print(f"training the attribute classifier on {len(dataset)} images of {dataset.source} "
          f"({', '.join(CLASSIFIER_ATTRIBUTES)}), {args.epochs} epochs")
    clf, report = train_classifier(dataset, CLASSIFIER_ATTRIBUTES, epochs=args.epochs, batch_size=args.batch_size,
                                   lr=args.lr, width=args.width, feature_dim=args.features, holdout=args.holdout,
                                   split=args.split, seed=args.seed, augment=not args.no_augment, device=args.device)
    save_classifier(args.out, clf, dataset.vocab,
                    {"training": report, "dataset": {"source": dataset.source, "images": len(dataset)}})
    print(f"trained in {report['seconds']:.0f} s; saved to {args.out}")
    if "held_out_accuracy" in report:
        accuracies = "  ".join(f"{a} {v:.1%}" for a, v in report["held_out_accuracy"].items())
        print(f"held-out accuracy ({report['held_out_images']} images, split by {args.split}): {accuracies}")
    return 0


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


def _vector_target(vector_meta: dict, target_text: str | None, vocab: dict) -> tuple[str, int]:
    if target_text:
        return parse_target(target_text, vocab)
    if vector_meta.get("attribute") and vector_meta.get("plus"):
        return parse_target(f"{vector_meta['attribute']}={vector_meta['plus']}", vocab)
    return parse_target(str(vector_meta.get("name", "")), vocab)


def _default_out(checkpoint: Path) -> Path:
    """``RUN/evaluation`` for a run folder, ``RUN/evaluation_epoch_010`` for ``RUN/checkpoints/epoch_010.npz``,
    ``evaluation_NAME`` next to any other checkpoint file."""
    if checkpoint.is_dir():
        return checkpoint / "evaluation"
    folder = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    return folder / f"evaluation_{checkpoint.stem}"


def evaluate_main(argv=None) -> int:
    """``python -m minigan evaluate``."""
    from .data import load_dataset  # noqa: PLC0415
    from .latent import attach_number_lists, load_vector, parse_floats  # noqa: PLC0415
    from .sampling import add_generator_arguments, load_generator_from_args, noise  # noqa: PLC0415
    from .viz import line_plot, save_grid  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="python -m minigan evaluate",
        description="Measure a generator against the real idols with the attribute classifier and "
                    "print ONE JSON line of figures: fd (Frechet distance between the classifier "
                    "features of real and generated idols, lower is better; fd_real is the same "
                    "figure for held-apart real images, the floor), attributes (total variation "
                    "distance between the real and generated class histograms per attribute, 0 to 1), "
                    "memorisation (each sample's nearest training image in pixels and in features; "
                    "share_below is the share of near-copies, to compare with expected_share), and "
                    "with --vector, edit (the share of edited idols classified with the attribute and "
                    "the share that keep the others; the same for idols moved as far in a random "
                    "direction, the baseline). Pictures go to --out.")
    add_generator_arguments(parser)
    parser.add_argument("--classifier", default=DEFAULT_CLASSIFIER,
                        help=f"the attribute classifier (default {DEFAULT_CLASSIFIER})")
    parser.add_argument("--n", type=int, default=1000, help="idols to generate (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of their noise (default 0)")
    parser.add_argument("--data", default=None, help="the real images (default: the checkpoint's training data)")
    parser.add_argument("--vector", default=None, help="an attribute vector .npz: also measure its edit success")
    parser.add_argument("--target", default=None, help="what the vector should produce, ATTRIBUTE=CLASS (default: "
                                                       "from the vector file, e.g. hair_color=blond)")
    parser.add_argument("--strengths", default="0,0.5,1,1.5,2,2.5,3",
                        help="strengths for the edit success (default 0,0.5,1,1.5,2,2.5,3; 0 is the base rate)")
    parser.add_argument("--edit-n", type=int, default=500, help="idols edited for the edit success (default 500)")
    parser.add_argument("--out", default=None,
                        help="folder for the pictures and figures.json (default: RUN/evaluation for a run folder, "
                             "RUN/evaluation_epoch_NNN for one of its checkpoints)")
    args = parser.parse_args(attach_number_lists(argv))
    if args.n < 2 or args.edit_n < 1:
        parser.error("--n must be at least 2 and --edit-n at least 1")
    device = normalize_device(args.device)
    G, meta, noise_kind = load_generator_from_args(args)
    clf, clf_meta = load_classifier(args.classifier, device)
    vocab = clf_meta["vocab"]
    data = args.data or meta.get("config", {}).get("data", "idols")
    real = load_dataset(data)
    if real.images.shape[1] != clf.image_size:
        raise MiniganError(f"the real images are {real.images.shape[1]}x{real.images.shape[1]} but the classifier "
                           f"takes {clf.image_size}x{clf.image_size}")
    out = Path(args.out) if args.out else _default_out(Path(args.checkpoint))
    out.mkdir(parents=True, exist_ok=True)

    real_out = classify(clf, real.images, progress="classifying the real idols")
    z = noise(np.random.default_rng(args.seed), args.n, G.nz, noise_kind)  # (n, nz)
    fake_out, fake_images = generate_and_classify(G, clf, z, keep_images=True, progress="generating and classifying")
    # the floor: the same distance between two disjoint sets of real idols (n of them vs the rest)
    split = np.random.default_rng(args.seed).permutation(len(real))
    n_floor = min(args.n, len(real) // 2)
    fd = frechet_distance_of_features(real_out.features, fake_out.features)
    fd_real = frechet_distance_of_features(real_out.features[split[n_floor:]], real_out.features[split[:n_floor]])
    classes = {a: len(vocab[a]) for a in clf.heads}
    hist = attribute_histogram_distance(real_out.predictions, fake_out.predictions, classes)
    memo = memorisation(fake_images, fake_out.features, real.images, real_out.features, seed=args.seed, device=device)
    figures = {"checkpoint": str(args.checkpoint), "epoch": meta.get("epoch"), "step": meta.get("step"),
               "n": args.n, "seed": args.seed, "fd": round(fd, 3), "fd_real": round(fd_real, 3),
               "attributes": hist, "memorisation": {"pixel": memo["pixel"], "feature": memo["feature"]}}

    save_grid(fake_images[:64], out / "samples.png", nrow=8, scale=2)
    shares = {name: {a: class_shares(o.predictions[a], k) for a, k in classes.items()}
              for name, o in (("real", real_out), ("generated", fake_out))}  # {series: {attribute: (K,)}}
    attribute_chart(shares, vocab, out / "attributes.png",
                    title=f"classified attributes: {len(real)} real vs {args.n} generated idols")
    nearest_pairs_picture(fake_images, real.images, memo["pixel_distances"], memo["pixel_indices"],
                          out / "nearest_pixels.png", threshold=memo["pixel"]["threshold"])
    nearest_pairs_picture(fake_images, real.images, memo["feature_distances"], memo["feature_indices"],
                          out / "nearest_features.png", threshold=memo["feature"]["threshold"])
    pictures = ["samples.png", "attributes.png", "nearest_pixels.png", "nearest_features.png"]

    if args.vector:
        vec = load_vector(args.vector, G.nz)
        attribute, target = _vector_target(vec.meta, args.target, vocab)
        strengths = parse_floats(args.strengths, "--strengths")
        rows = edit_success(G, clf, vec.vector, attribute, target, strengths, n=args.edit_n, seed=args.seed + 1,
                            noise_kind=noise_kind)
        reaching = [r for r in rows if r["share_target"] >= 0.8]
        figures["edit"] = {"vector": str(args.vector), "attribute": attribute, "target": vocab[attribute][target],
                           "n": args.edit_n, "rows": rows,
                           "first_strength_reaching_80": reaching[0]["strength"] if reaching else None}
        xs = [r["strength"] for r in rows]
        line_plot([(f"share classified {vocab[attribute][target]}",
                    {"edited": (xs, [r["share_target"] for r in rows]),
                     "random direction": (xs, [r["share_target_random"] for r in rows])}),
                   ("share keeping each other attribute",
                    {**{a.replace("_", " "): (xs, [r["keep"][a] for r in rows]) for a in rows[0]["keep"]},
                     **{f"{a.replace('_', ' ')} (random)": (xs, [r["keep_random"][a] for r in rows])
                        for a in rows[0]["keep"]}})],
                  out / "edit_success.png", xlabel="strength",
                  title=f"edit success of {Path(args.vector).name} ('random': moved as far in a random direction)")
        pictures.append("edit_success.png")
    figures["pictures"] = [str(out / p) for p in pictures]
    (out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))
    return 0
