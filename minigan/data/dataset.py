"""The dataset object, the cache folder, conversions to and from model input, and batches.

Every source of images (the built-in idol set, a folder of your own icons) ends up as one
:class:`ImageDataset`: a uint8 array of RGB images in HWC layout plus integer labels with the
name of every label value. The model wants something else, float32 NCHW in [-1, 1]; the two
conversions between them live here, next to the epoch iterator::

    ds = load_dataset("idols")                       # ImageDataset, ds.images (N, 64, 64, 3) uint8
    for idx in iterate_batches(len(ds), 64, rng):     # idx: (64,) int64, a fresh shuffle each epoch
        x = to_model_input(ds.images[idx])            # (64, 3, 64, 64) float32 in [-1, 1]

Caches (the drawn idol set, decoded image folders) are ``.npz`` files read without pickle
(:func:`minigan.checkpoint.read_npz`); labels are int64 arrays and the vocabulary is a JSON
string. They are written atomically and carry the sha256 of their images and labels, so a
damaged or tampered cache is detected (:class:`DatasetError`) and rebuilt by its loader.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..backend import get_array_module, to_device, to_numpy
from ..checkpoint import read_npz, write_atomically
from ..errors import DatasetError
from .augment import augment_batch

__all__ = [
    "ImageDataset",
    "cache_dir",
    "to_model_input",
    "to_images",
    "iterate_batches",
    "model_batches",
    "save_dataset_npz",
    "load_dataset_npz",
    "dataset_sha256",
]

#: Format version of the dataset ``.npz`` files written by :func:`save_dataset_npz`.
NPZ_FORMAT = 1


class ImageDataset:
    """Images with labels: what every dataset loader returns.

    Attributes:
        images: ``np.uint8`` array, shape ``(N, H, W, 3)``, RGB, HWC (H = W = 64 for the loaders).
        labels: ``dict[str, np.ndarray]``; each value an ``int64`` array of shape ``(N,)``
            indexing into ``vocab[name]``.
        vocab: ``dict[str, list[str]]``; the name of each label value, so that
            ``vocab["hair_color"][labels["hair_color"][i]]`` is the hair colour of image ``i``.
        source: where the images came from, e.g. ``"idols(seed=0)"`` or a folder path.
        cache_path: the ``.npz`` cache the dataset was read from or written to (or None).
    """

    def __init__(self, images, labels=None, vocab=None, source="", cache_path=None):
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 of shape (N, H, W, 3), got {images.dtype} {images.shape}")
        self.images = images  # (N, H, W, 3) uint8
        self.labels = {k: np.asarray(v, dtype=np.int64) for k, v in (labels or {}).items()}
        self.vocab = {k: [str(s) for s in v] for k, v in (vocab or {}).items()}
        for name, values in self.labels.items():
            if values.shape != (len(images),):
                raise ValueError(f"label {name!r} has shape {values.shape}, expected ({len(images)},)")
            if name not in self.vocab:
                raise ValueError(f"label {name!r} has no vocabulary")
            if len(values) and (values.min() < 0 or values.max() >= len(self.vocab[name])):
                raise ValueError(f"label {name!r} has values outside its vocabulary of {len(self.vocab[name])}")
        self.source = str(source)
        self.cache_path = None if cache_path is None else Path(cache_path)

    @property
    def names(self) -> list[str]:
        """The character names (``vocab["character"]``); an empty list when there are none."""
        return list(self.vocab.get("character", []))

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        n, h, w, _ = self.images.shape
        return f"ImageDataset({n} images {h}x{w}, labels={sorted(self.labels)}, source={self.source!r})"

    def subset(self, indices) -> "ImageDataset":
        """A new dataset with the images (and labels) at ``indices`` (ints or a boolean mask)."""
        indices = np.asarray(indices)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        indices = indices.astype(np.int64)  # (M,)
        return ImageDataset(self.images[indices], {k: v[indices] for k, v in self.labels.items()},
                            self.vocab, source=self.source, cache_path=self.cache_path)

    def label_names(self, name: str) -> list[str]:
        """The label ``name`` of every image as strings, e.g. ``["blond", "black", ...]``."""
        vocab = self.vocab[name]
        return [vocab[i] for i in self.labels[name]]

    def counts(self, name: str) -> dict[str, int]:
        """How many images carry each value of label ``name`` (every vocabulary entry, in order)."""
        counts = np.bincount(self.labels[name], minlength=len(self.vocab[name]))
        return {value: int(c) for value, c in zip(self.vocab[name], counts)}


# ---------------------------------------------------------------------------------------------
# The cache folder and the .npz format


def cache_dir() -> Path:
    """The folder for minigan's caches: ``$MINIGAN_CACHE``, else ``$XDG_CACHE_HOME/minigan``,
    else ``~/.cache/minigan``. It is created on first use."""
    if os.environ.get("MINIGAN_CACHE"):
        path = Path(os.environ["MINIGAN_CACHE"]).expanduser()
    elif os.environ.get("XDG_CACHE_HOME"):
        path = Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "minigan"
    else:
        path = Path.home() / ".cache" / "minigan"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create the cache folder {path} ({exc}); set MINIGAN_CACHE to a writable folder") from exc
    return path


def dataset_sha256(images, labels: dict) -> str:
    """sha256 over the images' bytes and every label (name, values): what a cache file must hold."""
    h = hashlib.sha256(np.ascontiguousarray(images).data)
    h.update(repr(tuple(np.shape(images))).encode())
    for name in sorted(labels):
        h.update(f"\n{name}\n".encode())
        h.update(np.ascontiguousarray(labels[name], dtype=np.int64).data)
    return h.hexdigest()


