"""What the commands share: one help style, and the arguments that several commands take.

* :class:`HelpFormatter` prints every default the same way, ``(default: X)``, so a help text
  states a default only when it needs words ("the one the model was trained with").
* :func:`add_generator_arguments` / :func:`load_generator`: ``--checkpoint``, ``--device``,
  ``--noise``, taken by every command that draws idols.
* :func:`add_idol_arguments` / :func:`named_idols`: ``--idols`` (numbers on the grid of
  ``--seed``) or ``--seeds`` (one idol per seed), wherever idols are drawn.
* :func:`parse_ints`, :func:`parse_floats`, :func:`attach_number_lists`: comma-separated number
  lists such as ``--strengths -1.5,0,1.5``.

``--out`` means one thing everywhere (:func:`output_path`): a file whose suffix says its form
(``.png``, ``.npz``), or a folder (a name without a suffix), where the command writes its file
under its usual name.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

import numpy as np

from ..backend import get_cupy, normalize_device
from ..checkpoint import FORMAT as CHECKPOINT_FORMAT
from ..checkpoint import load_generator as load_checkpoint_generator
from ..conditioning import draw_labels, parse_label_set
from ..errors import MiniganError
from ..latent import idol_noise, seed_noise
from ..sampling import NOISE_KINDS

__all__ = ["ArgumentParser", "HelpFormatter", "make_parser", "output_path", "output_folder", "add_force", "checkpoint_kind", "made",
           "IMAGE_SUFFIXES", "whole", "real", "SEED", "MAX_IDOLS", "add_generator_arguments", "load_generator", "add_seed",
           "add_idol_arguments", "named_idols", "require_device", "parse_ints", "parse_floats", "attach_number_lists", "flag"]


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter with ``(default: X)`` added to every option that has a default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or action.default in (None, argparse.SUPPRESS) or not action.option_strings
                or action.nargs == 0):  # a switch (store_true, store_const): its help says what it does
            return text
        return f"{text} (default: %(default)s)"


# -- numbers, checked at the edge ----------------------------------------------------------------------

#: The largest idol number or count a command accepts: noise is drawn row by row, so idol
#: 100,000 costs 100,001 rows (40 MB at nz = 100); far larger numbers would exhaust memory.
MAX_IDOLS = 100_000


def whole(low: int, high: int | None = None):
    """An argparse ``type``: a whole number in ``[low, high]``; the message names the range."""
    span = f"from {low:,} to {high:,}" if high is not None else f"at least {low:,}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (use one {span})") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range: use a whole number {span}")
        return value

    parse.__name__ = "whole number"
    return parse


def real(low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False):
    """An argparse ``type``: a finite number in the interval ``low..high`` (open ends where
    asked); NaN and infinities are refused, with the interval in the message."""
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    span = (f"in {left}{low:g}, {high:g}{right}" if low is not None and high is not None
            else f"{'above' if low_open else 'at least'} {low:g}" if low is not None
            else f"{'below' if high_open else 'at most'} {high:g}" if high is not None else "finite")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number (use one {span})") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number (use one {span})")
        if low is not None and (value < low or (low_open and value == low)):
            raise argparse.ArgumentTypeError(f"{value:g} is out of range: use a number {span}")
        if high is not None and (value > high or (high_open and value == high)):
            raise argparse.ArgumentTypeError(f"{value:g} is out of range: use a number {span}")
        return value

    parse.__name__ = "number"
    return parse


#: A seed: NumPy's generators take any whole number from 0 up.
SEED = whole(0, 2**63 - 1)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a wrong argument is one line on stderr, like every other error of
    a command (``minigan sample: error: argument --n: ...``), instead of the usage and the error."""

    def error(self, message):
        self.exit(2, f"{self.prog.replace('python -m ', '')}: error: {message} (see --help)\n")


