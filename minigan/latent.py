"""Walking the noise space: interpolation, attribute vectors, editing.

The generator maps every point ``z`` of its 100-d noise space to an idol, and nearby points to
similar idols. The blog walks that space in two ways, and so does minigan:

* **interpolation**: the idols on the path between two noise vectors morph smoothly from one to
  the other (``python -m minigan interpolate``);
* **attribute vectors**: the mean noise of blond idols minus the mean noise of black-haired ones
  is a direction that makes any idol blonder when added and darker when subtracted
  (``python -m minigan vector``, then ``python -m minigan edit``).

Naming idols. Noise is drawn on the CPU from seeded generators (:func:`minigan.sampling.noise`),
row by row, so idol ``i`` of ``sample --numbered --seed S`` is row ``i`` of
``noise(default_rng(S), n, nz)`` whatever ``n`` is. Every command here names idols that way:
``--idols 3,17`` are idols 3 and 17 of the numbered grid of ``--seed`` (default 0);
``--seeds 5,9`` are the first idols of seeds 5 and 9 (``sample --seed 5 --n 1``).

Linear or spherical interpolation. For ``z ~ N(0, I_d)`` the norm ``|z|`` is close to
``sqrt(d)`` (10 +- 0.7 for d = 100): nearly all the probability lies on a thin shell, and that
shell is all the generator ever saw during training. Two independent draws are nearly
orthogonal, so the midpoint of the straight line between them has norm about
``sqrt(d / 2)`` (7.1 for d = 100): far inside the shell, a noise vector the prior would almost never
produce (chance below 1e-5). The generator's idols there are washed out and alike (its first
layer's output scales with ``|z|``). Spherical interpolation (slerp) turns the direction along
the great circle and moves the norm linearly from ``|z0|`` to ``|z1|``, so every point of the path
stays on the shell and looks like a typical idol::

    lerp(z0, z1, t)  = (1 - t) z0 + t z1
    slerp(z0, z1, t) = ((1 - t)|z0| + t|z1|) * (sin((1 - t) w) u0 + sin(t w) u1) / sin(w)
                       where u = z / |z| and w = arccos(u0 . u1)

The blog used the straight line; minigan offers both (``--slerp`` / ``--linear``), spherical by
default. For uniform noise in a cube the shell argument is weaker, and linear is the default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backend import to_numpy
from .checkpoint import PRETRAINED_FOLDER, read_npz, write_atomically
from .data.dataset import to_images
from .errors import CheckpointError, MiniganError
from .models.classifier import generate_and_classify, require_heads
from .nn import Layer, SoftmaxCrossEntropyLoss, softmax
from .optim import Adam
from .progress import ProgressBar
from .sampling import generate, noise

__all__ = [
    "bundled_vectors",
    "resolve_vector",
    "idol_noise",
    "seed_noise",
    "lerp",
    "slerp",
    "interpolate",
    "interpolation_strips",
    "AttributeVector",
    "vector_from_exemplars",
    "vector_from_labels",
    "learn_vector",
    "save_vector",
    "load_vector",
    "edit_noise",
    "edit_images",
]

VECTOR_FORMAT = "minigan-vector"
VECTOR_VERSION = 1
MIN_EXEMPLARS = 3  # per side: single idols mix the attribute with everything else they have


# -- naming idols ---------------------------------------------------------------------------------


def idol_noise(nz: int, indices, seed: int = 0, kind: str = "gaussian") -> np.ndarray:
    """The noise of idols ``indices`` of the numbered grid ``sample --numbered --seed seed``.

    Returns float32 ``(len(indices), nz)``: rows ``indices`` of ``noise(default_rng(seed), n, nz)``
    (the same for every ``n`` larger than the indices: noise is drawn row by row).
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        return np.empty((0, nz), np.float32)
    if indices.min() < 0:
        raise MiniganError(f"idol numbers cannot be negative (got {indices.min()})")
    return noise(np.random.default_rng(seed), int(indices.max()) + 1, nz, kind)[indices]


def seed_noise(nz: int, seeds, kind: str = "gaussian") -> np.ndarray:
    """One idol per seed, the first idol of ``sample --seed s``: float32 ``(len(seeds), nz)``."""
    return np.stack([noise(np.random.default_rng(int(s)), 1, nz, kind)[0] for s in seeds]).astype(np.float32)


# -- interpolation ----------------------------------------------------------------------------------


