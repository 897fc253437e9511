"""Your own images: every picture below a folder, as 64x64 RGB icons.

::

    ds = load_folder("path/to/icons")     # ImageDataset; ds.images (N, 64, 64, 3) uint8

- Reads PNG, JPEG, WebP, BMP and GIF (the first frame) files in the folder and all its
  subfolders, in sorted order of their relative paths.
- Transparency is composited onto a background colour (white unless told otherwise);
  greyscale, palette, CMYK and 16-bit images are converted to RGB; the camera's EXIF rotation is
  applied; non-square images are centre-cropped to a square, then resized to 64x64 with LANCZOS.
- When some images sit in subfolders, the subfolder (its path relative to the folder, e.g.
  ``"haruka"``; ``"."`` for files at the top) becomes the label ``"folder"``: one subfolder per
  character gives character labels.
- A ``labels.csv`` at the top of the folder gives labels of your own (what ``train --condition``
  conditions on): a header row, ``file`` then one column per label, and one row per image, its
  path relative to the folder, then its values::

      file,hair_color,eye_color
      haruka/001.png,brown,green
      chihaya/001.png,blue,blue

  Every image needs a row and every row an image; a missing value, a file named twice, a row
  of the wrong length or a label called ``folder`` is a :class:`~minigan.errors.DatasetError`
  naming the line. (Rows of images that are skipped as unreadable are ignored.)
- Unreadable or corrupt files are skipped with one warning that counts them and names the first
  few; images over Pillow's decompression-bomb limit are skipped with a warning too. What cannot
  be an image file at all (a broken symbolic link, a symbolic link loop, a name that is not valid
  UTF-8, a subfolder that cannot be read, a symbolic link to a folder, which is not followed) is
  skipped with one warning as well. A missing folder, or one with no readable image, raises
  :class:`minigan.errors.DatasetError`.
- The decoded icons are cached as ``.npz`` in the user cache folder (never in your folder), keyed
  by content: the sha256 of every image file's bytes and its relative path (and the decoding
  options). Change, add, remove or rename a file and the folder is read again; touching a file
  or copying the folder elsewhere does not. A cache file that is damaged or was changed (its own
  sha256 no longer matches) is read around and rebuilt, with a warning.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import posixpath
import stat
import unicodedata
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .dataset import ImageDataset, cache_dir, load_dataset_npz, save_dataset_npz
from ..errors import DatasetError, MiniganError

__all__ = ["EXTENSIONS", "LABELS_FILE", "load_folder", "list_images", "scan_images", "folder_cache_path", "read_icon",
           "read_labels_csv"]

#: File extensions read (lower case).
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
#: Images with more pixels than this are skipped (Pillow's decompression-bomb limit by default).
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
#: Bump when the decoding (or the cache key) changes: it is part of the cache key.
FOLDER_VERSION = 3
#: The file of labels beside the images (see the module docstring).
LABELS_FILE = "labels.csv"
_NAMED = 5  # how many skipped files a warning names


def list_images(folder) -> list[Path]:
    """The image files below ``folder`` (by extension, case-insensitive), sorted by their path
    relative to ``folder``. Hidden files and folders (names starting with a dot) are left out, and
    so is everything :func:`scan_images` skips (broken links, link loops, non-UTF-8 names...)."""
    return scan_images(folder)[0]


def _display(name: str) -> str:
    """A path for a message, even when it is not valid UTF-8 (undecodable bytes as ``\\xNN``)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def scan_images(folder) -> tuple[list[Path], list[tuple[str, str]]]:
    """``(image files, skipped)`` below ``folder``: the files as :func:`list_images` returns them,
    and ``(relative path, why)`` for every entry that looks like an image or a subfolder but
    cannot be used: a broken symbolic link, a symbolic link loop, a file name that is not valid
    UTF-8, a subfolder that cannot be read, a symbolic link to a folder (not followed), or
    something that is not a regular file."""
    root = Path(folder)
    found, skipped = [], []

    def rel(path) -> str:
        return _display(os.path.relpath(path, root))

    def walk_error(exc: OSError):
        if os.path.abspath(exc.filename or root) == os.path.abspath(root):
            raise DatasetError(f"cannot read the image folder {root}: {exc.strerror or exc}")
        skipped.append((rel(exc.filename) + "/", f"folder cannot be read: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=walk_error):
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            path = os.path.join(dirpath, d)
            if not _utf8(d):
                skipped.append((rel(path) + "/", "folder name is not valid UTF-8"))
            elif os.path.islink(path):
                skipped.append((rel(path) + "/", "symbolic link to a folder, not followed"))
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith(EXTENSIONS):
                continue
            path = os.path.join(dirpath, name)
            if not _utf8(name):
                skipped.append((rel(path), "file name is not valid UTF-8"))
                continue
            try:
                st = os.stat(path)  # follows symbolic links
            except OSError as exc:
                if os.path.islink(path):
                    why = "symbolic link loop" if exc.errno == errno.ELOOP else "broken symbolic link"
                else:
                    why = exc.strerror or exc.__class__.__name__
                skipped.append((rel(path), why))
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append((rel(path), "not a regular file"))
                continue
            found.append(Path(path))
    found.sort(key=lambda p: p.relative_to(root).as_posix())
    return found, skipped


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")  # os.walk decodes undecodable bytes as lone surrogates, which fail here
    except UnicodeEncodeError:
        return False
    return True


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _fingerprint(root: Path, files: list[Path], size: int, background) -> tuple[str, list[tuple[str, str]]]:
    """``(cache key, unreadable)``: sha256 over the decoding options and each file's relative
    path and sha256 (so the key follows content, not mtimes); files that cannot be opened for
    reading are left out and returned as ``(relative path, why)``."""
    h = hashlib.sha256()
    h.update(json.dumps([FOLDER_VERSION, size, list(background)]).encode())
    csv_path = root / LABELS_FILE
    if csv_path.is_file():  # the labels are part of what is cached: edit them and the folder is read again
        try:
            h.update(f"\n{LABELS_FILE}\t{_file_sha256(csv_path)}".encode())
        except OSError as exc:
            raise DatasetError(f"cannot read {csv_path}: {exc.strerror or exc}") from exc
    unreadable = []
    for path in files:
        name = path.relative_to(root).as_posix()
        try:
            digest = _file_sha256(path)
        except OSError as exc:
            unreadable.append((name, exc.strerror or exc.__class__.__name__))
            continue
        h.update(f"\n{name}\t{digest}".encode())
    return h.hexdigest(), unreadable


def folder_cache_path(fingerprint: str) -> Path:
    return cache_dir() / f"folder-{fingerprint[:24]}.npz"


def _to_rgb(im: Image.Image, background) -> Image.Image:
    """Any Pillow mode -> RGB, compositing transparency onto ``background``."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):  # 16/32-bit greyscale: rescale to 8 bits
        a = np.asarray(im, dtype=np.float64)
        hi = a.max() if a.size else 1.0
        scale = 255.0 / (65535.0 if hi > 255 and hi <= 65535 else max(hi, 1.0))
        im = Image.fromarray(np.clip(a * scale, 0, 255).astype(np.uint8), "L")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode in ("P", "L", "RGB") and "transparency" in im.info)
    if has_alpha:
        im = im.convert("RGBA")
        canvas = Image.new("RGBA", im.size, tuple(background) + (255,))
        return Image.alpha_composite(canvas, im).convert("RGB")
    return im.convert("RGB")


def read_icon(path, size: int = 64, background=(255, 255, 255)) -> np.ndarray:
    """Read one image file as a ``(size, size, 3)`` uint8 RGB icon (centre-cropped, LANCZOS).

    Raises the underlying exception (OSError, ValueError, Image.DecompressionBombError ...) when
    the file cannot be read; :class:`_TooLarge` when it has more than :data:`MAX_PIXELS` pixels.
    """
    with Image.open(path) as im:
        if im.width * im.height > MAX_PIXELS:
            raise _TooLarge(f"{im.width}x{im.height}")
        im.seek(0)  # GIF / WebP animations: the first frame
        if im.format == "JPEG":
            im.draft("RGB", (size * 2, size * 2))  # let the decoder shrink big JPEGs by 2^k
        im = ImageOps.exif_transpose(im)
        im.load()
        rgb = _to_rgb(im, background)
    w, h = rgb.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    rgb = rgb.crop((left, top, left + side, top + side))
    if side != size:
        rgb = rgb.resize((size, size), Image.LANCZOS, reducing_gap=3.0)
    return np.asarray(rgb, dtype=np.uint8)  # (size, size, 3)


class _TooLarge(Exception):
    pass


def _nfc(text: str) -> str:
    """One Unicode form for names and values (macOS file names are decomposed, typed text is not)."""
    return unicodedata.normalize("NFC", text)


def read_labels_csv(path, files: list[str], ignored=()) -> tuple[dict, dict]:
    """``(labels, vocab)`` for the images ``files`` (paths relative to the folder, in order) from
    the ``labels.csv`` at ``path``: ``labels[name]`` ``(N,)`` int64 indices into ``vocab[name]``,
    the sorted values. Rows for the ``ignored`` files (skipped images) are allowed and unused."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            rows = [(reader.line_num, [_nfc(cell.strip()) for cell in row]) for row in reader]  # (last line, cells)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    rows = [(line, row) for line, row in rows if any(row)]
    if not rows:
        raise DatasetError(f"{path} is empty: write a header row (file, then one column per label), then one row per image")
    (_, header), body = rows[0], rows[1:]
    while header and not header[-1]:  # a trailing comma, as spreadsheets export
        header = header[:-1]
    if not header or header[0].lower() != "file":
        raise DatasetError(f"{path}, line 1: the first row must be the header, 'file' then one column per label "
                           f"(file,hair_color,...), got {','.join(header)!r}")
    names = header[1:]
    if not names:
        raise DatasetError(f"{path}: the header {','.join(header)!r} names no label (file, then one column per label)")
    bad = [n for i, n in enumerate(names) if not n or n == "folder" or n in names[:i]]
    if bad:
        raise DatasetError(f"{path}, line 1: label names must be distinct and not empty, and 'folder' is the "
                           f"subfolders' own label; got {','.join(header)!r}")
    values = [[None] * len(files) for _ in names]
    files = [_nfc(f) for f in files]
    wanted = {name: i for i, name in enumerate(files)}
    ignored = {_nfc(f) for f in ignored}
    for line, cells in body:
        where = f"{path}, line {line}"
        if len(cells) > len(names) + 1 and not any(cells[len(names) + 1:]):  # trailing commas
            cells = cells[:len(names) + 1]
        if len(cells) != len(names) + 1:
            raise DatasetError(f"{where}: {len(cells)} values for {len(names) + 1} columns ({', '.join(['file', *names])})")
        name = posixpath.normpath(cells[0].replace("\\", "/"))  # ./a.png, a//b.png, Windows paths
        if name in ignored:
            continue
        if name not in wanted:
            raise DatasetError(f"{where}: {cells[0]!r} is not an image of the folder (paths are relative to the "
                               "folder that holds labels.csv)")
        index = wanted[name]
        if values[0][index] is not None:
            raise DatasetError(f"{where}: {cells[0]!r} has a row already")
        for a, value in enumerate(cells[1:]):
            if not value:
                raise DatasetError(f"{where}: {cells[0]!r} has no {names[a]} (every image needs every label)")
            values[a][index] = value
    missing = [f for f, v in zip(files, values[0]) if v is None]
    if missing:
        more = f" and {len(missing) - _NAMED} more" if len(missing) > _NAMED else ""
        raise DatasetError(f"{path} has no row for {len(missing)} of the {len(files)} images: "
                           f"{', '.join(missing[:_NAMED])}{more} (every image needs a row)")
    labels, vocab = {}, {}
    for name, column in zip(names, values):
        vocab[name] = sorted(set(column))
        index = {v: i for i, v in enumerate(vocab[name])}
        labels[name] = np.array([index[v] for v in column], np.int64)
    return labels, vocab


def _skipped_message(kind: str, skipped: list[tuple[str, str]], folder, noun=("file", "files")) -> str:
    named = "; ".join(f"{p} ({why})" for p, why in skipped[:_NAMED])
    more = f"; and {len(skipped) - _NAMED} more" if len(skipped) > _NAMED else ""
    return f"skipped {len(skipped)} {kind} {noun[len(skipped) != 1]} in {folder}: {named}{more}"


def load_folder(folder, size: int = 64, background=(255, 255, 255), cache: bool = True) -> ImageDataset:
    """Every image below ``folder`` as an :class:`ImageDataset` of ``(N, size, size, 3)`` uint8.

    Args:
        folder: the folder to read (recursively).
        size: the side of the square icons.
        background: RGB colour transparent pixels are composited onto.
        cache: read and write the decoded icons in the user cache folder (see the module doc).

    Labels: ``"folder"`` (the subfolder of each image) when any image is in a subfolder, and
    the columns of a ``labels.csv`` beside the images (:func:`read_labels_csv`).
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise DatasetError(f"image folder {str(folder)!r} does not exist")
    if not root.is_dir():
        raise DatasetError(f"{str(folder)!r} is not a folder (give a folder of images, or 'idols')")
    files, unusable = scan_images(root)
    if unusable:
        warnings.warn(_skipped_message("unusable", unusable, root, ("entry", "entries")), stacklevel=2)
    wanted, n_found = ", ".join(EXTENSIONS), len(files)
    if not files:
        raise DatasetError(f"no images found in {root} (looked for {wanted}, in subfolders too)")
    background = tuple(int(v) for v in background)
    path, key, bad, large = None, None, [], []
    if cache:
        key, bad = _fingerprint(root, files, size, background)
        path = folder_cache_path(key)
        if path.exists():
            try:
                ds, meta = load_dataset_npz(path, require_checksum=True)
                if meta.get("key") != key:
                    raise DatasetError(f"{path} is the cache of other files")
                if bad:
                    warnings.warn(_skipped_message("unreadable", bad, root), stacklevel=2)
                ds.source, ds.cache_path = str(root), path  # the key is the content: the folder may have moved
                return ds
            except DatasetError as exc:  # damaged or changed: read the folder again, and rewrite the cache
                warnings.warn(f"the cache {path} of {root} cannot be used ({exc}); reading the folder again",
                              stacklevel=2)
        unreadable = {name for name, _ in bad}
        files = [f for f in files if f.relative_to(root).as_posix() not in unreadable]
    images, rel_dirs, rel_files = [], [], []
    for file in files:
        rel = file.relative_to(root)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                images.append(read_icon(file, size, background))
        except (_TooLarge, Image.DecompressionBombError) as exc:
            large.append((rel.as_posix(), str(exc) or "too large"))
            continue
        except Exception as exc:  # noqa: BLE001 (any decoder failure means: skip this file)
            bad.append((rel.as_posix(), exc.__class__.__name__))
            continue
        rel_dirs.append(rel.parent.as_posix())
        rel_files.append(rel.as_posix())
    if large:
        warnings.warn(_skipped_message(f"oversized (over {MAX_PIXELS:,} pixels)", large, root), stacklevel=2)
    if bad:
        warnings.warn(_skipped_message("unreadable", bad, root), stacklevel=2)
    if not images:
        raise DatasetError(f"no readable images in {root} ({n_found} file(s) with "
                           f"extensions {wanted} could not be read)")
    labels, vocab = {}, {}
    if any(d != "." for d in rel_dirs):
        vocab["folder"] = sorted(set(rel_dirs))
        index = {d: i for i, d in enumerate(vocab["folder"])}
        labels["folder"] = np.array([index[d] for d in rel_dirs], np.int64)  # (N,)
    if (root / LABELS_FILE).is_file():
        skipped = [name for name, _ in bad + large]
        own, own_vocab = read_labels_csv(root / LABELS_FILE, rel_files, ignored=skipped)
        labels.update(own)
        vocab.update(own_vocab)
    ds = ImageDataset(np.stack(images), labels, vocab, source=str(root))  # images (N, size, size, 3)
    if cache:
        try:
            save_dataset_npz(path, ds, meta={"key": key, "folder": str(root.resolve()), "files": len(files),
                                             "skipped": len(bad) + len(large)})
            ds.cache_path = path
        except MiniganError as exc:  # a cache is a convenience: a full disk must not stop the work
            warnings.warn(f"could not write the cache of {root}: {exc}", stacklevel=2)
    return ds
