"""What a dataset holds, in words and counts: who is in each image, and how many characters and
images carry each attribute value (``python -m minigan dataset``)."""

from __future__ import annotations

import numpy as np

from .dataset import ImageDataset

__all__ = ["group_label", "attribute_table", "describe"]


def group_label(ds: ImageDataset) -> str | None:
    """The label that names who is in each image: ``"character"``, else ``"folder"``, else None."""
    for name in ("character", "folder"):
        if name in ds.labels:
            return name
    return None


def attribute_table(ds: ImageDataset) -> list[tuple[str, str, int, int]]:
    """Rows ``(attribute, value, characters, images)``: for every label and every value, how many
    characters (groups: the character, else the folder) have at least one such image, and how
    many images carry it. The character label itself is left out (one row per character would
    drown the table); without a group label the characters column is 0."""
    group = group_label(ds)
    rows = []
    for name in ds.labels:
        if name == "character":
            continue
        values = ds.labels[name]
        for v, value in enumerate(ds.vocab[name]):
            mask = values == v
            chars = len(np.unique(ds.labels[group][mask])) if group else 0
            rows.append((name, value, int(chars), int(mask.sum())))
    return rows


def describe(ds: ImageDataset, index: int) -> str:
    """A few words on image ``index``: ``"blond hair, twin tails, blue eyes, ..."`` from its labels."""
    parts = []
    for name in ("hair_color", "hair_style", "eye_color", "accessory", "skin_tone", "costume_color", "costume_style"):
        if name in ds.labels:
            value = ds.vocab[name][ds.labels[name][index]]
            suffix = {"hair_color": " hair", "eye_color": " eyes", "skin_tone": " skin", "costume_color": " costume"}.get(name, "")
            if name == "accessory" and value == "none":
                continue
            parts.append(value + suffix)
    return ", ".join(parts)