def make_parser(command: str, description: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``python -m minigan COMMAND``, in the shared help style."""
    return ArgumentParser(prog=prog or f"python -m minigan {command}", description=description,
                          formatter_class=HelpFormatter)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def add_force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true",
                        help="write --out even where it would replace a checkpoint or a folder of other files")


def checkpoint_kind(path) -> str | None:
    """The kind of minigan checkpoint at ``path`` ("training", "gan-weights", "classifier"...),
    or None when it is not one (reads only the metadata)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"])) if "__meta__" in data.files else None
    except Exception:  # not an .npz, damaged, not JSON: not a checkpoint either way  # noqa: BLE001
        return None
    return str(meta.get("kind", "checkpoint")) if isinstance(meta, dict) and meta.get("format") == CHECKPOINT_FORMAT else None


def _check_writable(path: Path, force: bool) -> None:
    """Refuse, before any work, to write where the file cannot be written or would replace a
    checkpoint (unless ``force``)."""
    if path.is_dir():
        raise MiniganError(f"--out {path} is a folder, not a file")
    kind = checkpoint_kind(path)
    if kind and not force:
        raise MiniganError(f"--out {path} is a minigan checkpoint ({kind}); writing there would replace it. "
                           "Choose another file, or add --force")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the first folder that exists must take new files
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise MiniganError(f"--out {path}: cannot write there (permission denied or not a folder)")


def output_path(out, default_name: str, suffixes=IMAGE_SUFFIXES, force: bool = False) -> Path:
    """Where a command that writes one file writes it: ``out`` itself when its suffix is one of
    ``suffixes``, ``out/default_name`` when ``out`` has no suffix (a folder; :func:`made` makes it).
    Raises MiniganError naming the allowed forms for any other suffix, and (see
    :func:`_check_writable`) where the file cannot or should not be written."""
    out = Path(default_name if out is None else out)
    if out.suffix.lower() in suffixes and not out.is_dir():
        path = out
    elif not out.suffix or out.is_dir():
        path = out / default_name
    else:
        raise MiniganError(f"--out {out}: write a {' or '.join(suffixes)} file, or a folder (a name without a suffix)")
    _check_writable(path, force)
    return path


def made(path: Path) -> Path:
    """``path``, with its folder made: called when the command writes, so that a command that
    stops with an error before then leaves no empty folders behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def output_folder(out, force: bool = False, ours=lambda p: False) -> Path:
    """A folder a command fills with files: refused where it is a file, a run of ``train``, or a
    folder holding files that ``ours`` does not recognise as this command's (unless ``force``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MiniganError(f"--out {out} is a file, not a folder")
    if out.is_dir() and not force:
        if (out / "checkpoints" / "last.npz").exists() or (out / "config.json").exists():
            raise MiniganError(f"--out {out} is a training run; choose another folder, or add --force")
        others = [p.name for p in out.iterdir() if not ours(p)]
        if others:
            raise MiniganError(f"--out {out} holds other files ({', '.join(sorted(others)[:3])}"
                               f"{', ...' if len(others) > 3 else ''}); choose a new folder, or add --force")
    _check_writable(out / ".minigan-probe", force=True)
    return out


def flag(argument: str) -> str:
    """``"lr_g"`` -> ``"--lr-g"``: the option that sets a library argument."""
    return "--" + argument.replace("_", "-")


# -- the generator --------------------------------------------------------------------------------


def add_generator_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint``, ``--device``, ``--noise`` and ``--raw``: what every command that draws idols takes."""
    parser.add_argument("--checkpoint", required=True,
                        help="a checkpoint .npz, a run folder (uses its checkpoints/last.npz), or 'pretrained' "
                             "(the model that ships with minigan)")
    parser.add_argument("--device", default="cpu", help="cpu or gpu")
    parser.add_argument("--noise", choices=NOISE_KINDS, default=None,
                        help="noise distribution (default: the one the model was trained with)")
    parser.add_argument("--raw", action="store_true",
                        help="draw from the trained generator itself, not from the moving average of its "
                             "weights that the run kept (what every command draws from by default)")


def require_device(device: str) -> str:
    """``"cpu"`` or ``"gpu"``; for the GPU, check now that CuPy reaches one (the install hint,
    before any file is read or written)."""
    device = normalize_device(device)
    if device == "gpu":
        get_cupy()
    return device


def load_generator(args):
    """``(G, meta, noise kind)`` for the options of :func:`add_generator_arguments`."""
    G, meta = load_checkpoint_generator(args.checkpoint, normalize_device(args.device), raw=args.raw)
    return G, meta, args.noise or meta.get("config", {}).get("noise", "gaussian")


def add_seed(parser: argparse.ArgumentParser, help: str = "seed of the noise: the same seed gives the same idols") -> None:
    parser.add_argument("--seed", type=SEED, default=0, help=help)


# -- naming idols -----------------------------------------------------------------------------------


def add_idol_arguments(parser: argparse.ArgumentParser, idols_help: str, default_help: str) -> None:
    """``--idols`` (numbers on the numbered grid of ``--seed``), ``--seeds`` and ``--seed``."""
    parser.add_argument("--idols", default=None, help=f"{idols_help} ({default_help})")
    parser.add_argument("--seeds", default=None, help="one idol per seed instead: the first idol of "
                                                      "`sample --seed S` for each S, e.g. 5,9")
    add_seed(parser, "the numbered grid that --idols refers to (`sample --numbered --seed S`)")


def named_idols(args, nz: int, kind: str, default_indices) -> tuple[np.ndarray, list[str]]:
    """``(z (N, nz), labels)`` from ``--idols`` (grid numbers of ``--seed``) or ``--seeds``."""
    if args.idols and args.seeds:
        raise MiniganError("give --idols (numbers on the grid of --seed) or --seeds (one idol per seed), not both")
    if args.seeds:
        seeds = parse_ints(args.seeds, "--seeds", high=2**63 - 1)
        return seed_noise(nz, seeds, kind), [f"seed {s}" for s in seeds]
    indices = parse_ints(args.idols, "--idols") if args.idols else list(default_indices)
    return idol_noise(nz, indices, args.seed, kind), [f"#{i}" for i in indices]


# -- number lists -----------------------------------------------------------------------------------


def _parse_list(text: str, what: str, convert, kind: str, example: str) -> list:
    """A comma-separated list of ``convert``-ed values; MiniganError naming the option otherwise."""
    try:
        values = [convert(s) for s in str(text).replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise MiniganError(f"{what} takes {kind} separated by commas, e.g. {example} (got {text!r})") from None
    if not values:
        raise MiniganError(f"{what} is empty")
    return values


def parse_ints(text: str, what: str, low: int = 0, high: int = MAX_IDOLS) -> list[int]:
    """``"3,17,22"`` -> ``[3, 17, 22]``, each in ``[low, high]``; MiniganError naming the option
    otherwise."""
    values = _parse_list(text, what, int, "whole numbers", "3,17,22")
    bad = [v for v in values if not low <= v <= high]
    if bad:
        raise MiniganError(f"{what} takes whole numbers from {low:,} to {high:,} (got {bad[0]})")
    return values


def parse_floats(text: str, what: str, finite: bool = True) -> list[float]:
    """``"-1.5,0,1.5"`` -> ``[-1.5, 0.0, 1.5]``; MiniganError naming the option otherwise (also
    for NaN and infinities, unless ``finite`` is False)."""
    values = _parse_list(text, what, float, "numbers", "-1.5,0,1.5")
    if finite and not all(math.isfinite(v) for v in values):
        raise MiniganError(f"{what} takes finite numbers (got {text!r})")
    return values


def attach_number_lists(argv, options=("--strengths",)) -> list[str]:
    """Let ``--strengths -1.5,0,1.5`` through argparse, which takes a value that starts with a
    dash for an option: a number list after one of ``options`` is joined to it with ``=``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out, i = [], 0
    while i < len(argv):
        if argv[i] in options and i + 1 < len(argv) and _NUMBER_LIST.fullmatch(argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


_NUMBER_LIST = re.compile(r"\s*-?[\d.]+(e-?\d+)?(\s*,\s*-?[\d.]+(e-?\d+)?)*\s*")


# -- conditional models ------------------------------------------------------------------------------


def is_conditional(G) -> bool:
    """Whether ``G`` takes labels with its noise (``train --condition``)."""
    return hasattr(G, "attributes")


def noise_size(G) -> int:
    """The length of ``G``'s noise (for a conditional model, without the labels' one-hots)."""
    return getattr(G, "noise_size", G.nz)


def add_label_argument(parser: argparse.ArgumentParser) -> None:
    """``--set LABEL=VALUE,...``: what a conditional model draws."""
    parser.add_argument("--set", default=None, metavar="LABEL=VALUE,...",
                        help="for a model trained with --condition: the labels to draw, e.g. "
                             "hair_color=blond,hair_style=bob (the others are drawn as the training data mixes "
                             "them); an unconditional model has none")


def with_labels(args, G, meta, z):
    """``(generator input, labels or None)`` for noise ``z``: a conditional model gets the labels
    of ``--set`` and the others drawn as its data mixes them (seeded by ``--seed``); an
    unconditional one gets ``z`` and refuses ``--set``."""
    text = getattr(args, "set", None)
    if not is_conditional(G):
        if text:
            raise MiniganError(f"--set {text}: {args.checkpoint} is an unconditional DCGAN (the blog's): it takes no "
                               "labels. Train one with  python -m minigan train --condition hair_color,...  or "
                               "steer this one with attribute vectors (minigan vector, minigan edit)", argument="set")
        return z, None
    labels = seeded_labels(args, G, meta, len(z), parse_label_set(text or "", G.attributes, G.vocab))
    return G.inputs(z, labels), labels


def seeded_labels(args, G, meta, n: int, chosen=None):
    """``(n, A)`` labels for a conditional model's idols: ``chosen`` ones fixed, the others drawn as
    its training data mixes them, from a generator seeded by ``--seed`` (so idol i of seed S has the
    same labels in every command)."""
    return draw_labels(np.random.default_rng([args.seed, 1]), n, chosen or {}, meta.get("labels"), G.num_classes)


def refuse_conditional(G, args, what: str) -> None:
    """MiniganError for a conditional model in a command made for the unconditional DCGAN."""
    if is_conditional(G):
        raise MiniganError(f"{args.checkpoint} is a conditional model (trained with --condition "
                           f"{','.join(G.attributes)}): {what}")


def label_names(G, labels) -> list[str]:
    """``"blond, bob, red"`` per row of ``labels``: the values, in the model's attribute order."""
    return [", ".join(G.vocab[a][int(v)] for a, v in zip(G.attributes, row)) for row in labels]