def lerp(z0, z1, t) -> np.ndarray:
    """Points on the straight line: ``(1 - t) z0 + t z1`` for each ``t``; ``z (nz,)``, ``t (T,)`` -> ``(T, nz)``."""
    t = np.asarray(t, dtype=np.float64)[:, None]  # (T, 1)
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    return ((1 - t) * z0 + t * z1).astype(np.float32)


def slerp(z0, z1, t) -> np.ndarray:
    """Spherical interpolation: the direction turns along the great circle from ``z0`` to ``z1``
    while the norm moves linearly from ``|z0|`` to ``|z1|`` (see the module docstring).

    ``z0, z1 (nz,)``, ``t (T,)`` -> float32 ``(T, nz)``; ``t = 0`` and ``1`` give the endpoints.
    Falls back to :func:`lerp` when the directions are (anti)parallel and the circle is undefined.
    """
    t = np.asarray(t, dtype=np.float64)[:, None]  # (T, 1)
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    r0, r1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if r0 == 0 or r1 == 0:
        return lerp(z0, z1, t[:, 0])
    u0, u1 = z0 / r0, z1 / r1  # unit directions
    omega = np.arccos(np.clip(u0 @ u1, -1.0, 1.0))  # angle between them
    if np.sin(omega) < 1e-6:
        return lerp(z0, z1, t[:, 0])
    direction = (np.sin((1 - t) * omega) * u0 + np.sin(t * omega) * u1) / np.sin(omega)  # (T, nz), unit
    radius = (1 - t) * r0 + t * r1  # (T, 1)
    return (radius * direction).astype(np.float32)


def interpolate(z0, z1, steps: int, method: str = "slerp") -> np.ndarray:
    """``steps`` points from ``z0`` to ``z1`` inclusive, evenly spaced in ``t``: ``(steps, nz)`` float32."""
    if steps < 2:
        raise ValueError(f"interpolation needs at least 2 steps (the two endpoints), got {steps}")
    t = np.linspace(0.0, 1.0, steps)
    if method == "slerp":
        return slerp(z0, z1, t)
    if method == "linear":
        return lerp(z0, z1, t)
    raise ValueError(f"interpolation is 'slerp' or 'linear', not {method!r}")


def interpolation_strips(G, z_start, z_end, steps: int, method: str = "slerp") -> np.ndarray:
    """The idols along the paths between pairs of noise vectors.

    ``z_start, z_end (P, nz)`` -> uint8 ``(P, steps, S, S, 3)``: row ``p`` goes from ``G(z_start[p])``
    to ``G(z_end[p])``.
    """
    z = np.concatenate([interpolate(a, b, steps, method) for a, b in zip(z_start, z_end)])  # (P * steps, nz)
    images = to_images(generate(G, z))  # (P * steps, S, S, 3)
    return images.reshape(len(z_start), steps, *images.shape[1:])


# -- attribute vectors ----------------------------------------------------------------------------


@dataclass
class AttributeVector:
    """A direction in noise space and where it came from.

    Attributes:
        vector: float32 ``(nz,)``.
        meta: JSON-able provenance: ``name``, ``method`` ("exemplars" or "labels"), ``checkpoint``,
            ``seed``, ``noise``, and per method the exemplar indices or the attribute, its
            classes and how many idols each mean was taken over.
    """

    vector: np.ndarray
    meta: dict

    @property
    def name(self) -> str:
        return str(self.meta.get("name", "vector"))


def vector_from_exemplars(z_plus, z_minus) -> np.ndarray:
    """``mean(z_plus) - mean(z_minus)``: ``(P, nz)``, ``(M, nz)`` -> float32 ``(nz,)``.

    Averaging several idols per side (the DCGAN paper used three) cancels what the exemplars
    have besides the attribute; :data:`MIN_EXEMPLARS` is enforced by the command.
    """
    z_plus, z_minus = np.asarray(z_plus, np.float64), np.asarray(z_minus, np.float64)
    if len(z_plus) == 0 or len(z_minus) == 0:
        raise MiniganError("an attribute vector needs idols on both sides")
    return (z_plus.mean(axis=0) - z_minus.mean(axis=0)).astype(np.float32)


