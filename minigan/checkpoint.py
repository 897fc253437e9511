"""Checkpoints: ``.npz`` files of named arrays plus JSON metadata, never pickle; safe file writes.

A checkpoint is a plain NumPy ``.npz`` archive (readable anywhere with
``np.load(path, allow_pickle=False)``) holding

* arrays by name: ``"G/0.W"``, ``"D/3.running_mean"``, ``"opt_g/0.W/m"``, ``"fixed_noise"``...
* ``"__meta__"``: a JSON string with the format name and version, the kind of checkpoint, the
  model configurations, the training configuration, counters and random-generator state.

Writing: every file minigan's trainer leaves (checkpoints, config.json, log.jsonl, pictures) goes
through :func:`write_atomically`: to a temporary file ``.NAME.XXXXXXXX.tmp`` in the same folder,
flushed and fsynced, then ``os.replace``-d over the target. A crash, a Ctrl-C or a full disk
during a save never leaves a half-written or empty file where a good one was; a full disk is a
:class:`~minigan.errors.DiskFullError` naming the file. A checkpoint whose arrays hold NaN or
infinity is never written.

Reading: :func:`read_npz` parses the archive itself (the ZIP directory, each array's header, its
size and checksum) before trusting anything in it, so that a truncated, bit-flipped or foreign
file is a :class:`~minigan.errors.CheckpointError` with a reason, never a traceback, and never
an attempt to allocate what a damaged header claims. :func:`load_checkpoint` then checks the
metadata's shape (types, required keys) and refuses non-finite weights.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .backend import get_array_module, to_numpy
from .errors import CheckpointError, DiskFullError, MiniganError
from .models.conditional import ConditionalGenerator, ProjectionDiscriminator
from .models.dcgan import Discriminator, Generator, num_blocks

__all__ = [
    "FORMAT",
    "VERSION",
    "save_checkpoint",
    "load_checkpoint",
    "model_arrays",
    "load_model_arrays",
    "load_generator",
    "load_discriminator",
    "write_atomically",
    "write_text_atomically",
    "remove_stale_temp_files",
    "read_npz",
    "non_finite_arrays",
    "check_model_config",
    "PRETRAINED",
    "PRETRAINED_FOLDER",
    "resolve_checkpoint",
    "save_compact_generator",
]

#: ``--checkpoint pretrained`` (or ``load_generator("pretrained")``): the generator that ships in
#: the package, in :data:`PRETRAINED_FOLDER` with its attribute vectors and its model card.
PRETRAINED = "pretrained"
PRETRAINED_FOLDER = Path(__file__).parent / "pretrained"

FORMAT = "minigan-checkpoint"
VERSION = 1

# -- writing files safely ------------------------------------------------------------------------

#: ``.NAME.XXXXXXXX.tmp``: what :func:`write_atomically` writes before the rename (mkstemp's
#: eight random characters in the middle).
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every system can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path, write) -> Path:
    """Write ``path`` through ``write(f)`` (``f``: a binary file open on a temporary file).

    The temporary file ``.NAME.XXXXXXXX.tmp`` sits next to ``path``; it is flushed, fsynced and
    renamed over ``path`` only when ``write`` returned, so ``path`` holds either its previous
    content or the complete new one. ``f.name`` is the temporary file's path (``*.tmp``): code
    that picks a format from the name must be told the format.

    Raises :class:`~minigan.errors.DiskFullError` when the disk or quota is full and
    :class:`~minigan.errors.MiniganError` for any other failure to write (both name ``path``);
    the temporary file is removed in every case, and ``path`` keeps its previous content.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; these are ordinary files
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_folder(path.parent)
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise DiskFullError(f"cannot write {path}: the disk is full ({os.strerror(exc.errno)}); free some space "
                                f"and try again (the previous {path.name}, if any, is unchanged)") from exc
        raise MiniganError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path


def write_text_atomically(path, text: str) -> Path:
    """:func:`write_atomically` for a text file (UTF-8)."""
    data = text.encode("utf-8")
    return write_atomically(path, lambda f: f.write(data))


