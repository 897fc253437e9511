"""Training a DCGAN: the loop around :func:`minigan.gan.train_step`, with everything a run leaves.

A run lives in ``runs/<name>/``::

    config.json            every setting of the run (and the data it saw)
    real.png               a batch of real images as D sees them (after augmentation)
    samples/epoch_NNN.png  a fixed-noise 8x8 grid after every epoch (epoch_000: untrained;
                           epoch_000_step_NNNNNN: a few snapshots during the first epoch)
    progress.gif           those grids in order (at most 40 of them, evenly spread): the
                           generator going from blur to idols; written when training stops
    losses.png             D and G losses and D's outputs over the steps
    log.jsonl              one JSON line per logged step and per epoch
    fooled.png             the final model's samples that D rates most real, with D's score
    checkpoints/last.npz   everything needed to resume exactly (models, Adam states, random
                           generator, position in the epoch)
    checkpoints/epoch_NNN.npz   both models' weights every ``save_every`` epochs and at the end

Use it from Python (``Trainer(TrainConfig(epochs=5)).run()``), from ``python -m minigan train``
or from ``examples/train_idols.py``. ``--resume runs/<name>`` continues a run exactly where its
last checkpoint left it: on the CPU, two epochs in one go and one epoch + resume + one epoch
give bit-identical weights.

Reliability: the output folder is checked before any work; Ctrl-C finishes the current step,
saves a checkpoint and exits; a NaN or infinite loss stops the run with a clear message and
keeps the last good checkpoint; checkpoints are written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, optim
from .backend import get_array_module, get_cupy, normalize_device, to_device, to_numpy
from .checkpoint import load_checkpoint, load_model_arrays, model_arrays, save_checkpoint
from .data import augment_batch, augment_options, load_dataset, to_model_input
from .errors import CheckpointError, DatasetError, MiniganError, TrainingDiverged
from .gan import train_step
from .models.dcgan import Discriminator, Generator, num_blocks
from .nn import DiffAugment
from .progress import ProgressBar, format_duration
from .sampling import NOISE_KINDS, generate, most_real, noise
from .viz import captioned_grid, line_plot, save_gif, save_grid

__all__ = ["TrainConfig", "Trainer"]

_LOGGED = ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_g")  # StepResult fields written to the log


@dataclass
class TrainConfig:
    """Every setting of a training run. The defaults train good idols on the built-in set."""

    name: str = field(default="idols", metadata={"help": "run name: outputs go to OUT/NAME"})
    out: str = field(default="runs", metadata={"help": "folder that holds the runs"})
    data: str = field(default="idols", metadata={"help": "'idols' (the built-in set), 'idols:SEED', or a folder of images"})
    limit: int = field(default=0, metadata={"help": "train on only the first N images (0: all); for quick trials"})
    epochs: int = field(default=60, metadata={"help": "passes over the data (60 x 69 steps on the idol set); 0 saves "
                                                       "the untrained models, a baseline for evaluate"})
    batch_size: int = field(default=64, metadata={"help": "images per step"})
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

    def validate(self) -> "TrainConfig":
        """Check the settings; raise MiniganError with the offending option."""
        problems = []
        if self.epochs < 0:
            problems.append("--epochs cannot be negative (0 saves the untrained models)")
        for name in ("batch_size", "nz", "ngf", "ndf", "log_every", "save_every"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("lr_g", "lr_d"):
            if not getattr(self, name) > 0:
                problems.append(f"--{name.replace('_', '-')} must be positive")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            problems.append("Adam betas must be in [0, 1)")
        if not 0 < self.real_label <= 1:
            problems.append("--real-label must be in (0, 1]")
        if self.noise not in NOISE_KINDS:
            problems.append(f"--noise must be one of {', '.join(NOISE_KINDS)}")
        if self.limit < 0 or self.keep_epochs < 0:
            problems.append("--limit and --keep-epochs cannot be negative")
        try:
            normalize_device(self.device)
            DiffAugment(self._diffaugment_policy())
            self.augment_options()
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise MiniganError("bad training settings: " + "; ".join(problems))
        return self

    def _diffaugment_policy(self) -> str:
        return "" if self.diffaugment.strip().lower() in ("", "none", "off") else self.diffaugment

    def augment_options(self):
        return augment_options(self.augment)

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.name


class _Interrupt:
    """Turn the first Ctrl-C into a flag checked between steps (a half-done step is never saved)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not in the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: finishing this step and saving a checkpoint (press again to abort)", file=sys.stderr)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class Trainer:
    """One training run: data, models, optimizers, randomness, outputs and checkpoints.

    Args:
        config: the settings (ignored when resuming: the run's own settings are used, apart
            from ``epochs`` and ``device`` given in ``overrides``).
        dataset: an :class:`~minigan.data.ImageDataset` to use instead of loading ``config.data``.
        resume: a run folder or checkpoint to continue.
        overrides: settings that may change on resume (``{"epochs": 40}``).
        stream: where progress goes (stderr by default).
    """

    def __init__(self, config: TrainConfig | None = None, dataset=None, resume=None,
                 overrides: dict | None = None, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.resume_state = None
        if resume is not None:
            arrays, meta = load_checkpoint(resume)
            if meta.get("kind") != "gan-training":
                raise CheckpointError(f"{resume} is not a training checkpoint (kind {meta.get('kind')!r}); "
                                      "resume from a run folder or its checkpoints/last.npz")
            saved = meta["config"]
            known = {f.name for f in dataclasses.fields(TrainConfig)}
            config = TrainConfig(**{k: v for k, v in saved.items() if k in known})
            self.resume_state = (arrays, meta)
        config = config or TrainConfig()
        for key, value in (overrides or {}).items():
            setattr(config, key, value)
        self.config = config.validate()
        self.device = normalize_device(config.device)
        if self.device == "gpu":
            get_cupy()  # fail now, with the install hint, not after loading the data
        self.run_dir = config.run_dir if resume is None else self._resume_dir(resume)
        self._prepare_run_dir(fresh=resume is None)
        self.dataset = dataset if dataset is not None else self._load_data()
        if self.resume_state is not None:
            self._check_same_data(self.resume_state[1])
        self._build()
        if self.resume_state is not None:
            self._restore(*self.resume_state)
            self.resume_state = None

    # -- setup ------------------------------------------------------------------------------------
    @staticmethod
    def _resume_dir(resume) -> Path:
        path = Path(resume)
        return path if path.is_dir() else path.parent.parent  # runs/NAME/checkpoints/last.npz

    def _prepare_run_dir(self, fresh: bool) -> None:
        """Create the run folder and prove it is writable, before any expensive work."""
        d = self.run_dir
        if fresh and (d / "checkpoints" / "last.npz").exists():
            raise MiniganError(f"{d} already holds a run: continue it with --resume {d}, or choose "
                               "another --name (or delete the folder)")
        try:
            (d / "samples").mkdir(parents=True, exist_ok=True)
            (d / "checkpoints").mkdir(exist_ok=True)
            probe = d / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise MiniganError(f"cannot write the run folder {d}: {exc.strerror or exc}") from exc

    def _dataset_info(self) -> dict:
        """What config.json and every checkpoint record of the training data."""
        return {"source": self.dataset.source, "images": len(self.dataset)}

    def _check_same_data(self, meta: dict) -> None:
        """A resumed run must see the data it started on (same source, same number of images)."""
        saved = meta.get("dataset", {})
        now = self._dataset_info()
        if saved and saved != now:
            raise CheckpointError(f"this run was trained on {saved['source']} ({saved['images']} images), but the data "
                                  f"now is {now['source']} ({now['images']} images); resume with the same data")

    def _load_data(self):
        ds = load_dataset(self.config.data)
        if self.config.limit:
            ds = ds.subset(np.arange(min(self.config.limit, len(ds))))
        return ds

    def _build(self) -> None:
        c, ds = self.config, self.dataset
        n, size = len(ds), ds.images.shape[1]
        if ds.images.shape[1] != ds.images.shape[2]:
            raise DatasetError(f"images must be square, got {ds.images.shape[1:3]}")
        num_blocks(size)  # raises for sizes the DCGAN cannot make
        if n < c.batch_size:
            raise DatasetError(f"the data has {n} images, fewer than one batch of {c.batch_size}; "
                               "lower --batch-size")
        self.steps_per_epoch = n // c.batch_size
        rng = np.random.default_rng(c.seed)
        init_seeds = rng.integers(0, 2**63, 2)
        self.G = Generator(nz=c.nz, ngf=c.ngf, image_size=size, rng=init_seeds[0]).to(self.device)
        self.D = Discriminator(ndf=c.ndf, image_size=size, rng=init_seeds[1]).to(self.device)
        self.opt_g = optim.Adam(self.G, lr=c.lr_g, betas=(c.beta1, c.beta2))
        self.opt_d = optim.Adam(self.D, lr=c.lr_d, betas=(c.beta1, c.beta2))
        self.fixed_noise = noise(rng, 64, c.nz, c.noise)  # (64, nz): the progress grids' idols
        self.rng = rng  # data order, augmentation, noise: one generator, saved in checkpoints
        # DiffAugment shares the one generator, so that its state is the whole story
        self.augment = DiffAugment(c._diffaugment_policy(), rng=rng) if c._diffaugment_policy() else None
        self.augment_real = c.augment_options()
        self.images = to_device(ds.images, self.device)  # (N, S, S, 3) uint8, moved once
        self.epoch, self.batch_in_epoch, self.step = 0, 0, 0
        self.order = None  # the current epoch's permutation of the images
        self.frames: list[str] = []  # sample grids so far, in order (for progress.gif)
        self.history: list[dict] = []  # logged steps (for losses.png)

    # -- checkpoints --------------------------------------------------------------------------------
    def _meta(self, kind: str) -> dict:
        return {
            "kind": kind,
            "minigan": __version__,
            "config": dataclasses.asdict(self.config),
            "models": {"G": self.G.config(), "D": self.D.config()},
            "dataset": self._dataset_info(),
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "step": self.step,
        }

    def save(self, path=None) -> Path:
        """Save everything needed to resume exactly (``checkpoints/last.npz`` by default)."""
        path = Path(path or self.run_dir / "checkpoints" / "last.npz")
        arrays = {**model_arrays("G", self.G), **model_arrays("D", self.D), "fixed_noise": self.fixed_noise}
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            arrays.update({f"{prefix}/{k}": np.asarray(v) for k, v in opt.state_dict().items()})
        if self.order is not None:
            arrays["epoch_order"] = self.order
        meta = self._meta("gan-training")
        meta["rng"] = self.rng.bit_generator.state
        meta["frames"] = self.frames
        return save_checkpoint(path, arrays, meta)

    def _save_epoch_weights(self) -> None:
        """Both models' weights after this epoch (no optimizer state: a third of the size)."""
        d = self.run_dir / "checkpoints"
        save_checkpoint(d / f"epoch_{self.epoch:03d}.npz",
                        {**model_arrays("G", self.G), **model_arrays("D", self.D)}, self._meta("gan-weights"))
        if self.config.keep_epochs:
            old = sorted(d.glob("epoch_*.npz"))[:-self.config.keep_epochs]
            for p in old:
                p.unlink()

    def _restore(self, arrays: dict, meta: dict) -> None:
        source = "the checkpoint"
        load_model_arrays(self.G, arrays, "G", source)
        load_model_arrays(self.D, arrays, "D", source)
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            state = {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}
            state["step"] = int(state["step"])
            try:
                opt.load_state_dict(state)
            except (ValueError, KeyError) as exc:
                raise CheckpointError(f"{source}: optimizer state does not fit: {exc}") from exc
        self.fixed_noise = arrays["fixed_noise"]
        self.rng.bit_generator.state = meta["rng"]
        self.epoch, self.batch_in_epoch, self.step = meta["epoch"], meta["batch_in_epoch"], meta["step"]
        self.order = arrays.get("epoch_order")
        self.frames = [f for f in meta.get("frames", []) if (self.run_dir / f).exists()]
        log = self.run_dir / "log.jsonl"
        if log.exists():
            with open(log) as f:
                records = [json.loads(line) for line in f if line.strip()]
            self.history = [r for r in records if r.get("type") == "step" and r["step"] <= self.step]

    # -- outputs -------------------------------------------------------------------------------
    def _log(self, record: dict) -> None:
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def _sample_grid(self, name: str) -> None:
        rel = f"samples/{name}.png"
        save_grid(generate(self.G, self.fixed_noise), self.run_dir / rel, nrow=8)
        if rel not in self.frames:
            self.frames.append(rel)

    def _write_progress_gif(self, max_frames: int = 40) -> None:
        """progress.gif from the sample grids so far: all of them, or ``max_frames`` evenly spread
        (first and last always in). Written once at the end: encoding costs ~0.25 s a frame."""

        frames = self.frames
        if len(frames) > max_frames:
            picks = np.unique(np.linspace(0, len(frames) - 1, max_frames).round().astype(int))
            frames = [frames[i] for i in picks]
        save_gif([self.run_dir / f for f in frames], self.run_dir / "progress.gif", duration_ms=250)

    def _write_loss_plot(self) -> None:
        if self.history:
            steps = [h["step"] for h in self.history]
            series = lambda key: (steps, [h[key] for h in self.history])  # noqa: E731
            line_plot([("losses", {"D loss": series("loss_d"), "G loss": series("loss_g")}),
                       ("discriminator outputs (probability of 'real')",
                        {"D(x)": series("d_real"), "D(G(z))": series("d_fake")})],
                      self.run_dir / "losses.png", title=f"{self.config.name}: training curves")

    def _write_real_batch(self) -> None:
        rng = np.random.default_rng(self.config.seed + 1)  # its own generator: training draws stay unchanged
        idx = rng.choice(len(self.dataset), size=min(64, len(self.dataset)), replace=False)
        x = to_model_input(self.dataset.images[idx])
        if self.augment_real:
            x = augment_batch(x, rng, **self.augment_real)
        save_grid(x, self.run_dir / "real.png", nrow=8)

    def _write_fooled(self) -> None:
        images, scores, _, order = most_real(self.G, self.D, n=self.config.fooled_n, top=32,
                                             seed=self.config.seed, noise_kind=self.config.noise)
        captioned_grid(images, [f"{s:.2f}" for s in scores], nrow=8, scale=2).save(self.run_dir / "fooled.png")

    # -- the loop ------------------------------------------------------------------------------
    def _batch(self, idx):
        """Real images for batch ``idx``: float32 ``(B, 3, S, S)`` in [-1, 1] on the device."""

        xp = get_array_module(self.images)
        x = to_model_input(self.images[xp.asarray(idx)], xp=xp)
        if self.augment_real:
            x = augment_batch(x, self.rng, **self.augment_real)
        return x

    def _check_finite(self, record: dict) -> None:
        bad = {k: v for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)}
        if bad:
            last = self.run_dir / "checkpoints" / "last.npz"
            kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was saved yet"
            raise TrainingDiverged(
                f"training diverged at step {self.step} (epoch {self.epoch + 1}): "
                + ", ".join(f"{k} = {v}" for k, v in bad.items())
                + f"; {kept}. Try lower learning rates (--lr-d, --lr-g) or label smoothing (--real-label 0.9).")

    def run(self) -> dict:
        """Train until ``config.epochs``; returns a summary dict. Raises TrainingDiverged on NaN."""
        c = self.config
        start_time = time.perf_counter()
        if self.step == 0 and self.batch_in_epoch == 0:
            (self.run_dir / "log.jsonl").write_text("")
            (self.run_dir / "config.json").write_text(json.dumps(
                {**dataclasses.asdict(c), "dataset": self._dataset_info(),
                 "minigan": __version__, "models": {"G": self.G.config(), "D": self.D.config()}}, indent=2) + "\n")
            self._write_real_batch()
            self._sample_grid("epoch_000")
        print(f"training on {len(self.dataset)} images ({self.dataset.source}), {self.steps_per_epoch} steps "
              f"per epoch, batch {c.batch_size}, {c.device}; outputs in {self.run_dir}", file=self.stream)
        first_epoch_marks = {int(self.steps_per_epoch * (k + 1) / (c.first_epoch_samples + 1))
                             for k in range(c.first_epoch_samples)} - {0}
        interrupted = False
        with _Interrupt() as interrupt:
            while self.epoch < c.epochs and not interrupted:
                interrupted = self._run_epoch(interrupt, first_epoch_marks)
        elapsed = time.perf_counter() - start_time
        self._write_progress_gif()
        if interrupted:
            path = self.save()
            print(f"interrupted at epoch {self.epoch + 1}, step {self.step}: saved {path}\n"
                  f"continue with: python -m minigan train --resume {self.run_dir}", file=self.stream)
            return {"interrupted": True, "step": self.step, "epoch": self.epoch, "seconds": elapsed}
        if self.step == 0:  # --epochs 0: the untrained models, e.g. as evaluate's baseline
            self._save_epoch_weights()
            self.save()
        self._write_fooled()
        print(f"done: {self.epoch} epochs, {self.step} steps in {format_duration(elapsed)}; "
              f"see {self.run_dir}/progress.gif and samples/", file=self.stream)
        return {"interrupted": False, "step": self.step, "epoch": self.epoch, "seconds": elapsed,
                "last": self.history[-1] if self.history else None}

    def _run_epoch(self, interrupt: _Interrupt, first_epoch_marks: set) -> bool:
        """One epoch (or its rest, after a resume). Returns True when interrupted."""
        c = self.config
        if self.order is None or self.batch_in_epoch == 0:
            self.order = self.rng.permutation(len(self.dataset)).astype(np.int64)  # (N,)
        bar = ProgressBar(self.steps_per_epoch * c.batch_size, desc=f"epoch {self.epoch + 1}/{c.epochs}",
                          unit="img", stream=self.stream, initial=self.batch_in_epoch * c.batch_size)
        pending, shown, epoch_start = [], {}, time.perf_counter()
        while self.batch_in_epoch < self.steps_per_epoch:
            if interrupt.requested:
                bar.close()
                return True
            b = self.batch_in_epoch
            idx = self.order[b * c.batch_size:(b + 1) * c.batch_size]
            real = self._batch(idx)
            z = to_device(noise(self.rng, c.batch_size, c.nz, c.noise), self.device)
            pending.append(train_step(self.G, self.D, self.opt_g, self.opt_d, real, z,
                                      real_label=c.real_label, augment=self.augment))
            self.step += 1
            self.batch_in_epoch += 1
            if len(pending) == c.log_every or self.batch_in_epoch == self.steps_per_epoch:
                # the only host synchronisation: average the pending steps' numbers
                xp = get_array_module(pending[0].loss_d)
                means = to_numpy(xp.stack([xp.stack([getattr(r, k) for k in _LOGGED]) for r in pending]).mean(axis=0))
                record = {"type": "step", "step": self.step, "epoch": self.epoch + 1,
                          **{k: float(v) for k, v in zip(_LOGGED, means)}}
                self._check_finite(record)
                self._log(record)
                self.history.append(record)
                pending = []
                shown = {"D": record["loss_d"], "G": record["loss_g"], "D(x)": record["d_real"], "D(G(z))": record["d_fake"]}
            bar.update(c.batch_size, **shown)
            if self.epoch == 0 and self.batch_in_epoch in first_epoch_marks:
                self._sample_grid(f"epoch_000_step_{self.step:06d}")
        bar.close()
        seconds = time.perf_counter() - epoch_start
        self.epoch += 1
        self.batch_in_epoch = 0
        self.order = None
        self._sample_grid(f"epoch_{self.epoch:03d}")
        last = self.history[-1] if self.history else {}
        self._log({"type": "epoch", "epoch": self.epoch, "step": self.step, "seconds": seconds,
                   **{k: last.get(k) for k in ("loss_d", "loss_g", "d_real", "d_fake")}})
        self.save()
        if self.epoch % c.save_every == 0 or self.epoch == c.epochs:
            self._save_epoch_weights()
        self._write_loss_plot()
        images_per_s = self.steps_per_epoch * c.batch_size / max(seconds, 1e-9)
        print(f"epoch {self.epoch}/{c.epochs}: {format_duration(seconds)}, {images_per_s:.0f} img/s, "
              f"D {last.get('loss_d', float('nan')):.3f}  G {last.get('loss_g', float('nan')):.3f}  "
              f"D(x) {last.get('d_real', float('nan')):.2f}  D(G(z)) {last.get('d_fake', float('nan')):.2f}",
              file=self.stream)
        return False
