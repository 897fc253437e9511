"""Train the DCGAN on the built-in idol set: the blog's experiment, from blur to idols.

    python examples/train_idols.py                 # the default run (see --help)
    python examples/train_idols.py --epochs 5      # a shorter one
    python examples/train_idols.py --resume runs/idols   # continue after Ctrl-C

No download: the idol set is drawn by minigan/data/idols.py on first use and cached. Every
option is a field of minigan.train.TrainConfig; this script only chooses the defaults' story.
Outputs land in runs/idols/: samples/ (a grid per epoch), progress.gif, losses.png, fooled.png,
real.png, log.jsonl, config.json and checkpoints/.
"""

from __future__ import annotations

import sys

from minigan.cli import run_command
from minigan.cli.train import main

DESCRIPTION = (
    "Train a DCGAN (Radford et al. 2015) on minigan's built-in set of 4,466 anime idol icons "
    "(203 characters, 64x64). Defaults: Adam 2e-4 with beta1 0.5, batch 32, 100-dimensional "
    "Gaussian noise, one-sided label smoothing (real target 0.9), DiffAugment on every image the "
    "discriminator sees and light zoom/rotation/flips of the real icons. Outputs go to runs/NAME/."
)

if __name__ == "__main__":
    sys.exit(run_command("train", lambda argv: main(argv, prog="python examples/train_idols.py",
                                                        description=DESCRIPTION), sys.argv[1:]))
