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
- Unreadable or corrupt files are skipped with one warning that counts them and names the first
  few; images over Pillow's decompression-bomb limit are skipped with a warning too. A missing
  folder, or one with no readable image, raises :class:`minigan.errors.DatasetError`.
- The decoded icons are cached as ``.npz`` in the user cache folder (never in your folder), keyed
  by the folder's path and its files' relative paths, sizes and modification times: change, add
  or remove a file and the folder is read again.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .dataset import ImageDataset, cache_dir, load_dataset_npz, save_dataset_npz
from ..errors import DatasetError

__all__ = ["EXTENSIONS", "load_folder", "list_images", "folder_cache_path", "read_icon"]

#: File extensions read (lower case).
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
#: Images with more pixels than this are skipped (Pillow's decompression-bomb limit by default).
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
#: Bump when the decoding changes: it is part of the cache key.
FOLDER_VERSION = 1
_NAMED = 5  # how many skipped files a warning names


def list_images(folder) -> list[Path]:
    """The image files below ``folder`` (by extension, case-insensitive), sorted by their path
    relative to ``folder``. Hidden files and folders (names starting with a dot) are left out."""
    root = Path(folder)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(EXTENSIONS):
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _fingerprint(root: Path, files: list[Path], size: int, background) -> str:
    """sha256 over the folder path, each file's relative path, size and mtime, and the options."""
    h = hashlib.sha256()
    h.update(json.dumps([FOLDER_VERSION, str(root.resolve()), size, list(background)]).encode())
    for path in files:
        st = path.stat()
        h.update(f"\n{path.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}".encode())
    return h.hexdigest()


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


def _skipped_message(kind: str, skipped: list[tuple[str, str]], folder) -> str:
    named = "; ".join(f"{p} ({why})" for p, why in skipped[:_NAMED])
    more = f"; and {len(skipped) - _NAMED} more" if len(skipped) > _NAMED else ""
    return f"skipped {len(skipped)} {kind} file{'s' if len(skipped) != 1 else ''} in {folder}: {named}{more}"


def load_folder(folder, size: int = 64, background=(255, 255, 255), cache: bool = True) -> ImageDataset:
    """Every image below ``folder`` as an :class:`ImageDataset` of ``(N, size, size, 3)`` uint8.

    Args:
        folder: the folder to read (recursively).
        size: the side of the square icons.
        background: RGB colour transparent pixels are composited onto.
        cache: read and write the decoded icons in the user cache folder (see the module doc).

    Labels: ``"folder"`` (the subfolder of each image) when any image is in a subfolder.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise DatasetError(f"image folder {str(folder)!r} does not exist")
    if not root.is_dir():
        raise DatasetError(f"{str(folder)!r} is not a folder (give a folder of images, or 'idols')")
    files = list_images(root)
    wanted = ", ".join(EXTENSIONS)
    if not files:
        raise DatasetError(f"no images found in {root} (looked for {wanted}, in subfolders too)")
    background = tuple(int(v) for v in background)
    path = None
    if cache:
        path = folder_cache_path(_fingerprint(root, files, size, background))
        if path.exists():
            try:
                ds, _ = load_dataset_npz(path)
                return ds
            except DatasetError:
                pass  # damaged cache: read the folder again
    images, rel_dirs, bad, large = [], [], [], []
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
    if large:
        warnings.warn(_skipped_message(f"oversized (over {MAX_PIXELS:,} pixels)", large, root), stacklevel=2)
    if bad:
        warnings.warn(_skipped_message("unreadable", bad, root), stacklevel=2)
    if not images:
        raise DatasetError(f"no readable images in {root} ({len(files)} file(s) with extensions {wanted} "
                           "could not be read)")
    labels, vocab = {}, {}
    if any(d != "." for d in rel_dirs):
        vocab["folder"] = sorted(set(rel_dirs))
        index = {d: i for i, d in enumerate(vocab["folder"])}
        labels["folder"] = np.array([index[d] for d in rel_dirs], np.int64)  # (N,)
    ds = ImageDataset(np.stack(images), labels, vocab, source=str(root))  # images (N, size, size, 3)
    if cache:
        save_dataset_npz(path, ds, meta={"folder": str(root.resolve()), "files": len(files),
                                         "skipped": len(bad) + len(large)})
        ds.cache_path = path
    return ds
