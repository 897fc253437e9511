"""Data: the built-in idol set, your own image folders, augmentation and batches.

::

    from minigan.data import load_dataset, to_model_input, iterate_batches, augment_batch

    ds = load_dataset("idols")            # or load_dataset("path/to/icons"): what --data takes
    ds.images                             # (N, 64, 64, 3) uint8 RGB
    ds.labels["hair_color"], ds.vocab["hair_color"]
    for idx in iterate_batches(len(ds), 64, rng):           # one shuffled epoch
        x = to_model_input(ds.images[idx])                  # (64, 3, 64, 64) float32 in [-1, 1]
        x = augment_batch(x, rng, zoom=(1.0, 1.2), rotate=15.0, flip=True)

Modules: :mod:`.idols` draws the built-in set, :mod:`.folder` reads image folders,
:mod:`.augment` zooms/rotates/flips batches, :mod:`.dataset` holds the dataset object, the
cache and the conversions, :mod:`.commands` is ``python -m minigan dataset``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DatasetError
from .augment import AUGMENT_PRESETS, affine_batch, augment_batch, augment_options, draw_augment_params
from .dataset import (ImageDataset, cache_dir, iterate_batches, load_dataset_npz, model_batches,
                      save_dataset_npz, to_images, to_model_input)
from .folder import load_folder
from .idols import generate_idols, load_idols

__all__ = [
    "ImageDataset",
    "load_idols",
    "generate_idols",
    "load_folder",
    "load_dataset",
    "idols_seed",
    "to_model_input",
    "to_images",
    "augment_batch",
    "affine_batch",
    "draw_augment_params",
    "augment_options",
    "AUGMENT_PRESETS",
    "iterate_batches",
    "model_batches",
    "cache_dir",
    "save_dataset_npz",
    "load_dataset_npz",
]


def idols_seed(data, default: int = 0) -> int | None:
    """The seed that ``--data`` names for the built-in set: ``default`` for ``"idols"``, SEED for
    ``"idols:SEED"``, None for anything else (a folder); a DatasetError for a seed that is not an integer."""
    text = str(data)
    if text == "idols":
        return default
    if not text.startswith("idols:"):
        return None
    try:
        return int(text.split(":", 1)[1])
    except ValueError:
        raise DatasetError(f"data {text!r}: the seed after 'idols:' must be an integer", argument="data") from None


def load_dataset(data="idols", seed: int = 0, **kwargs) -> ImageDataset:
    """What ``--data`` takes everywhere: ``"idols"`` (the built-in set, drawn with ``seed``),
    ``"idols:SEED"``, or the path of a folder of images. Extra keyword arguments go to
    :func:`load_idols` or :func:`load_folder`."""
    text = str(data)
    built_in = idols_seed(text, seed)
    if built_in is not None:
        return load_idols(seed=built_in, **kwargs)
    if not Path(text).expanduser().exists():
        raise DatasetError(f"data {text!r}: not 'idols' and no such folder", argument="data")
    return load_folder(text, **kwargs)