def save_dataset_npz(path, ds: ImageDataset, meta: dict | None = None) -> Path:
    """Write ``ds`` to ``path`` as an ``.npz`` (atomically: a temporary file, fsync, a rename).

    Layout: ``images`` (N, H, W, 3) uint8; ``label.<name>`` (N,) int64 for each label;
    ``meta_json``, a 0-d unicode array holding JSON ``{"format", "source", "vocab", "meta",
    "sha256"}`` (``sha256``: :func:`dataset_sha256` of the images and labels). Nothing in it
    needs pickle. A full disk is a :class:`~minigan.errors.DiskFullError` naming the file.
    """
    path = Path(path)
    header = {"format": NPZ_FORMAT, "source": ds.source, "vocab": ds.vocab, "meta": meta or {},
              "sha256": dataset_sha256(ds.images, ds.labels)}
    arrays = {"images": ds.images, "meta_json": np.array(json.dumps(header))}
    arrays.update({f"label.{name}": values for name, values in ds.labels.items()})
    return write_atomically(path, lambda f: np.savez(f, **arrays))


def load_dataset_npz(path, require_checksum: bool = False) -> tuple[ImageDataset, dict]:
    """Read an ``.npz`` written by :func:`save_dataset_npz`; return ``(dataset, meta)``.

    Raises :class:`DatasetError` when the file is damaged (truncated, bytes changed: its sha256
    no longer matches), of another format, or its header is not what this function writes.
    Files written before the checksum existed (no ``sha256``) are read unchecked, unless
    ``require_checksum`` (what the caches ask for: a cache without one is rebuilt).
    """
    path = Path(path)
    arrays = read_npz(path, "dataset file", error=DatasetError)

    def damaged(why):
        return DatasetError(f"{path}: not a readable minigan dataset file ({why})")

    raw = arrays.get("meta_json")
    if raw is None or raw.shape != () or raw.dtype.kind != "U":
        raise damaged("no JSON header")
    try:
        header = json.loads(str(raw[()]))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise damaged(f"damaged header: {exc}") from exc
    if not isinstance(header, dict):
        raise damaged("the header is not a JSON object")
    if header.get("format") != NPZ_FORMAT:
        raise DatasetError(f"{path}: dataset format {header.get('format')}, expected {NPZ_FORMAT}")
    vocab, meta = header.get("vocab", {}), header.get("meta", {})
    if not (isinstance(vocab, dict) and all(isinstance(v, list) for v in vocab.values()) and isinstance(meta, dict)
            and isinstance(header.get("source", ""), str)):
        raise damaged("the header's vocab, meta or source has the wrong type")
    images = arrays.get("images")
    if images is None:
        raise damaged("no images")
    labels = {k[len("label."):]: v for k, v in arrays.items() if k.startswith("label.")}
    if any(v.dtype.kind not in "iu" for v in labels.values()):
        raise damaged("labels that are not integers")
    if require_checksum and "sha256" not in header:
        raise damaged("no sha256 to check it against")
    if "sha256" in header and header["sha256"] != dataset_sha256(images, labels):
        raise damaged("its images or labels do not match its sha256: changed since it was written")
    try:
        ds = ImageDataset(images, labels, vocab, source=header.get("source", ""), cache_path=path)
    except ValueError as exc:
        raise damaged(str(exc)) from exc
    return ds, meta