def remove_stale_temp_files(folder) -> list[Path]:
    """Delete the temporary files a killed :func:`write_atomically` left in ``folder``.

    Only names of the form ``.NAME.XXXXXXXX.tmp`` go; returns what was removed. Call it when
    nothing else writes to ``folder`` (e.g. when a run is resumed).
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        if _TEMP_NAME.match(p.name) and p.is_file() and not p.is_symlink():
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


# -- reading .npz archives safely ------------------------------------------------------------------

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive


def read_npz(path, what: str = "checkpoint", error=CheckpointError) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive at ``path``, checked before it is trusted.

    Unlike ``np.load`` this tells an ``.npy`` file or random bytes from a damaged archive, checks
    that each array's header agrees with the size of its data (so a damaged header never makes
    it allocate gigabytes), refuses object arrays (pickle) and verifies every member's CRC.
    Raises ``error`` (a :class:`~minigan.errors.MiniganError` class) whose message starts with
    ``path`` and says what the file should have been (a minigan ``what``).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from exc
    if head.startswith(b"\x93NUMPY"):
        raise error(f"{path} is a single NumPy array (.npy), not a minigan {what} (an .npz archive)")
    if not head.startswith(_ZIP_MAGICS):
        raise error(f"{path} is not a minigan {what} (not an .npz archive)")
    try:
        arrays = {}
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename
                if not name.endswith(".npy") or info.is_dir():
                    raise error(f"{path} is a ZIP archive but not a minigan {what} (it holds {name!r})")
                key = name[:-len(".npy")]
                if key in arrays:
                    raise error(f"{path} is damaged (two arrays named {key!r})")
                if info.compress_type == zipfile.ZIP_STORED and not info.file_size == info.compress_size <= size:
                    raise error(f"{path} is damaged (the size of {key!r} does not fit the file)")
                arrays[key] = _read_member(archive, info, path, key, error)
    except (MiniganError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 (zipfile, zlib, struct, numpy header parsing: all mean damaged)
        raise error(f"{path} is not a readable {what} (damaged or truncated: {exc.__class__.__name__}: {exc})") from exc
    return arrays


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, key: str, error) -> np.ndarray:
    fmt = np.lib.format
    with archive.open(info) as member:
        version = fmt.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(member)
        else:
            raise error(f"{path}: array {key!r} has .npy format version {version}, which minigan does not read")
        if dtype.hasobject:
            raise error(f"{path}: array {key!r} holds Python objects (pickle), which minigan never loads")
        count = 1
        for n in shape:
            count *= int(n)
        nbytes = count * dtype.itemsize
        header = member.tell()
        if header + nbytes != info.file_size:
            raise error(f"{path} is damaged: array {key!r} claims shape {shape} {dtype} ({nbytes} bytes) but "
                        f"holds {info.file_size - header} bytes")
        buffer = bytearray(nbytes)
        if member.readinto(buffer) != nbytes or member.read(1):  # reading to the end checks the CRC
            raise error(f"{path} is damaged: array {key!r} is truncated")
    array = np.frombuffer(buffer, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C")


def non_finite_arrays(arrays: dict) -> list[str]:
    """The names of the float (or complex) arrays in ``arrays`` that hold NaN or infinity."""
    bad = []
    for name, value in arrays.items():
        kind = getattr(getattr(value, "dtype", None), "kind", None)
        if kind in ("f", "c") and not bool(get_array_module(value).isfinite(value).all()):
            bad.append(name)
    return bad


# -- checkpoints ---------------------------------------------------------------------------------


def save_checkpoint(path, arrays: dict, meta: dict) -> Path:
    """Write ``arrays`` (name -> array, NumPy or CuPy) and ``meta`` (JSON-able) to ``path``.

    Atomic (see :func:`write_atomically`). Raises :class:`~minigan.errors.CheckpointError`,
    writing nothing, when an array holds NaN or infinity or would need pickle.
    """
    path = Path(path)
    payload = {name: to_numpy(value) for name, value in arrays.items()}
    for name, value in payload.items():
        if value.dtype.hasobject:
            raise CheckpointError(f"checkpoint array {name!r} has dtype object (would need pickle)")
    bad = non_finite_arrays(payload)
    if bad:
        raise CheckpointError(f"refusing to write {path}: {_name_some(bad)} hold NaN or infinite values")
    payload["__meta__"] = np.array(json.dumps({"format": FORMAT, "version": VERSION, **meta}))
    return write_atomically(path, lambda f: np.savez(f, **payload))


def _name_some(names: list[str], n: int = 4) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def resolve_checkpoint(path) -> Path:
    """``path`` as a Path; the name ``"pretrained"`` (when no such file or folder exists here)
    is the bundled model, ``minigan/pretrained/idols.npz``."""
    path = Path(path)
    if str(path) == PRETRAINED and not path.exists():
        bundled = PRETRAINED_FOLDER / "idols.npz"
        if not bundled.exists():
            raise CheckpointError(f"this copy of minigan has no bundled model ({bundled} is missing); "
                                  "reinstall it, or train one with  python examples/train_idols.py")
        return bundled
    return path


def save_compact_generator(path, G, meta: dict, precision: str = "float16") -> Path:
    """Write ``G`` alone (no discriminator, no optimiser state) as a small checkpoint of kind
    ``"generator"``, its arrays stored as ``precision`` (``"float16"`` halves the size; loading
    casts back to float32). ``meta`` is added to the metadata (provenance: run, epoch, commit).

    The bundled model is such a file. It draws idols in every command; commands that need the
    discriminator (``fooled``) or the training state (resume) say that it has neither.
    """
    if precision not in ("float16", "float32"):
        raise ValueError(f"precision must be float16 or float32, got {precision!r}")
    with np.errstate(over="ignore"):  # a weight beyond float16's range (65504) becomes inf: refused below
        arrays = {name: to_numpy(value).astype(precision) for name, value in model_arrays("G", G).items()}
    bad = non_finite_arrays(arrays)
    if bad:
        raise CheckpointError(f"refusing to write {path}: {_name_some(bad)} do not fit {precision}")
    return save_checkpoint(path, arrays, {**meta, "kind": "generator", "models": {"G": G.config()},
                                          "precision": precision})


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint; returns ``(arrays, meta)``.

    Raises :class:`~minigan.errors.CheckpointError` with the reason for a missing file, a file
    that is not a minigan checkpoint (an ``.npy``, random bytes, another ``.npz``), a damaged
    archive, metadata of the wrong shape (hand-edited), a format version from the future, or
    weights that hold NaN or infinity.
    """
    path = resolve_checkpoint(path)
    if path.is_dir():
        candidate = path / "checkpoints" / "last.npz"
        if not candidate.exists():
            raise CheckpointError(f"{path} is a folder without checkpoints/last.npz")
        path = candidate
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    arrays = read_npz(path, "checkpoint")
    if "__meta__" not in arrays:
        raise CheckpointError(f"{path} is an .npz file but not a minigan checkpoint (no metadata)")
    raw = arrays.pop("__meta__")
    if raw.shape != () or raw.dtype.kind != "U":
        raise CheckpointError(f"{path}: damaged metadata (not a JSON string)")
    try:
        meta = json.loads(str(raw))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: damaged metadata ({exc})") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: damaged metadata (a JSON {type(meta).__name__}, not an object)")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a minigan checkpoint (format {meta.get('format')!r})")
    version = meta.get("version")
    if not _is_int(version) or version < 1:
        raise CheckpointError(f"{path}: damaged metadata (version {version!r}, expected a positive integer)")
    if version > VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {version}, newer than this "
                              f"minigan's ({VERSION}); update minigan to read it")
    _check_meta(meta, path)
    bad = non_finite_arrays(arrays)
    if bad:
        raise CheckpointError(f"{path} holds NaN or infinite values in {_name_some(bad)}: it is not a usable model "
                              "(a run that diverged?); use an earlier checkpoint")
    return arrays, meta


