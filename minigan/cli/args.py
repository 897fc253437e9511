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
import re
import sys
from pathlib import Path

import numpy as np

from ..backend import normalize_device
from ..checkpoint import load_generator as load_checkpoint_generator
from ..errors import MiniganError
from ..latent import idol_noise, seed_noise
from ..sampling import NOISE_KINDS

__all__ = ["HelpFormatter", "make_parser", "output_path", "IMAGE_SUFFIXES", "add_generator_arguments", "load_generator", "add_seed",
           "add_idol_arguments", "named_idols", "parse_ints", "parse_floats", "attach_number_lists", "flag"]


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter with ``(default: X)`` added to every option that has a default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or action.default in (None, argparse.SUPPRESS) or not action.option_strings
                or action.nargs == 0):  # a switch (store_true, store_const): its help says what it does
            return text
        return f"{text} (default: %(default)s)"


def make_parser(command: str, description: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``python -m minigan COMMAND``, in the shared help style."""
    return argparse.ArgumentParser(prog=prog or f"python -m minigan {command}", description=description,
                                   formatter_class=HelpFormatter)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def output_path(out, default_name: str, suffixes=IMAGE_SUFFIXES) -> Path:
    """Where a command that writes one file writes it: ``out`` itself when its suffix is one of
    ``suffixes``, ``out/default_name`` when ``out`` has no suffix (a folder, made if needed).
    Raises MiniganError naming the allowed forms for any other suffix."""
    out = Path(default_name if out is None else out)
    if out.suffix.lower() in suffixes:
        path = out
    elif not out.suffix or out.is_dir():
        path = out / default_name
    else:
        raise MiniganError(f"--out {out}: write a {' or '.join(suffixes)} file, or a folder (a name without a suffix)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def flag(argument: str) -> str:
    """``"lr_g"`` -> ``"--lr-g"``: the option that sets a library argument."""
    return "--" + argument.replace("_", "-")


# -- the generator --------------------------------------------------------------------------------


def add_generator_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint``, ``--device`` and ``--noise``: what every command that draws idols takes."""
    parser.add_argument("--checkpoint", required=True,
                        help="a checkpoint .npz, or a run folder (uses its checkpoints/last.npz)")
    parser.add_argument("--device", default="cpu", help="cpu or gpu")
    parser.add_argument("--noise", choices=NOISE_KINDS, default=None,
                        help="noise distribution (default: the one the model was trained with)")


def load_generator(args):
    """``(G, meta, noise kind)`` for the options of :func:`add_generator_arguments`."""
    G, meta = load_checkpoint_generator(args.checkpoint, normalize_device(args.device))
    return G, meta, args.noise or meta.get("config", {}).get("noise", "gaussian")


def add_seed(parser: argparse.ArgumentParser, help: str = "seed of the noise: the same seed gives the same idols") -> None:
    parser.add_argument("--seed", type=int, default=0, help=help)


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
        seeds = parse_ints(args.seeds, "--seeds")
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


def parse_ints(text: str, what: str) -> list[int]:
    """``"3,17,22"`` -> ``[3, 17, 22]``; MiniganError naming the option otherwise."""
    return _parse_list(text, what, int, "whole numbers", "3,17,22")


def parse_floats(text: str, what: str) -> list[float]:
    """``"-1.5,0,1.5"`` -> ``[-1.5, 0.0, 1.5]``; MiniganError naming the option otherwise."""
    return _parse_list(text, what, float, "numbers", "-1.5,0,1.5")


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
