"""Checkpoints: ``.npz`` files of named arrays plus JSON metadata, never pickle.

A checkpoint is a plain NumPy ``.npz`` archive (readable anywhere with
``np.load(path, allow_pickle=False)``) holding

* arrays by name: ``"G/0.W"``, ``"D/3.running_mean"``, ``"opt_g/0.W/m"``, ``"fixed_noise"``...
* ``"__meta__"``: a JSON string with the format name and version, the kind of checkpoint, the
  model configurations, the training configuration, counters and random-generator state.

Files are written atomically: to a temporary file in the same folder, flushed to disk, then
renamed over the target, so a crash or Ctrl-C during a save never leaves a half-written
checkpoint where a good one was.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .backend import to_numpy
from .errors import CheckpointError
from .models.dcgan import Discriminator, Generator

__all__ = [
    "FORMAT",
    "VERSION",
    "save_checkpoint",
    "load_checkpoint",
    "model_arrays",
    "load_model_arrays",
    "load_generator",
    "load_discriminator",
]

FORMAT = "minigan-checkpoint"
VERSION = 1


def save_checkpoint(path, arrays: dict, meta: dict) -> Path:
    """Write ``arrays`` (name -> array, NumPy or CuPy) and ``meta`` (JSON-able) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {name: to_numpy(value) for name, value in arrays.items()}
    for name, value in payload.items():
        if value.dtype == object:
            raise TypeError(f"checkpoint array {name!r} has dtype object (would need pickle)")
    payload["__meta__"] = np.array(json.dumps({"format": FORMAT, "version": VERSION, **meta}))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint; returns ``(arrays, meta)``.

    Raises :class:`~minigan.errors.CheckpointError` with the reason for a missing file, a file
    that is not a minigan checkpoint, a damaged archive or a format version from the future.
    """
    path = Path(path)
    if path.is_dir():
        candidate = path / "checkpoints" / "last.npz"
        if not candidate.exists():
            raise CheckpointError(f"{path} is a folder without checkpoints/last.npz")
        path = candidate
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint (damaged or not an .npz file): {exc}") from exc
    if "__meta__" not in arrays:
        raise CheckpointError(f"{path} is an .npz file but not a minigan checkpoint (no metadata)")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: damaged metadata ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a minigan checkpoint (format {meta.get('format')!r})")
    if int(meta.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {meta['version']}, newer than this "
                              f"minigan's ({VERSION}); update minigan to read it")
    return arrays, meta


def model_arrays(prefix: str, model) -> dict[str, np.ndarray]:
    """``{"<prefix>/<name>": array}`` for every parameter and buffer of ``model``."""
    return {f"{prefix}/{name}": value for name, value in model.state_dict().items()}


def load_model_arrays(model, arrays: dict, prefix: str, source="checkpoint") -> None:
    """Load ``model``'s state from the ``prefix/`` entries of ``arrays``.

    Raises :class:`~minigan.errors.CheckpointError` naming every missing, unexpected or
    mis-shaped tensor (a checkpoint of another architecture).
    """
    state = {name[len(prefix) + 1:]: value for name, value in arrays.items() if name.startswith(prefix + "/")}
    if not state:
        raise CheckpointError(f"{source} holds no {prefix!r} model")
    try:
        model.load_state_dict(state)
    except ValueError as exc:
        raise CheckpointError(f"{source} does not fit this {type(model).__name__} "
                              f"(a checkpoint of another model?): {exc}") from exc


def _load_model(path, prefix, build):
    arrays, meta = load_checkpoint(path)
    config = meta.get("models", {}).get(prefix)
    if config is None:
        raise CheckpointError(f"{path} holds no {prefix!r} model (a {meta.get('kind', 'unknown')!r} checkpoint)")
    model = build(**config)
    load_model_arrays(model, arrays, prefix, source=str(path))
    return model, arrays, meta


def load_generator(path, device: str = "cpu"):
    """The generator of a checkpoint (or run folder), in eval mode on ``device``; returns ``(G, meta)``."""
    G, _, meta = _load_model(path, "G", Generator)
    return G.eval().to(device), meta


def load_discriminator(path, device: str = "cpu"):
    """The discriminator of a checkpoint, in eval mode on ``device``; returns ``(D, meta)``."""
    D, _, meta = _load_model(path, "D", Discriminator)
    return D.eval().to(device), meta
