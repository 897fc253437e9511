"""``python -m minigan train``: one option per :class:`~minigan.train.TrainConfig` field."""

from __future__ import annotations

import argparse
import dataclasses

from ..errors import MiniganError
from ..train import TrainConfig, Trainer
from .args import make_parser

__all__ = ["main", "build_parser", "config_from_args"]


def build_parser(prog: str = "python -m minigan train", description: str | None = None) -> argparse.ArgumentParser:
    """An argument parser with one option per :class:`TrainConfig` field (default: None = unset)."""
    parser = make_parser(
        "train", prog=prog,
        description=description or "Train the DCGAN on the built-in idol set (or --data DIR). Outputs go "
                                   "to OUT/NAME: sample grids per epoch, progress.gif, losses.png, "
                                   "fooled.png, checkpoints.")
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(flag, type=type(getattr(defaults, f.name)), default=None,
                            help=f.metadata.get("help", "") + f" (default: {getattr(defaults, f.name)})",
                            metavar=f.name.upper())
    parser.add_argument("--force", action="store_true",
                        help="start a new run in OUT/NAME even where that folder holds a run or other files "
                             "(they are replaced)")
    parser.add_argument("--resume", metavar="RUN", default=None,
                        help="continue the run in this folder (or checkpoint) exactly where it stopped; "
                             "--epochs and --device may be changed, nothing else")
    return parser


def config_from_args(args) -> tuple[TrainConfig, dict]:
    """``(config, overrides)`` from parsed arguments: options given on the command line."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None}
    if args.resume:
        changing = sorted(set(given) - {"epochs", "device"})
        if changing:
            raise MiniganError("when resuming, only --epochs and --device can change; remove "
                               + ", ".join("--" + k.replace("_", "-") for k in changing))
        return TrainConfig(), given
    return TrainConfig(**given), {}


def main(argv=None, prog: str = "python -m minigan train", description: str | None = None) -> int:
    """``python -m minigan train`` (and ``examples/train_idols.py``, with its own ``prog``)."""
    args = build_parser(prog, description).parse_args(argv)
    if args.force and args.resume:
        raise MiniganError("--force starts a new run and --resume continues one: give one of them")
    config, overrides = config_from_args(args)
    trainer = Trainer(config, resume=args.resume, overrides=overrides, force=args.force)
    result = trainer.run()
    return 130 if result["interrupted"] else 0