# ---------------------------------------------------------------------------------------------
# Conversions between images and model input


def to_model_input(images, xp=np):
    """uint8 images -> model input.

    Args:
        images: uint8 array (NumPy or CuPy), shape ``(N, H, W, 3)`` (or one image ``(H, W, 3)``).
        xp: the array module of the result (``numpy`` or ``cupy``); the uint8 bytes are moved
            first, so a host-to-GPU copy moves a quarter of the float32 bytes.

    Returns:
        float32 array of ``xp``, shape ``(N, 3, H, W)``, values ``x = pixel / 127.5 - 1`` in [-1, 1].
    """
    src = get_array_module(images)
    if xp is not src:
        images = xp.asarray(images) if xp is not np else to_numpy(images)
    images = xp.asarray(images)
    if images.ndim == 3:
        images = images[None]  # (1, H, W, 3)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 images of shape (N, H, W, 3), got {images.shape}")
    x = images.transpose(0, 3, 1, 2).astype(xp.float32)  # (N, 3, H, W) float32 in [0, 255]
    x *= xp.float32(1 / 127.5)
    x -= xp.float32(1.0)
    return xp.ascontiguousarray(x)


def to_images(x) -> np.ndarray:
    """Model output -> uint8 images (the inverse of :func:`to_model_input`).

    Args:
        x: float array (NumPy or CuPy), shape ``(N, 3, H, W)`` (or ``(3, H, W)``), values in
            [-1, 1]; values outside are clipped.

    Returns:
        NumPy uint8 array, shape ``(N, H, W, 3)``: ``round((x + 1) * 127.5)``.
    """
    x = to_numpy(x)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected an array of shape (N, 3, H, W), got {x.shape}")
    pixels = np.rint((np.clip(x, -1.0, 1.0) + 1.0) * 127.5)  # (N, 3, H, W) in [0, 255]
    return np.ascontiguousarray(pixels.transpose(0, 2, 3, 1).astype(np.uint8))  # (N, H, W, 3)


# ---------------------------------------------------------------------------------------------
# Batches


def iterate_batches(n: int, batch_size: int, rng: np.random.Generator, drop_last: bool = True):
    """One epoch of shuffled mini-batch indices.

    Yields ``int64`` index arrays of shape ``(batch_size,)`` (the last one shorter when
    ``drop_last`` is False) drawn from a fresh permutation of ``range(n)`` made with ``rng``;
    call it again for the next epoch. Raises :class:`DatasetError` when ``drop_last`` leaves no
    batch at all (fewer images than one batch), so that a training loop never spins on nothing.
    """
    n, batch_size = int(n), int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if n < 1:
        raise DatasetError("the dataset is empty")
    if drop_last and n < batch_size:
        raise DatasetError(f"the dataset has {n} images, fewer than one batch of {batch_size}; "
                           f"use a batch size of at most {n}")
    order = rng.permutation(n).astype(np.int64)  # (n,)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def model_batches(images, batch_size: int, rng: np.random.Generator, device: str = "cpu",
                  augment: dict | None = None, drop_last: bool = True):
    """One epoch of model-ready batches on ``device``: float32 ``(B, 3, H, W)`` in [-1, 1].

    ``images`` is the uint8 ``(N, H, W, 3)`` array (``ds.images``). It is moved to ``device``
    once per call, as uint8; each batch is then gathered, converted and, when ``augment`` is a
    dict of :func:`minigan.data.augment.augment_batch` keyword arguments (e.g. a preset from
    :data:`minigan.data.augment.AUGMENT_PRESETS`), augmented with parameters drawn from ``rng``.
    """
    stored = to_device(images, device)  # (N, H, W, 3) uint8 on the device
    xp = get_array_module(stored)
    for idx in iterate_batches(len(images), batch_size, rng, drop_last=drop_last):
        x = to_model_input(stored[xp.asarray(idx)], xp=xp)  # (B, 3, H, W) float32
        if augment:
            x = augment_batch(x, rng, **augment)
        yield x