#: The metadata keys a kind of checkpoint must have, and their JSON types.
_REQUIRED = {
    "gan-training": {"config": dict, "models": dict, "epoch": int, "batch_in_epoch": int, "step": int,
                     "rng": dict, "frames": list, "dataset": dict},
    "gan-weights": {"models": dict, "epoch": int, "step": int},
}
_TYPE_NAMES = {dict: "an object", list: "a list", int: "an integer", str: "a string"}


def _check_meta(meta: dict, path) -> None:
    """The metadata's shape: what each kind of checkpoint must hold, with the right JSON types."""
    def bad(key, expected, value):
        raise CheckpointError(f"{path}: damaged metadata ({key!r} should be {expected}, "
                              f"got {json.dumps(value)[:60]})")

    kind = meta.get("kind")
    if kind is not None and not isinstance(kind, str):
        bad("kind", "a string", kind)
    models = meta.get("models", {})
    if not isinstance(models, dict):
        bad("models", "an object", models)
    for name, config in models.items():
        if not isinstance(config, dict):
            bad(f"models.{name}", "an object", config)
    for key, kind_type in _REQUIRED.get(kind, {}).items():
        if key not in meta:
            raise CheckpointError(f"{path}: damaged metadata (a {kind!r} checkpoint without {key!r})")
        value = meta[key]
        ok = _is_int(value) and value >= 0 if kind_type is int else isinstance(value, kind_type)
        if not ok:
            bad(key, _TYPE_NAMES[kind_type] + (" >= 0" if kind_type is int else ""), value)
    if kind in _REQUIRED:
        for name in ("G", "D"):
            if name not in models:
                raise CheckpointError(f"{path}: damaged metadata (a {kind!r} checkpoint without models.{name})")
    if kind == "gan-training":
        if not all(isinstance(f, str) for f in meta["frames"]):
            bad("frames", "a list of strings", meta["frames"])
        dataset = meta["dataset"]
        if not (isinstance(dataset.get("source"), str) and _is_int(dataset.get("images"))):
            bad("dataset", 'an object with "source" (a string) and "images" (an integer)', dataset)