def vector_from_labels(G, clf, attribute: str, plus: str, minus: str = "rest", n: int = 10000, seed: int = 0,
                       noise_kind: str = "gaussian", vocab: dict | None = None, min_confidence: float = 0.0,
                       balance=(), progress: bool = True):
    """The blog's recipe: sample ``n`` idols, classify them, ``mean(z | plus) - mean(z | minus)``.

    Args:
        G: the generator; clf: an :class:`minigan.models.classifier.AttributeClassifier`.
        attribute, plus, minus: e.g. ``"hair_color"``, ``"blond"``, ``"black"``; ``minus="rest"``
            takes every idol not classified ``plus``.
        vocab: ``{attribute: [class names]}`` (the classifier checkpoint's ``meta["vocab"]``).
        min_confidence: only idols whose predicted class has at least this probability count.
        balance: other attributes to hold fixed, e.g. ``("hair_style",)``. If the generator's
            blond idols are more often short-haired than its others, the plain difference of
            means carries "make the hair short" along with "make it blond". Balanced, the idols
            are split into strata by their predicted classes of these attributes, the difference
            of means is taken within each stratum (where the style is the same on both sides),
            and the strata's differences are averaged with weights ``P_s M_s / (P_s + M_s)``
            (the inverse of each difference's variance; strata without idols on both sides
            are skipped).

    Returns ``(vector float32 (nz,), counts)``, counts ``{"plus": P, "minus": M, "n": n}`` (and
    ``"strata"``, how many were used, when balancing). Deterministic given ``seed``. Raises
    MiniganError when a side has fewer than :data:`MIN_EXEMPLARS` idols.
    """
    balance = [b for b in balance if b]
    require_heads(clf, (attribute, *balance))
    if attribute in balance:
        raise MiniganError(f"cannot balance {attribute} while building a vector for it")
    names = vocab[attribute]
    for c in (plus, minus):
        if c != "rest" and c not in names:
            raise MiniganError(f"{attribute} has no class {c!r}: choose from {', '.join(names)}")
    z = noise(np.random.default_rng(seed), n, G.nz, noise_kind)  # (n, nz)
    out, _ = generate_and_classify(G, clf, z, progress="classifying sampled idols" if progress else None)
    probs = out.probabilities[attribute]  # (n, K)
    pred, confident = probs.argmax(axis=1), probs.max(axis=1) >= min_confidence
    plus_mask = (pred == names.index(plus)) & confident
    minus_mask = (pred != names.index(plus)) if minus == "rest" else (pred == names.index(minus))
    minus_mask &= confident
    counts = {"plus": int(plus_mask.sum()), "minus": int(minus_mask.sum()), "n": int(n)}
    for side, count in (("plus", counts["plus"]), ("minus", counts["minus"])):
        if count < MIN_EXEMPLARS:
            raise MiniganError(f"only {count} of {n} sampled idols were classified "
                               f"{plus if side == 'plus' else minus} (need {MIN_EXEMPLARS}); sample more idols (a larger n)",
                               arguments=("n",))
    if not balance:
        return vector_from_exemplars(z[plus_mask], z[minus_mask]), counts
    strata = np.zeros(n, np.int64)  # (n,) one number per combination of the balanced classes
    for name in balance:
        strata = strata * len(vocab[name]) + out.predictions[name]
    differences, weights = [], []
    for stratum in np.unique(strata):
        p, m = plus_mask & (strata == stratum), minus_mask & (strata == stratum)
        if p.any() and m.any():
            differences.append(vector_from_exemplars(z[p], z[m]))
            weights.append(p.sum() * m.sum() / (p.sum() + m.sum()))
    if not differences:
        raise MiniganError(f"no {'/'.join(balance)} class has idols on both sides; sample more idols (a larger n)",
                           arguments=("n",))
    counts["strata"] = len(differences)
    return np.average(differences, axis=0, weights=weights).astype(np.float32), counts


