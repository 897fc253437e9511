"""Measuring a generator: a Frechet distance, attribute histograms, a memorisation check and
edit success, all in the eyes of the attribute classifier (:mod:`minigan.models.classifier`).

``python -m minigan evaluate --checkpoint runs/idols`` prints them as one JSON line and draws
their pictures (:mod:`minigan.viz`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import linalg

from .backend import get_array_module, get_cupy, normalize_device, to_numpy
from .latent import edit_noise
from .models.classifier import AttributeClassifier, generate_and_classify, require_heads
from .conditioning import draw_labels
from .sampling import noise

__all__ = [
    "label_control",
    "label_set_quality",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_of_features",
    "frechet_distance_floor",
    "histogram_distance",
    "class_shares",
    "attribute_histogram_distance",
    "nearest_neighbours",
    "memorisation",
    "edit_success",
]


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


def frechet_distance_floor(real_features, n: int, seed: int = 0) -> float:
    """The Frechet distance between ``min(n, N // 2)`` of the real features ``(N, F)``, drawn by
    ``seed``, and the rest: what a generator of ``n`` samples as good as the data would score
    (``evaluate``'s ``fd_real``), the floor of :func:`frechet_distance_of_features` at that size."""
    split = np.random.default_rng(seed).permutation(len(real_features))
    held = min(n, len(real_features) // 2)
    return frechet_distance_of_features(real_features[split[held:]], real_features[split[:held]])


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


def label_control(G, clf: AttributeClassifier, class_names: dict, table: dict | None, n: int = 500, seed: int = 0,
                  noise_kind: str = "gaussian", progress: bool = True) -> dict:
    """How well a conditional generator's labels control what it draws, read by the classifier.

    ``n`` idols (noise and labels drawn as the data mixes them, from ``table``) are drawn as they
    are, then with each conditioned attribute set to each of its values in turn, the noise and
    the other labels kept. For every attribute the classifier also reads (``class_names``: the
    classifier's ``{attribute: [value names]}``), per value: ``control``, the share of the edited
    idols classified as that value; ``kept``, for every other such attribute, the share whose
    predicted class is the one the unedited idol had; and ``kept_all``. Each attribute's
    ``control`` and ``kept`` are averaged over its values, and split by whether the edited label
    combination occurs in the training data (``seen``) or not (``unseen``).
    """
    rng = np.random.default_rng(seed)
    z = noise(rng, n, G.noise_size, noise_kind)
    labels = draw_labels(np.random.default_rng([seed, 1]), n, {}, table, G.num_classes)
    seen_rows = {tuple(r) for r in (table or {}).get("rows", [])}
    read = [a for a in G.attributes if a in clf.heads]
    if not read:
        raise ValueError(f"the classifier reads none of the conditioned labels ({', '.join(G.attributes)})")

    # the classifier's class numbers -> the generator's (both name their values; -1: a name G lacks)
    renumber = {a: np.array([G.vocab[a].index(name) if name in G.vocab[a] else -1 for name in class_names[a]])
                for a in read}

    def predict(rows, what):
        out = generate_and_classify(G, clf, G.inputs(z, rows), progress=what if progress else None)[0].predictions
        return {a: renumber[a][out[a]] for a in read}

    original = predict(labels, "classifying the idols as drawn")
    report = {}
    for a_name in read:
        a = G.attributes.index(a_name)
        others = [b for b in read if b != a_name]
        values, hits_seen, hits_unseen = {}, [], []
        for v, value in enumerate(G.vocab[a_name]):
            rows = labels.copy()
            rows[:, a] = v
            pred = predict(rows, f"{a_name} = {value}")
            hit = pred[a_name] == v
            kept = {b: round(float((pred[b] == original[b]).mean()), 4) for b in others}
            kept_all = np.all([pred[b] == original[b] for b in others], axis=0) if others else np.ones(n, bool)
            seen = np.array([tuple(r) in seen_rows for r in rows]) if seen_rows else np.ones(n, bool)
            hits_seen.append(hit[seen])
            hits_unseen.append(hit[~seen])
            values[value] = {"control": round(float(hit.mean()), 4), "kept": kept,
                             "kept_all": round(float(kept_all.mean()), 4), "seen_share": round(float(seen.mean()), 4)}
        seen_hits, unseen_hits = np.concatenate(hits_seen), np.concatenate(hits_unseen)
        report[a_name] = {
            "control": round(float(np.mean([r["control"] for r in values.values()])), 4),
            "kept": {b: round(float(np.mean([r["kept"][b] for r in values.values()])), 4) for b in others},
            "kept_all": round(float(np.mean([r["kept_all"] for r in values.values()])), 4),
            "control_seen": round(float(seen_hits.mean()), 4) if seen_hits.size else None,
            "control_unseen": round(float(unseen_hits.mean()), 4) if unseen_hits.size else None,
            "unseen_share": round(float(unseen_hits.size / (seen_hits.size + unseen_hits.size)), 4),
            "values": values,
        }
    return report


def label_set_quality(G, clf: AttributeClassifier, real_features, real_predictions: dict, real_labels,
                      table: dict | None, n: int = 300, seed: int = 0, noise_kind: str = "gaussian",
                      min_real: int = 20, progress: bool = True) -> dict:
    """A conditional generator's quality within each label set: for every value ``v`` of every
    conditioned attribute ``a``, idols drawn with ``a = v`` (their other labels as the data mixes
    them given ``a = v``) against the real images labelled ``a = v``.

    ``real_labels`` ``(N, A)``: the real images' labels in G's numbering (``-1``: a value G
    lacks). The set's real images are split in two: ``k = min(n, M // 2)`` of them (B) and the
    rest (A). ``fd`` is the Frechet distance of the classifier's features between A and ``k``
    generated idols, ``fd_real`` between A and B: the same sizes on both sides, so ``fd_real`` is
    the floor at this size (a Frechet distance of few samples is biased upwards: compare the two,
    not the numbers with the overall ``fd``). ``attributes``: the TV distance of the classifier's
    histogram of every attribute it reads but ``a`` (both sides read by the classifier, the
    generated idols against all ``M`` real ones), with its ``mean``: a generator that collapsed
    within a label set (one hair style for every blonde) shows here. Sets of fewer than
    ``min_real`` real images are left out. Returns ``{"sets": {attribute: {value: ...}},
    "summary": ...}``, the summary averaging over the sets and naming the worst.
    """
    rng = np.random.default_rng(seed)
    real_labels = np.asarray(real_labels)
    sets, fds, floors, tvs = {}, [], [], []
    for a, name in enumerate(G.attributes):
        per_value = {}
        for v, value in enumerate(G.vocab[name]):
            members = np.flatnonzero(real_labels[:, a] == v)
            if len(members) < max(min_real, 4):  # too few real images of this value to compare with
                continue
            k = min(n, len(members) // 2)
            shuffled = rng.permutation(members)
            held, rest = shuffled[:k], shuffled[k:]  # B (k images) and A
            z = noise(rng, k, G.noise_size, noise_kind)
            rows = draw_labels(rng, k, {a: v}, table, G.num_classes)
            out = generate_and_classify(G, clf, G.inputs(z, rows),
                                        progress=f"{name} = {value}" if progress else None)[0]
            fd = frechet_distance_of_features(real_features[rest], out.features)
            fd_real = frechet_distance_of_features(real_features[rest], real_features[held])
            hist = {b: round(histogram_distance(real_predictions[b][members], out.predictions[b],
                                                clf.heads[b].out_features), 4)
                    for b in clf.heads if b != name}
            if hist:
                hist["mean"] = round(float(np.mean(list(hist.values()))), 4)
                tvs.append((hist["mean"], f"{name}={value}"))
            per_value[value] = {"fd": round(fd, 3), "fd_real": round(fd_real, 3), "n": int(k),
                                "n_real": int(len(members)), "attributes": hist}
            fds.append((fd, f"{name}={value}"))
            floors.append(fd_real)
        sets[name] = per_value
    report = {"sets": sets}
    if fds:
        report["summary"] = {
            "label_sets": len(fds), "mean_fd": round(float(np.mean([f for f, _ in fds])), 3),
            "mean_fd_real": round(float(np.mean(floors)), 3), "worst_fd": [round(max(fds)[0], 3), max(fds)[1]],
            **({"mean_attributes": round(float(np.mean([t for t, _ in tvs])), 4), "worst_attributes": list(max(tvs))}
               if tvs else {})}
    return report
