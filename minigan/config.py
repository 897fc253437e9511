"""The settings of a training run, and the range each one must lie in.

:class:`TrainConfig` is a dataclass with one field per setting; its field metadata is the help
text that ``python -m minigan train --help`` shows (:mod:`minigan.cli.train` builds one option per
field), and :meth:`TrainConfig.validate` checks them all before any work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backend import normalize_device
from .conditioning import is_unconditional, parse_condition
from .data import augment_options
from .errors import SettingsError
from .nn import DiffAugment
from .sampling import NOISE_KINDS

__all__ = ["TrainConfig", "INT_RANGES", "FLOAT_RANGES", "ADDED_SETTINGS", "CONDITION_LAYERS", "FAKE_LABELS", "is_bool", "is_int"]

#: The allowed range of every integer setting, ``[low, high]``: wide enough for any real run,
#: narrow enough that a typo (an extra zero, a negative) is caught before it costs memory or hours.
INT_RANGES = {
    "limit": (0, 10**9),
    "epochs": (0, 100_000),
    "batch_size": (1, 4096),
    "nz": (1, 4096),
    "ngf": (1, 1024),
    "ndf": (1, 1024),
    "seed": (0, 2**63 - 1),
    "log_every": (1, 1_000_000),
    "first_epoch_samples": (0, 1000),
    "save_every": (1, 100_000),
    "keep_epochs": (0, 100_000),
    "fooled_n": (1, 10_000),
}
#: The allowed range of every real-valued setting: ``(low, high, brackets)``, "(]" = low < x <= high.
FLOAT_RANGES = {
    "lr_g": (0, 1, "(]"),
    "lr_d": (0, 1, "(]"),
    "beta1": (0, 1, "[)"),
    "beta2": (0, 1, "[)"),
    "real_label": (0, 1, "(]"),
    "ema_half_life": (0, 1e9, "[]"),
    "aux_weight": (0, 10, "[]"),
}

#: Settings added after checkpoints were first written, with the value that reproduces how a
#: run of before trained: a checkpoint that lacks one resumes with it.
ADDED_SETTINGS = {"ema_half_life": 0.0, "condition": "", "condition_layers": "input", "fake_labels": "joint",
                  "aux_weight": 0.0}

#: Where a conditional generator takes its labels (``condition_layers``).
CONDITION_LAYERS = ("input", "all")

#: How a conditional run draws the labels of its fakes (``fake_labels``).
FAKE_LABELS = ("joint", "independent")


def is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not is_bool(value)


@dataclass
class TrainConfig:
    """Every setting of a training run. The defaults train good idols on the built-in set."""

    name: str = field(default="idols", metadata={"help": "run name: outputs go to OUT/NAME"})
    out: str = field(default="runs", metadata={"help": "folder that holds the runs"})
    data: str = field(default="idols", metadata={"help": "'idols' (the built-in set), 'idols:SEED', or a folder of images"})
    limit: int = field(default=0, metadata={"help": "train on only the first N images (0: all); for quick trials"})
    epochs: int = field(default=30, metadata={"help": "passes over the data (30 x 139 steps on the idol set); 0 saves "
                                                       "the untrained models, a baseline for evaluate"})
    batch_size: int = field(default=32, metadata={"help": "images per step (32: twice the steps of 64 per epoch, "
                                                               "which reaches in 30 epochs about what 64 did in 60; chapter 10)"})
    lr_g: float = field(default=2e-4, metadata={"help": "generator learning rate (Adam)"})
    lr_d: float = field(default=2e-4, metadata={"help": "discriminator learning rate (Adam)"})
    beta1: float = field(default=0.5, metadata={"help": "Adam beta1 (DCGAN: 0.5)"})
    beta2: float = field(default=0.999, metadata={"help": "Adam beta2"})
    nz: int = field(default=100, metadata={"help": "noise dimensions"})
    ngf: int = field(default=64, metadata={"help": "generator width (channels of its last hidden layer)"})
    ndf: int = field(default=64, metadata={"help": "discriminator width (channels of its first layer)"})
    noise: str = field(default="gaussian", metadata={"help": "noise distribution: gaussian or uniform"})
    real_label: float = field(default=0.9, metadata={"help": "target for real images; 0.9 = one-sided label smoothing, 1 = none"})
    diffaugment: str = field(default="color,translation,cutout", metadata={
        "help": "DiffAugment of every image D sees (comma list of color,translation,cutout; 'none' to disable)"})
    augment: str = field(default="light", metadata={
        "help": "augmentation of real images only: none, light (small zoom, rotation, flips), blog (zoom 1-1.2, rotation 15 deg), or zoom=1:1.2,rotate=10,flip=1"})
    seed: int = field(default=0, metadata={"help": "seed of everything random: weights, data order, noise, augmentation"})
    device: str = field(default="cpu", metadata={"help": "cpu or gpu (needs CuPy)"})
    log_every: int = field(default=10, metadata={"help": "steps between logged (and checked) losses"})
    first_epoch_samples: int = field(default=4, metadata={"help": "extra sample grids during the first epoch"})
    save_every: int = field(default=5, metadata={"help": "save both models' weights every N epochs (and after the last)"})
    keep_epochs: int = field(default=0, metadata={"help": "keep only the newest N per-epoch checkpoints (0: keep all)"})
    fooled_n: int = field(default=512, metadata={"help": "samples scored by D for fooled.png"})
    ema_half_life: float = field(default=10_000.0, metadata={
        "help": "half-life in images of the generator's moving average, which the progress grids, fooled.png "
                "and every command draw from (--raw: the trained generator); 0 turns it off"})
    condition: str = field(default="", metadata={
        "help": "labels to condition on, a comma list (e.g. hair_color,hair_style): a conditional DCGAN whose "
                "generator takes them with the noise and whose discriminator is a projection discriminator; "
                "'' (the default) trains the blog's unconditional DCGAN"})
    condition_layers: str = field(default="input", metadata={
        "help": "where a conditional generator takes its labels: 'input' (one-hots appended to the noise) or "
                "'all' (there, and class-conditional batch norm in every layer)"})
    fake_labels: str = field(default="joint", metadata={
        "help": "how a conditional run draws its fakes' labels: 'joint' (those of a random real image, "
                "as the data combines them) or 'independent' (each label from its own share in the data, "
                "so every combination is drawn)"})
    aux_weight: float = field(default=0.0, metadata={
        "help": "a conditional run's auxiliary classifier (AC-GAN): D also learns the real images' labels, with "
                "this weight on its cross-entropy, and G lowers the same on its fakes; 0 trains the projection "
                "discriminator alone"})

    def validate(self) -> "TrainConfig":
        """Check every setting's type and range; raise :class:`~minigan.errors.SettingsError`
        naming each offending setting and its allowed range (all problems at once). NaN, infinity and absurd sizes are refused
        here, before any work: a learning rate of ``inf`` would otherwise train a model of NaNs."""
        problems = []  # (argument, what is wrong with it)
        for name, (lo, hi) in INT_RANGES.items():
            value = getattr(self, name)
            if name == "epochs" and is_int(value) and value < 0:
                problems.append(("epochs", "cannot be negative (0 saves the untrained models)"))
            elif not (is_int(value) and lo <= value <= hi):
                problems.append((name, f"must be an integer in [{lo}, {hi}], got {value!r}"))
        for name, (lo, hi, brackets) in FLOAT_RANGES.items():
            value = getattr(self, name)
            try:
                number = isinstance(value, (int, float, np.integer, np.floating)) and not is_bool(value)
                number = number and math.isfinite(value)
            except OverflowError:  # an integer too large for a float
                number = False
            above = number and (value > lo if brackets[0] == "(" else value >= lo)
            below = number and (value < hi if brackets[1] == ")" else value <= hi)
            if not (number and above and below):
                problems.append((name, f"must be a finite number in {brackets[0]}{lo}, {hi}{brackets[1]}, got {value!r}"))
        for name in ("name", "out", "data", "noise", "diffaugment", "augment", "device", "condition",
                     "condition_layers", "fake_labels"):
            if not isinstance(getattr(self, name), str):
                problems.append((name, f"must be a string, got {getattr(self, name)!r}"))
        if isinstance(self.name, str) and (self.name in ("", ".", "..") or "/" in self.name or "\\" in self.name
                                           or "\0" in self.name):
            problems.append(("name", f"must be a plain folder name (no slashes, not empty, '.' or '..'), got {self.name!r}"))
        if isinstance(self.noise, str) and self.noise not in NOISE_KINDS:
            problems.append(("noise", f"must be one of {', '.join(NOISE_KINDS)}"))
        if isinstance(self.fake_labels, str) and self.fake_labels not in FAKE_LABELS:
            problems.append(("fake_labels", f"must be one of {', '.join(FAKE_LABELS)}, got {self.fake_labels!r}"))
        if isinstance(self.condition_layers, str) and self.condition_layers not in CONDITION_LAYERS:
            problems.append(("condition_layers", f"must be one of {', '.join(CONDITION_LAYERS)}, "
                                                 f"got {self.condition_layers!r}"))
        elif self.condition_layers == "all" and isinstance(self.condition, str) and is_unconditional(self.condition):
            problems.append(("condition_layers", "'all' is for a conditional model: give the labels with --condition"))
        if (not any(name == "aux_weight" for name, _ in problems) and self.aux_weight > 0
                and isinstance(self.condition, str) and is_unconditional(self.condition)):
            problems.append(("aux_weight", "is for a conditional model: give the labels with --condition"))
        for name, check in (("device", lambda: normalize_device(self.device)),
                            ("diffaugment", lambda: DiffAugment(self._diffaugment_policy())),
                            ("augment", self.augment_options),
                            ("condition", lambda: parse_condition(self.condition))):
            if isinstance(getattr(self, name), str):
                try:
                    check()
                except ValueError as exc:
                    text = str(exc)
                    problems.append((name, text[len(name):].lstrip() if text.startswith(name) else f"is not valid: {text}"))
        if problems:
            raise SettingsError("bad training settings", problems)
        return self

    def _diffaugment_policy(self) -> str:
        return "" if self.diffaugment.strip().lower() in ("", "none", "off") else self.diffaugment

    def augment_options(self):
        return augment_options(self.augment)

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.name