def learn_vector(G, clf, attribute: str, target: int, keep=(), keep_weight: float = 1.0, start=None,
                 max_length: float | None = None, steps: int = 300, batch_size: int = 64, lr: float = 0.01,
                 n: int = 4096, seed: int = 0, noise_kind: str = "gaussian", progress: bool = True):
    """A direction found by gradient descent through the generator and the classifier.

    The difference of means knows nothing of what an edit must leave alone. This asks the
    classifier directly: for a pool of ``n`` idols (noise drawn with ``seed``), one vector ``v``
    is trained so that the edited idols ``G(z + v)`` are classified ``target`` and keep the
    classes of ``keep`` that the unedited idols had::

        loss(v) = mean_i w_i CE(attribute(G(z_i + v)), target)
                + keep_weight * sum_a mean_i CE(a(G(z_i + v)), a(G(z_i)))

    ``w_i = min(1, 3 / CE_i)`` caps each idol's pull at that of an idol 3 nats from the target,
    so that the few idols far from it do not decide the direction alone. The gradient flows
    back through the classifier and the generator (both frozen, in evaluation mode) to the
    noise; every idol's gradient with respect to its noise is a gradient with respect to ``v``,
    and their sum drives minigan's Adam. After each step ``v`` is shortened to ``max_length``
    if longer: a long vector moves idols off the shell where the training noise lives
    (chapter 12 of the docs).

    Args:
        G, clf: the generator and an :class:`minigan.models.classifier.AttributeClassifier`.
        attribute, target: e.g. ``"hair_color"`` and the class number of blond.
        keep: attributes the edit should not change, e.g. ``("hair_style", "eye_color")``.
        start: the initial vector (e.g. one from :func:`vector_from_labels`), zeros if None.
        max_length: the longest ``v`` may get (default: no limit).

    Returns ``(vector float32 (nz,), history)``: history has the mean losses every 25 steps.
    Deterministic given ``seed``.
    """
    require_heads(clf, (attribute, *keep))
    if attribute in keep:
        raise MiniganError(f"cannot keep {attribute} while learning a vector that changes it")
    if steps < 1 or batch_size < 1 or n < batch_size:
        raise MiniganError(f"learning a vector needs steps >= 1 and a pool of at least one batch "
                           f"(got steps={steps}, batch_size={batch_size}, n={n})")
    rng = np.random.default_rng(seed)
    pool = noise(rng, n, G.nz, noise_kind)  # (n, nz)
    xp = G.xp
    frozen = dict(training=False, requires_grad=False, needs_input_grad=True)  # every input gradient, down to z
    with G.mode(**frozen), clf.mode(**frozen):
        original = generate_and_classify(G, clf, pool)[0].predictions  # the classes the edit should keep
        holder = Layer()  # v as the one parameter of a layer, so that Adam can train it
        v0 = np.zeros(G.nz, np.float32) if start is None else to_numpy(start).astype(np.float32).reshape(G.nz)
        holder.add_param("v", xp.asarray(v0))
        optimizer = Adam(holder, lr=lr, betas=(0.9, 0.999))
        losses = {a: SoftmaxCrossEntropyLoss() for a in keep}
        history, running = [], []
        bar = ProgressBar(steps, desc="learning the vector", unit="step") if progress else None
        for step in range(steps):
            idx = rng.choice(n, batch_size, replace=False)
            logits = clf.forward(G.forward(xp.asarray(pool[idx]) + holder.params["v"]))
            p = softmax(logits[attribute], axis=1)  # (B, K)
            ce = -xp.log(xp.maximum(p[:, target], 1e-12))  # (B,)
            weight = xp.minimum(1.0, 3.0 / xp.maximum(ce, 1e-6))[:, None]
            onehot = xp.zeros_like(p)
            onehot[:, target] = 1
            grads = {attribute: (weight * (p - onehot) / batch_size).astype(np.float32)}
            record = {"target": float(ce.mean())}
            for a in keep:
                record[a] = float(losses[a].forward(logits[a], original[a][idx]))
                grads[a] = keep_weight * losses[a].backward()
            dz = G.backward(clf.backward(grads))  # (B, nz): d loss / d (z + v) for every idol
            holder.grads["v"] = dz.sum(axis=0).astype(np.float32)  # Adam reads it; nothing accumulates
            optimizer.step()
            length = float(xp.linalg.norm(holder.params["v"]))
            if max_length is not None and length > max_length:
                holder.params["v"] *= max_length / length
            running.append(record)
            if (step + 1) % 25 == 0 or step + 1 == steps:
                history.append({"step": step + 1, **{k: round(float(np.mean([r[k] for r in running])), 4)
                                                     for k in running[0]},
                                "length": round(min(length, max_length or length), 4)})
                running = []
            if bar:
                bar.update(1)
        if bar:
            bar.close()
    return to_numpy(holder.params["v"]).astype(np.float32), history