#: The model configurations a checkpoint may ask for: the keys and the range of each.
MODEL_CONFIG_RANGES = {
    "G": {"nz": (1, 4096), "ngf": (1, 1024), "nc": (1, 4), "image_size": (8, 1024)},
    "D": {"nc": (1, 4), "ndf": (1, 1024), "image_size": (8, 1024)},
}


def check_model_config(prefix: str, config, arrays: dict, source) -> dict:
    """Check a saved DCGAN configuration (``prefix`` "G", "G_ema" or "D") before a model is built from it.

    Each value must be an integer in :data:`MODEL_CONFIG_RANGES`, and the first and last layers'
    weights in ``arrays`` must have the shapes it implies: so an edited configuration is an
    error here, instead of an attempt to build (and allocate) some other, perhaps huge, model.
    """

    base = prefix.split("_")[0]  # G_ema, the average of G, is a generator too
    ranges = MODEL_CONFIG_RANGES[base]
    if not isinstance(config, dict):
        raise CheckpointError(f"{source}: damaged metadata (models.{prefix} is not an object)")
    num_classes = _check_labels(prefix, config, source)  # () for an unconditional model
    flag = {"G": "conditional_bn", "D": "auxiliary"}[base]  # the one switch each conditional model may have
    unknown = sorted(set(config) - set(ranges) - {"attributes", "vocab", flag})
    if unknown or (flag in config and not num_classes):
        raise CheckpointError(f"{source}: damaged metadata (models.{prefix} has unknown settings "
                              f"{unknown or [flag]})")
    if not isinstance(config.get(flag, False), bool):
        raise CheckpointError(f"{source}: damaged metadata (models.{prefix}.{flag} should be true or false, "
                              f"got {json.dumps(config[flag])[:40]})")
    for key, (lo, hi) in ranges.items():
        value = config.get(key)
        if key in config and not (_is_int(value) and lo <= value <= hi):
            raise CheckpointError(f"{source}: damaged metadata (models.{prefix}.{key} should be an integer in "
                                  f"[{lo}, {hi}], got {json.dumps(value)[:40]})")
    defaults = {"nz": 100, "ngf": 64, "ndf": 64, "nc": 3, "image_size": 64}  # the constructors' defaults
    c = {**{k: defaults[k] for k in ranges}, **{k: v for k, v in config.items() if k in ranges}}
    try:
        k = num_blocks(c["image_size"])
    except ValueError as exc:
        raise CheckpointError(f"{source}: damaged metadata (models.{prefix}.image_size: {exc})") from exc
    if base == "G":
        width = c["ngf"] * 2 ** (k - 1)
        expected = {f"{prefix}/0.W": (c["nz"] + sum(num_classes), width, 4, 4),
                    f"{prefix}/{3 * k}.W": (c["ngf"], c["nc"], 4, 4)}
    else:
        width = c["ndf"] * 2 ** (k - 1)
        expected = {f"{prefix}/0.W": (c["ndf"], c["nc"], 4, 4), f"{prefix}/{3 * k - 1}.W": (1, width, 4, 4),
                    **{f"{prefix}/projection.E{a}": (n, width) for a, n in enumerate(num_classes)}}
        if config.get("auxiliary"):
            expected[f"{prefix}/classifier.W"] = (sum(num_classes), width)
    for key, shape in expected.items():
        got = arrays.get(key)
        if got is None or tuple(got.shape) != shape:
            found = "missing" if got is None else f"got {tuple(got.shape)}"
            model = {"G": "Generator", "D": "Discriminator"}[base]
            raise CheckpointError(f"{source} does not fit this {model} of its own configuration models.{prefix} = "
                                  f"{config} (a checkpoint of another model, or edited metadata?): "
                                  f"{key}: expected shape {shape}, {found}")
    return c


