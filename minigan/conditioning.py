"""What a conditional run needs besides its models: which labels it is conditioned on, the label
rows of its data, the labels its fakes are drawn for, and the progress grid's inputs.

``train --condition hair_color,hair_style`` conditions on labels of the data
(:attr:`minigan.data.ImageDataset.labels`): the built-in idols have ``hair_color``,
``hair_style``, ``eye_color``, ``accessory``, ``expression``, ``skin_tone`` and more (and
``character``); the images of a folder are labelled ``folder`` by their subfolder, and by the
columns of a ``labels.csv`` beside them (:func:`minigan.data.folder.read_labels_csv`). A fake is drawn for the labels of a random real image,
so the fakes' labels follow the data's joint distribution (blond twin tails as often as the data
has them), and the discriminator never sees a combination that the data makes impossible.
"""

from __future__ import annotations

import numpy as np

from .errors import DatasetError, MiniganError

__all__ = ["parse_condition", "is_unconditional", "check_condition", "label_rows", "grid_labels", "GRID_COLUMNS", "label_table",
           "parse_label_set", "draw_labels", "fake_labels"]

#: The progress grid of a conditional run: one row per value of the first conditioned
#: attribute, this many idols (noise vectors) per row, the same noise in every row.
GRID_COLUMNS = 8


def is_unconditional(text: str) -> bool:
    """Whether a ``--condition`` text asks for the unconditional DCGAN ('' or 'none')."""
    return text.strip().lower() in ("", "none")


def parse_condition(text: str) -> list[str]:
    """``"hair_color, eye_color"`` -> ``["hair_color", "eye_color"]`` ('' or 'none': [])."""
    if is_unconditional(text):
        return []
    names = [part.strip() for part in text.split(",")]
    if any(not name for name in names):
        raise ValueError(f"condition has an empty label name in {text!r} (a comma list such as hair_color,eye_color)")
    if len(set(names)) != len(names):
        raise ValueError(f"condition names a label twice in {text!r}")
    return names


def check_condition(attributes, dataset) -> None:
    """DatasetError naming what is missing when ``dataset`` lacks a label of ``attributes``, or
    a label has a single value (nothing to choose between)."""
    available = sorted(name for name in dataset.labels if name != "character")
    for name in attributes:
        if name not in dataset.labels:
            where = ("its labels: " + ", ".join(available)) if available else "it has no labels at all"
            raise DatasetError(f"the data ({dataset.source}) has no label {name!r} to condition on ({where}); "
                               "a folder's images are labelled by a labels.csv beside them (file, then one "
                               "column per label) and by their subfolder (--condition folder)",
                               arguments=("condition",))
        values = np.unique(dataset.labels[name])
        if len(values) < 2:
            raise DatasetError(f"every image of {dataset.source} has the same {name} "
                               f"({dataset.vocab[name][int(values[0])] if len(values) else 'none'}): "
                               "there is nothing to condition on", arguments=("condition",))


def label_rows(dataset, attributes) -> np.ndarray:
    """The data's labels as ``(N, A)`` int64, one column per conditioned attribute."""
    return np.stack([dataset.labels[name] for name in attributes], axis=1).astype(np.int64)


def fake_labels(rng: np.random.Generator, rows: np.ndarray, n: int, independent: bool = False) -> np.ndarray:
    """The labels ``(n, A)`` a training batch's fakes are drawn for, from the data's ``rows``:
    those of ``n`` random real images (``independent=False``: the data's joint distribution), or
    each attribute's value from a real image of its own (each label from its share in the data,
    independently of the others: every combination occurs, the unseen ones included)."""
    if not independent:
        return rows[rng.integers(0, len(rows), n)]
    pick = rng.integers(0, len(rows), (n, rows.shape[1]))  # (n, A): one real image per label
    return rows[pick, np.arange(rows.shape[1])[None, :]]


def grid_labels(rows: np.ndarray, num_classes, columns: int = GRID_COLUMNS) -> np.ndarray:
    """The progress grid's labels ``(K0 * columns, A)``: row ``r`` has value ``r`` of the first
    attribute; the other attributes of column ``j`` are those of the data's row ``j`` (fixed,
    so that a column keeps one idol's other labels while its first one changes)."""
    k0 = num_classes[0]
    others = rows[np.linspace(0, len(rows) - 1, columns).round().astype(int)]  # (columns, A), spread over the data
    grid = np.tile(others, (k0, 1))  # (k0 * columns, A)
    grid[:, 0] = np.repeat(np.arange(k0), columns)
    return grid


# -- choosing labels for a conditional model's idols ------------------------------------------


def label_table(rows: np.ndarray) -> dict:
    """The combinations of labels the data holds and how often: ``{"rows": [[...], ...],
    "counts": [...]}``, saved in a conditional run's checkpoints so that commands can draw the
    labels they are not given as the data mixes them (without the data)."""
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    return {"rows": unique.astype(int).tolist(), "counts": counts.astype(int).tolist()}


def parse_label_set(text: str, attributes, vocab) -> dict[int, int]:
    """``"hair_color=blond,hair_style=bob"`` -> ``{attribute index: value index}``; a
    :class:`~minigan.errors.MiniganError` naming the model's labels and values for anything else."""
    chosen = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise MiniganError(f"--set {text}: write label=value pairs, e.g. hair_color=blond,hair_style=bob",
                               argument="set")
        if name not in attributes:
            raise MiniganError(f"--set {name}=...: this model is conditioned on {', '.join(attributes)}, not {name}",
                               argument="set")
        if value not in vocab[name]:
            raise MiniganError(f"--set {name}={value}: this model knows no {name} {value!r}; its values: "
                               f"{', '.join(vocab[name])}", argument="set")
        a = list(attributes).index(name)
        if a in chosen:
            raise MiniganError(f"--set names {name} twice", argument="set")
        chosen[a] = vocab[name].index(value)
    return chosen


def draw_labels(rng: np.random.Generator, n: int, chosen: dict[int, int], table: dict | None,
                num_classes) -> np.ndarray:
    """``(n, A)`` labels: the ``chosen`` values (attribute index -> value) everywhere, the others
    drawn as the data mixes them given the chosen ones (from ``table``, :func:`label_table`). A
    choice the data never made (an unseen combination) keeps the other labels of rows drawn
    from the whole table; without a table every label is drawn uniformly."""
    A = len(num_classes)
    if table and table.get("rows"):
        rows, counts = np.asarray(table["rows"], np.int64).reshape(-1, A), np.asarray(table["counts"], np.float64)
        match = np.all([rows[:, a] == v for a, v in chosen.items()], axis=0) if chosen else np.ones(len(rows), bool)
        if match.any():
            rows, counts = rows[match], counts[match]
        labels = rows[rng.choice(len(rows), size=n, p=counts / counts.sum())]
    else:
        labels = np.stack([rng.integers(0, k, n) for k in num_classes], axis=1)
    for a, v in chosen.items():
        labels[:, a] = v
    return labels.astype(np.int64)