def save_vector(path, vector, meta: dict) -> Path:
    """Save an attribute vector as a small ``.npz``: ``vector`` float32 ``(nz,)`` and ``meta_json``
    (the provenance as a JSON string). Read it back with :func:`load_vector` (no pickle).
    Written atomically; a vector with NaN or infinity is refused (CheckpointError)."""
    path = Path(path)
    vector = np.asarray(to_numpy(vector), np.float32)
    if vector.ndim != 1 or not np.isfinite(vector).all():
        raise CheckpointError(f"refusing to write {path}: the vector must be a finite 1-d array, got shape {vector.shape}")
    header = np.array(json.dumps({"format": VECTOR_FORMAT, "version": VECTOR_VERSION, **meta}))
    return write_atomically(path, lambda f: np.savez(f, vector=vector, meta_json=header))


def bundled_vectors() -> dict[str, Path]:
    """``{name: path}`` of the attribute vectors that ship with the bundled model: the blog's
    ``blond`` first, then by name."""
    paths = {p.stem[len("vector_"):]: p for p in PRETRAINED_FOLDER.glob("vector_*.npz")}
    return {name: paths[name] for name in sorted(paths, key=lambda name: (name != "blond", name))}


def resolve_vector(path) -> Path:
    """``path`` as a Path; a bare name such as ``blond`` (no such file here) is the bundled vector
    of that name, made for the bundled model (``--checkpoint pretrained``)."""
    path = Path(path)
    if not path.exists() and path.suffix == "" and path.parent == Path(".") and path.name in bundled_vectors():
        return bundled_vectors()[path.name]
    return path


def load_vector(path, nz: int | None = None) -> AttributeVector:
    """Read a vector written by :func:`save_vector`; CheckpointError (a MiniganError) if missing,
    damaged, of another kind, with metadata of the wrong shape, non-finite, or (given ``nz``) not
    made for a generator with ``nz``-dimensional noise."""
    path = resolve_vector(path)
    if not path.exists():
        raise CheckpointError(f"no attribute vector at {path}; make one with  python -m minigan vector"
                              + (f" (the bundled ones: {', '.join(bundled_vectors())})" if bundled_vectors() else ""))
    arrays = read_npz(path, "attribute vector")
    vector, raw = arrays.get("vector"), arrays.get("meta_json")
    if vector is None or raw is None or raw.shape != () or raw.dtype.kind != "U":
        raise CheckpointError(f"{path} is not an attribute vector file (no vector or no metadata in it)")
    try:
        meta = json.loads(str(raw))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: damaged metadata ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != VECTOR_FORMAT:
        raise CheckpointError(f"{path} is not an attribute vector file (its metadata is of another format)")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VECTOR_VERSION:
        raise CheckpointError(f"{path}: attribute vector format version {version!r}; this minigan reads "
                              f"versions 1 to {VECTOR_VERSION}")
    for key in ("name", "method", "attribute"):  # what the commands read back
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            raise CheckpointError(f"{path}: damaged metadata ({key!r} should be a string, got {json.dumps(meta[key])[:40]})")
    if vector.ndim != 1 or vector.dtype.kind != "f" or not 1 <= vector.shape[0] <= 4096:
        raise CheckpointError(f"{path}: the vector should be a float array of shape (nz,), got {vector.dtype} {vector.shape}")
    if not np.isfinite(vector).all():
        raise CheckpointError(f"{path}: the vector holds NaN or infinite values")
    if nz is not None and vector.shape != (nz,):
        raise CheckpointError(f"{path} is a {vector.shape[0]}-d vector but the generator takes {nz}-d noise")
    return AttributeVector(vector.astype(np.float32), meta)


# -- editing ------------------------------------------------------------------------------------------


def edit_noise(z, vector, strengths) -> np.ndarray:
    """``z + s * vector`` for every strength: ``z (N, nz)``, ``vector (nz,)``, ``strengths (K,)``
    -> float32 ``(K, N, nz)``."""
    s = np.asarray(strengths, dtype=np.float32)[:, None, None]  # (K, 1, 1)
    return (np.asarray(z, np.float32)[None] + s * np.asarray(vector, np.float32)[None, None]).astype(np.float32)


def edit_images(G, z, vector, strengths) -> np.ndarray:
    """The edited idols: uint8 ``(K, N, S, S, 3)``, row ``k`` is every idol at strength ``k``."""
    edited = edit_noise(z, vector, strengths)  # (K, N, nz)
    images = to_images(generate(G, edited.reshape(-1, edited.shape[-1])))  # (K * N, S, S, 3)
    return images.reshape(*edited.shape[:2], *images.shape[1:])