def model_arrays(prefix: str, model) -> dict[str, np.ndarray]:
    """``{"<prefix>/<name>": array}`` for every parameter and buffer of ``model``."""
    return {f"{prefix}/{name}": value for name, value in model.state_dict().items()}


def load_model_arrays(model, arrays: dict, prefix: str, source="checkpoint") -> None:
    """Load ``model``'s state from the ``prefix/`` entries of ``arrays``.

    Raises :class:`~minigan.errors.CheckpointError` naming every missing, unexpected,
    mis-shaped or non-numeric tensor (a checkpoint of another architecture, or a damaged one).
    """
    state = {name[len(prefix) + 1:]: value for name, value in arrays.items() if name.startswith(prefix + "/")}
    if not state:
        raise CheckpointError(f"{source} holds no {prefix!r} model")
    not_float = sorted(k for k, v in state.items() if getattr(v, "dtype", np.dtype(object)).kind != "f")
    if not_float:
        raise CheckpointError(f"{source}: {prefix} tensors {_name_some(not_float)} are not floating-point arrays")
    try:
        model.load_state_dict(state)
    except ValueError as exc:
        raise CheckpointError(f"{source} does not fit this {type(model).__name__} "
                              f"(a checkpoint of another model?): {exc}") from exc


def _check_labels(prefix: str, config: dict, source) -> tuple[int, ...]:
    """The class counts of a conditional model's saved ``attributes`` and ``vocab`` (``()`` when
    it has none); CheckpointError when they are damaged."""
    if "attributes" not in config and "vocab" not in config:
        return ()
    attributes, vocab = config.get("attributes"), config.get("vocab")
    bad = f"{source}: damaged metadata (models.{prefix}"
    if (not isinstance(attributes, list) or not 1 <= len(attributes) <= 32 or len(set(map(str, attributes))) != len(attributes)
            or not all(isinstance(a, str) and a for a in attributes)):
        raise CheckpointError(f"{bad}.attributes should be a list of distinct label names)")
    if not isinstance(vocab, dict) or sorted(vocab) != sorted(attributes):
        raise CheckpointError(f"{bad}.vocab should name the values of exactly its attributes)")
    for name in attributes:
        values = vocab[name]
        if not isinstance(values, list) or not 2 <= len(values) <= 10_000 or not all(isinstance(v, str) for v in values):
            raise CheckpointError(f"{bad}.vocab.{name} should be a list of 2 or more value names)")
    return tuple(len(vocab[name]) for name in attributes)


def _build_model(arrays: dict, meta: dict, prefix: str, build, path):
    """The model ``prefix`` of a loaded checkpoint, checked and built."""
    models = meta.get("models", {})
    config = models.get(prefix) if isinstance(models, dict) else None
    if config is None:
        if meta.get("kind") == "generator":
            raise CheckpointError(f"{path} holds a generator only (a compact model such as the bundled one): "
                                  f"this needs the {prefix!r} model of a run's checkpoint")
        raise CheckpointError(f"{path} holds no {prefix!r} model (a {meta.get('kind', 'unknown')!r} checkpoint)")
    check_model_config(prefix, config, arrays, path)
    if "attributes" in config:  # a conditional model (minigan.models.conditional)
        build = {Generator: ConditionalGenerator, Discriminator: ProjectionDiscriminator}[build]
    model = build(**config)
    load_model_arrays(model, arrays, prefix, source=str(path))
    return model


def load_generator(path, device: str = "cpu", raw: bool = False):
    """The generator of a checkpoint (or run folder), in eval mode on ``device``; returns ``(G, meta)``.

    A checkpoint of a run that kept a moving average of G's weights (``G_ema``) gives that
    average, the generator to sample from; ``raw=True`` gives the trained G instead. Checkpoints
    without an average (``--ema-half-life 0``, or written before it existed) give G either way.
    ``meta["generator"]`` says which was loaded: ``"G_ema"`` or ``"G"``.
    """
    arrays, meta = load_checkpoint(path)
    models = meta.get("models", {})
    prefix = "G_ema" if not raw and isinstance(models, dict) and "G_ema" in models else "G"
    G = _build_model(arrays, meta, prefix, Generator, path)
    meta["generator"] = prefix
    return G.eval().to(device), meta


def load_discriminator(path, device: str = "cpu"):
    """The discriminator of a checkpoint, in eval mode on ``device``; returns ``(D, meta)``."""
    arrays, meta = load_checkpoint(path)
    D = _build_model(arrays, meta, "D", Discriminator, path)
    return D.eval().to(device), meta
