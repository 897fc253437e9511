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
    checkpoints/epoch_NNN.npz   the models' weights (G, D, G_ema) every ``save_every`` epochs and at
                           the end

Use it from Python (``Trainer(TrainConfig(epochs=5)).run()``), from ``python -m minigan train``
or from ``examples/train_idols.py``. ``--resume runs/<name>`` continues a run exactly where its
last checkpoint left it: on the CPU, two epochs in one go and one epoch + resume + one epoch
give bit-identical weights (on the same machine with the same number of BLAS threads: OpenBLAS's
float32 products can differ in the last bit with the thread count).

Reliability: the settings are checked (types, ranges, finiteness) and the output folder proven
writable before any work. Ctrl-C finishes the current step, saves a checkpoint and exits. A NaN or
infinite loss, weight or Adam state stops the run with a message that names the last good
checkpoint: the weights are checked at every logged step and before every checkpoint, so no
checkpoint ever holds a non-finite model. Every file the trainer writes goes through
:func:`minigan.checkpoint.write_atomically` (a temporary file, fsync, rename): a crash or a full
disk never leaves a half-written file, and a full disk is an error that names the file. A resume
removes what a killed run left (temporary files; log records after the checkpoint, a torn last
line) and refuses data whose images changed since the run started.

The generator that is sampled (progress grids, fooled.png, and by default every command) is the
moving average of G's weights (:class:`minigan.optim.ExponentialMovingAverage`, ``G_ema`` in the
checkpoints); G itself is the one trained. ``--ema-half-life 0`` turns the average off.

The module is long (about 600 lines) but one idea, the trainer: a run's loop, everything it
writes and how it comes back from a checkpoint. The settings and their ranges are in
:mod:`minigan.config`, the GAN's step in :mod:`minigan.gan`, safe file writing in
:mod:`minigan.checkpoint`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import signal
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__, optim
from .backend import get_array_module, get_cupy, normalize_device, to_device, to_numpy
from .checkpoint import (load_checkpoint, load_model_arrays, model_arrays, remove_stale_temp_files, save_checkpoint,
                         write_atomically, write_text_atomically)
from .conditioning import (GRID_COLUMNS, check_condition, fake_labels, grid_labels, label_rows, label_table,
                           parse_condition)
from .config import ADDED_SETTINGS, TrainConfig, is_int
from .data import augment_batch, load_dataset, to_model_input
from .errors import CheckpointError, DatasetError, MiniganError, TrainingDiverged
from .gan import train_step
from .models.conditional import ConditionalGenerator, ProjectionDiscriminator
from .models.dcgan import Discriminator, Generator, num_blocks
from .nn import DiffAugment
from .progress import ProgressBar, format_duration
from .sampling import generate, most_real, noise
from .viz import captioned_grid, line_plot, save_gif, save_grid

__all__ = ["TrainConfig", "Trainer"]  # TrainConfig lives in minigan.config

_LOGGED = ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_g")  # StepResult fields written to the log

#: A mean cross-entropy above this many nats means logits in the thousands: D's outputs are
#: saturated far past any useful gradient, and the run has exploded although every number is
#: still finite (a learning rate of 1e16 gets there in a few steps).
EXPLODED_LOSS = 1000.0

class _NamedBuffer(io.BytesIO):
    """An in-memory file with a name: Pillow picks the format from it (``"grid.png"``)."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name


def _only_ints(state: dict) -> bool:
    """Whether every value of a (nested) random-generator state dict is an integer (or its name)."""
    return all(_only_ints(v) if isinstance(v, dict) else (is_int(v) or (k == "bit_generator" and isinstance(v, str)))
               for k, v in state.items())


def _inside(folder: Path, rel: str) -> bool:
    """Whether ``rel`` (a path read from a checkpoint) is a relative path that stays in ``folder``."""
    p = Path(rel)
    return not p.is_absolute() and ".." not in p.parts


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
        force: start a new run in ``OUT/NAME`` even where that folder holds a run or other
            files (they are replaced); without it such a folder is refused.
        callbacks: objects with an ``after_step(trainer)`` and/or ``after_epoch(trainer)``
            method, called after every step (G, D and the average updated) and after every
            epoch (its checkpoint saved): a way to watch or measure a run without changing it.
        stream: where progress goes (stderr by default).
    """

    def __init__(self, config: TrainConfig | None = None, dataset=None, resume=None,
                 overrides: dict | None = None, stream=None, force: bool = False, callbacks=()):
        self.stream = stream if stream is not None else sys.stderr
        self.callbacks = list(callbacks)
        self.resume_state = None
        self.last_good = None  # (path, epoch, step) of the newest checkpoint known to be good
        if resume is not None:
            arrays, meta = load_checkpoint(resume)  # refuses damaged files, bad metadata, NaN weights
            if meta.get("kind") != "gan-training":
                raise CheckpointError(f"{resume} is not a training checkpoint (kind {meta.get('kind')!r}); "
                                      "resume from a run folder or its checkpoints/last.npz")
            known = [f.name for f in dataclasses.fields(TrainConfig)]
            missing = [k for k in known if k not in meta["config"] and k not in ADDED_SETTINGS]
            if missing:
                raise CheckpointError(f"{resume}: the training settings saved in it lack {', '.join(missing)} "
                                      "(damaged, or edited?)")
            config = TrainConfig(**{k: meta["config"].get(k, ADDED_SETTINGS.get(k)) for k in known})
            try:
                config.validate()
            except MiniganError as exc:
                raise CheckpointError(f"{resume}: the training settings saved in it are invalid (edited?): {exc}") from exc
            self.resume_state = (arrays, meta)
            path = Path(resume)
            self.last_good = (path / "checkpoints" / "last.npz" if path.is_dir() else path, meta["epoch"], meta["step"])
        config = config or TrainConfig()
        for key, value in (overrides or {}).items():
            setattr(config, key, value)
        self.config = config.validate()
        self.device = normalize_device(config.device)
        if self.device == "gpu":
            get_cupy()  # fail now, with the install hint, not after loading the data
        self.run_dir = config.run_dir if resume is None else self._resume_dir(resume)
        self._prepare_run_dir(fresh=resume is None, force=force)
        self.dataset = dataset if dataset is not None else self._load_data()
        # what the run trains on, by content: a resume on changed images is refused
        self.data_sha256 = hashlib.sha256(np.ascontiguousarray(self.dataset.images).data).hexdigest()
        if self.resume_state is not None:
            self._check_same_data(self.resume_state[1])
        try:
            self._build()
        except DatasetError as exc:
            if self.resume_state is None:
                raise
            raise CheckpointError(f"{resume}: the settings saved in it do not fit its data: {exc}") from exc
        if self.resume_state is not None:
            self._restore(*self.resume_state)
            self.resume_state = None

    # -- setup ------------------------------------------------------------------------------------
    @staticmethod
    def _resume_dir(resume) -> Path:
        path = Path(resume)
        return path if path.is_dir() else path.parent.parent  # runs/NAME/checkpoints/last.npz

    def _prepare_run_dir(self, fresh: bool, force: bool = False) -> None:
        """Create the run folder and prove it is writable, before any expensive work. A new run
        never lands in a folder that holds a run or anything else, unless ``force``."""
        d = self.run_dir
        if d.exists() and not d.is_dir():
            raise MiniganError(f"the run folder {d} is a file")
        if fresh and not force and d.is_dir():
            if (d / "checkpoints" / "last.npz").exists() or (d / "config.json").exists():
                raise MiniganError(f"{d} already holds a run: resume it, train under another name, "
                                   "or start it over with force (its files are replaced)")
            others = sorted(p.name for p in d.iterdir()  # the empty folders a run makes first are no one's
                            if not (p.name in ("checkpoints", "samples") and p.is_dir() and not any(p.iterdir())))
            if others:
                raise MiniganError(f"{d} holds other files ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}): "
                                   "train under another name or folder, or use force to write there anyway")
        try:
            (d / "samples").mkdir(parents=True, exist_ok=True)
            (d / "checkpoints").mkdir(exist_ok=True)
            probe = d / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise MiniganError(f"cannot write the run folder {d}: {exc.strerror or exc}") from exc
        for folder in (d, d / "checkpoints", d / "samples"):  # what a killed save left behind
            remove_stale_temp_files(folder)

    def _dataset_info(self) -> dict:
        """What config.json and every checkpoint record of the training data: where it came
        from, how many images, and the sha256 of their pixels (``images (N, S, S, 3)`` uint8)."""
        return {"source": self.dataset.source, "images": len(self.dataset), "images_sha256": self.data_sha256}

    def _check_same_data(self, meta: dict) -> None:
        """A resumed run must see the data it started on: same source, same number of images and
        (for checkpoints that recorded it) the same pixels."""
        saved = meta.get("dataset", {})
        now = self._dataset_info()
        if not saved:
            return
        if (saved["source"], saved["images"]) != (now["source"], now["images"]):
            raise CheckpointError(f"this run was trained on {saved['source']} ({saved['images']} images), but the data "
                                  f"now is {now['source']} ({now['images']} images); resume with the same data")
        if saved.get("images_sha256", now["images_sha256"]) != now["images_sha256"]:
            raise CheckpointError(f"the images of {now['source']} changed since this run started (the same "
                                  f"{now['images']} images in number, but other pixels: sha256 {now['images_sha256'][:12]}... "
                                  f"instead of {str(saved['images_sha256'])[:12]}...); resume with the data the run "
                                  "started on, or start a new run")

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
                               "lower batch_size", arguments=("batch_size",))
        self.steps_per_epoch = n // c.batch_size
        rng = np.random.default_rng(c.seed)
        init_seeds = rng.integers(0, 2**63, 2)
        self.condition = parse_condition(c.condition)  # [] for the blog's unconditional DCGAN
        if self.condition:
            check_condition(self.condition, ds)
            self.label_rows = label_rows(ds, self.condition)  # (N, A): the labels of each real image
            vocab = {name: ds.vocab[name] for name in self.condition}
            self.G = ConditionalGenerator(self.condition, vocab, nz=c.nz, ngf=c.ngf, image_size=size,
                                          rng=init_seeds[0], conditional_bn=c.condition_layers == "all").to(self.device)
            self.D = ProjectionDiscriminator(self.condition, vocab, ndf=c.ndf, image_size=size,
                                             rng=init_seeds[1], auxiliary=c.aux_weight > 0).to(self.device)
        else:
            self.G = Generator(nz=c.nz, ngf=c.ngf, image_size=size, rng=init_seeds[0]).to(self.device)
            self.D = Discriminator(ndf=c.ndf, image_size=size, rng=init_seeds[1]).to(self.device)
        self.opt_g = optim.Adam(self.G, lr=c.lr_g, betas=(c.beta1, c.beta2))
        self.opt_d = optim.Adam(self.D, lr=c.lr_d, betas=(c.beta1, c.beta2))
        # the average of G's weights that is sampled (G itself is trained); None when off
        self.ema = optim.ExponentialMovingAverage(self.G, c.ema_half_life) if c.ema_half_life > 0 else None
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
        self.log_lines: list[str] = []  # log.jsonl, one JSON record a line (rewritten whole, atomically)

    # -- checkpoints --------------------------------------------------------------------------------
    def _meta(self, kind: str) -> dict:
        return {
            "kind": kind,
            "minigan": __version__,
            "config": dataclasses.asdict(self.config),
            "models": {"G": self.G.config(), "D": self.D.config(),
                       **({"G_ema": self.G.config()} if self.ema else {})},
            "ema": {"half_life": self.ema.half_life, "images": self.ema.images} if self.ema else None,
            **({"labels": label_table(self.label_rows)} if self.condition else {}),
            "dataset": self._dataset_info(),
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "step": self.step,
        }

    def _state_arrays(self) -> dict:
        """Every array a checkpoint holds that training changes: weights, buffers, Adam states."""
        arrays = self._model_arrays()
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            for name, slots in opt.state.items():
                arrays.update({f"{prefix}/{name}/{slot}": value for slot, value in slots.items()})
        return arrays

    def _model_arrays(self) -> dict:
        """The weights and buffers of G, D and (when on) the average of G, by ``"G/0.W"`` names."""
        arrays = {**model_arrays("G", self.G), **model_arrays("D", self.D)}
        if self.ema:
            arrays.update(model_arrays("G_ema", self.ema.average))
        return arrays

    @property
    def sampled_generator(self):
        """The generator the outputs draw from: the moving average when on, else G."""
        return self.ema.average if self.ema else self.G

    def _non_finite_state(self) -> list[str]:
        """The names of the weights, buffers and Adam states that hold NaN or infinity."""
        arrays = self._state_arrays()
        xp = get_array_module(next(iter(arrays.values())))
        finite = to_numpy(xp.stack([xp.isfinite(a).all() for a in arrays.values()]))  # (n_arrays,): one host sync
        return [name for name, ok in zip(arrays, finite) if not ok]

    def _diverged(self, why: str) -> TrainingDiverged:
        if self.last_good is not None:
            path, epoch, step = self.last_good
            kept = f"the last good checkpoint is {path} (epoch {epoch}, step {step}); nothing after it was saved"
        else:
            kept = "no checkpoint was saved yet"
        return TrainingDiverged(
            f"training diverged at step {self.step} (epoch {self.epoch + 1}): {why}; {kept}. "
            "Try lower learning rates (lr_d, lr_g) or label smoothing (real_label 0.9).",
            arguments=("lr_d", "lr_g", "real_label"))

    def _check_finite(self, record: dict | None = None) -> None:
        """Raise TrainingDiverged when a logged loss or any weight or Adam state is NaN or infinite."""
        bad = {k: v for k, v in (record or {}).items() if isinstance(v, float) and not math.isfinite(v)}
        exploded = {k: v for k, v in (record or {}).items()
                    if k in ("loss_d", "loss_g") and k not in bad and isinstance(v, float) and v > EXPLODED_LOSS}
        arrays = self._non_finite_state()
        if bad or exploded or arrays:
            why = [", ".join(f"{k} = {v}" for k, v in bad.items())] if bad else []
            if exploded:
                why.append(", ".join(f"{k} = {v:.3g}" for k, v in exploded.items())
                           + f" exploded (a mean cross-entropy over {EXPLODED_LOSS:g} nats)")
            if arrays:
                more = f" and {len(arrays) - 4} more" if len(arrays) > 4 else ""
                why.append("NaN or infinity in " + ", ".join(arrays[:4]) + more)
            raise self._diverged("; ".join(why))

    def save(self, path=None) -> Path:
        """Save everything needed to resume exactly (``checkpoints/last.npz`` by default).

        Raises TrainingDiverged, writing nothing, when a weight or Adam state is not finite."""
        path = Path(path or self.run_dir / "checkpoints" / "last.npz")
        self._check_finite()
        arrays = {**self._model_arrays(), "fixed_noise": self.fixed_noise}
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            arrays.update({f"{prefix}/{k}": np.asarray(v) for k, v in opt.state_dict().items()})
        if self.order is not None:
            arrays["epoch_order"] = self.order
        meta = self._meta("gan-training")
        meta["rng"] = self.rng.bit_generator.state
        meta["frames"] = self.frames
        save_checkpoint(path, arrays, meta)
        if path == self.run_dir / "checkpoints" / "last.npz":
            self.last_good = (path, self.epoch, self.step)
        return path

    def _save_epoch_weights(self) -> None:
        """Both models' weights after this epoch (no optimizer state: a third of the size)."""
        self._check_finite()
        d = self.run_dir / "checkpoints"
        save_checkpoint(d / f"epoch_{self.epoch:03d}.npz", self._model_arrays(), self._meta("gan-weights"))
        if self.config.keep_epochs:
            old = sorted(d.glob("epoch_*.npz"))[:-self.config.keep_epochs]
            for p in old:
                p.unlink()

    def _restore(self, arrays: dict, meta: dict) -> None:
        """Load a training checkpoint into the freshly built trainer; CheckpointError (naming what
        is wrong) for anything that does not fit this run, so a damaged or edited checkpoint is
        never half-loaded."""
        source = "the checkpoint"
        for prefix, model in (("G", self.G), ("D", self.D)):
            if meta["models"][prefix] != model.config():
                raise CheckpointError(f"{source}: models.{prefix} = {meta['models'][prefix]} does not match its "
                                      f"training settings ({model.config()}); edited metadata?")
            load_model_arrays(model, arrays, prefix, source)
        if self.ema:
            ema_meta = meta.get("ema")
            if not isinstance(ema_meta, dict) or not is_int(ema_meta.get("images")) or ema_meta["images"] < 0:
                raise CheckpointError(f"{source}: the generator's moving average is missing or damaged")
            load_model_arrays(self.ema.average, arrays, "G_ema", source)
            self.ema.images = int(ema_meta["images"])
        elif any(k.startswith("G_ema/") for k in arrays):
            raise CheckpointError(f"{source}: holds a moving average but its settings have none (edited?)")
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            state = {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}
            step = state.get("step")
            if step is None or step.shape != () or step.dtype.kind not in "iu" or int(step) < 0:
                raise CheckpointError(f"{source}: optimizer {prefix} has no valid step count")
            state["step"] = int(step)
            params = [name for name, _, _ in opt.parameters()]
            wanted = {f"{n}/{slot}" for n in params for slot in ("m", "v")} if state["step"] else set()
            if set(state) - {"step"} != wanted:
                raise CheckpointError(f"{source}: optimizer {prefix} state does not fit the model (missing or "
                                      "extra moment estimates)")
            if any(state[k].dtype.kind != "f" for k in wanted):
                raise CheckpointError(f"{source}: optimizer {prefix} state holds non-float arrays")
            try:
                opt.load_state_dict(state)
            except (ValueError, KeyError) as exc:
                raise CheckpointError(f"{source}: optimizer state does not fit: {exc}") from exc
        fixed = arrays.get("fixed_noise")
        if fixed is None or fixed.shape != (64, self.config.nz) or fixed.dtype != np.float32:
            raise CheckpointError(f"{source}: fixed_noise is missing or not float32 of shape (64, {self.config.nz})")
        epoch, batch, step = meta["epoch"], meta["batch_in_epoch"], meta["step"]
        if batch >= self.steps_per_epoch or step != epoch * self.steps_per_epoch + batch:
            raise CheckpointError(f"{source}: its position (epoch {epoch}, batch {batch}, step {step}) does not fit "
                                  f"{self.steps_per_epoch} steps per epoch; damaged or edited metadata?")
        order = arrays.get("epoch_order")
        if order is not None:
            n = len(self.dataset)
            if (order.shape != (n,) or order.dtype.kind not in "iu"
                    or not np.array_equal(np.sort(order), np.arange(n))):
                raise CheckpointError(f"{source}: epoch_order is not a permutation of the {n} images")
            order = order.astype(np.int64)
        elif batch:
            raise CheckpointError(f"{source}: stopped in the middle of an epoch but holds no epoch_order")
        try:
            state = dict(meta["rng"])
            if state.get("bit_generator") != type(self.rng.bit_generator).__name__:
                raise ValueError(f"bit generator {state.get('bit_generator')!r}")
            if not _only_ints(state):  # NumPy would take 1.5 or True and continue from another state
                raise ValueError("a value that is not an integer")
            self.rng.bit_generator.state = state
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise CheckpointError(f"{source}: damaged random-generator state ({exc})") from exc
        self.fixed_noise = fixed
        self.epoch, self.batch_in_epoch, self.step = epoch, batch, step
        self.order = order
        self.frames = [f for f in meta["frames"] if _inside(self.run_dir, f) and (self.run_dir / f).is_file()]
        self._restore_log()

    def _restore_log(self) -> None:
        """log.jsonl as of the checkpoint: records after its step dropped (a killed run logged
        them, the resumed run logs them again), a torn or damaged line dropped with a note."""
        log = self.run_dir / "log.jsonl"
        kept, damaged, dropped = [], 0, 0
        if log.exists():
            for line in log.read_bytes().decode("utf-8", "replace").splitlines():
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    damaged += 1
                    continue
                if not (isinstance(record, dict) and is_int(record.get("step"))):
                    damaged += 1
                elif record["step"] > self.step:
                    dropped += 1
                else:
                    kept.append(record)
        if damaged:
            print(f"note: dropped {damaged} damaged line(s) of {log} (a run killed while writing?)", file=self.stream)
        self.log_lines = [json.dumps(r) for r in kept]
        self.history = [r for r in kept if r.get("type") == "step" and all(isinstance(r.get(k), float) for k in _LOGGED)]
        if damaged or dropped or not log.exists():
            self._write_log()

    # -- outputs -------------------------------------------------------------------------------
    def _write_log(self) -> None:
        write_text_atomically(self.run_dir / "log.jsonl", "".join(line + "\n" for line in self.log_lines))

    def _log(self, record: dict) -> None:
        self.log_lines.append(json.dumps(record))
        self._write_log()

    def _write_picture(self, rel: str, draw) -> Path:
        """``run_dir/rel``, written atomically: ``draw(f)`` saves a picture to ``f``, an in-memory
        file whose name (that of ``rel``) tells Pillow the format."""
        buffer = _NamedBuffer(Path(rel).name)
        draw(buffer)
        data = buffer.getvalue()
        return write_atomically(self.run_dir / rel, lambda f: f.write(data))

    def _grid_input(self):
        """The progress grids' input: the fixed noise; for a conditional run its first
        ``GRID_COLUMNS`` vectors in every row, one row per value of the first conditioned label."""
        if not self.condition:
            return self.fixed_noise
        labels = grid_labels(self.label_rows, self.G.num_classes)
        return self.G.inputs(np.tile(self.fixed_noise[:GRID_COLUMNS], (self.G.num_classes[0], 1)), labels)

    def _sample_grid(self, name: str) -> None:
        rel = f"samples/{name}.png"
        images = generate(self.sampled_generator, self._grid_input())
        self._write_picture(rel, lambda f: save_grid(images, f, nrow=GRID_COLUMNS if self.condition else 8))
        if rel not in self.frames:
            self.frames.append(rel)

    def _write_progress_gif(self, max_frames: int = 40) -> None:
        """progress.gif from the sample grids so far: all of them, or ``max_frames`` evenly spread
        (first and last always in). Written once at the end: encoding costs ~0.25 s a frame."""

        frames = self.frames
        if len(frames) > max_frames:
            picks = np.unique(np.linspace(0, len(frames) - 1, max_frames).round().astype(int))
            frames = [frames[i] for i in picks]
        if frames:
            self._write_picture("progress.gif", lambda f: save_gif([self.run_dir / p for p in frames], f, duration_ms=250))

    def _write_loss_plot(self) -> None:
        if self.history:
            steps = [h["step"] for h in self.history]
            series = lambda key: (steps, [h[key] for h in self.history])  # noqa: E731
            panels = [("losses", {"D loss": series("loss_d"), "G loss": series("loss_g")}),
                      ("discriminator outputs (probability of 'real')",
                       {"D(x)": series("d_real"), "D(G(z))": series("d_fake")})]
            if all("aux_d" in h for h in self.history):  # a run with an auxiliary classifier
                panels.append(("the auxiliary classifier's cross-entropy (unweighted)",
                               {"on real images (D)": series("aux_d"), "on the fakes (G)": series("aux_g")}))
            self._write_picture("losses.png", lambda f: line_plot(panels, f, title=f"{self.config.name}: training curves"))

    def _write_real_batch(self) -> None:
        rng = np.random.default_rng(self.config.seed + 1)  # its own generator: training draws stay unchanged
        idx = rng.choice(len(self.dataset), size=min(64, len(self.dataset)), replace=False)
        x = to_model_input(self.dataset.images[idx])
        if self.augment_real:
            x = augment_batch(x, rng, **self.augment_real)
        self._write_picture("real.png", lambda f: save_grid(x, f, nrow=8))

    def _write_fooled(self) -> None:
        labels = None
        if self.condition:  # the fakes to score are drawn for the labels of random real images
            pick = np.random.default_rng(self.config.seed + 2).integers(0, len(self.label_rows), self.config.fooled_n)
            labels = self.label_rows[pick]
        images, scores, _, order = most_real(self.sampled_generator, self.D, n=self.config.fooled_n, top=32,
                                             seed=self.config.seed, noise_kind=self.config.noise, labels=labels)
        picture = captioned_grid(images, [f"{s:.2f}" for s in scores], nrow=8, scale=2)
        self._write_picture("fooled.png", lambda f: picture.save(f))

    # -- the loop ------------------------------------------------------------------------------
    def _batch(self, idx):
        """Real images for batch ``idx``: float32 ``(B, 3, S, S)`` in [-1, 1] on the device."""

        xp = get_array_module(self.images)
        x = to_model_input(self.images[xp.asarray(idx)], xp=xp)
        if self.augment_real:
            x = augment_batch(x, self.rng, **self.augment_real)
        return x

    def run(self) -> dict:
        """Train until ``config.epochs``; returns a summary dict. Raises TrainingDiverged on NaN."""
        c = self.config
        start_time = time.perf_counter()
        if self.step == 0 and self.batch_in_epoch == 0:
            self.log_lines = []
            self._write_log()
            write_text_atomically(self.run_dir / "config.json", json.dumps(
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
            labels = {}
            if self.condition:  # reals with their own labels; fakes drawn for those of random reals (or per label)
                labels = {"labels_real": self.label_rows[idx],
                          "labels_fake": fake_labels(self.rng, self.label_rows, c.batch_size,
                                                     independent=c.fake_labels == "independent")}
                z = self.G.inputs(z, labels["labels_fake"])
            pending.append(train_step(self.G, self.D, self.opt_g, self.opt_d, real, z,
                                      real_label=c.real_label, augment=self.augment, aux_weight=c.aux_weight,
                                      **labels))
            if self.ema:
                self.ema.update(c.batch_size)
            for callback in self.callbacks:
                if hasattr(callback, "after_step"):
                    callback.after_step(self)
            self.step += 1
            self.batch_in_epoch += 1
            # logged at every log_every-th step of the run (not of this call), so a resumed run
            # logs the same steps as one that was never stopped
            if self.step % c.log_every == 0 or self.batch_in_epoch == self.steps_per_epoch:
                # the only host synchronisation: average the pending steps' numbers
                xp = get_array_module(pending[0].loss_d)
                logged = _LOGGED + (("aux_d", "aux_g") if c.aux_weight > 0 else ())  # the classifier's apart
                means = to_numpy(xp.stack([xp.stack([getattr(r, k) for k in logged]) for r in pending]).mean(axis=0))
                record = {"type": "step", "step": self.step, "epoch": self.epoch + 1,
                          **{k: float(v) for k, v in zip(logged, means)}}
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
        for callback in self.callbacks:
            if hasattr(callback, "after_epoch"):
                callback.after_epoch(self)
        images_per_s = self.steps_per_epoch * c.batch_size / max(seconds, 1e-9)
        print(f"epoch {self.epoch}/{c.epochs}: {format_duration(seconds)}, {images_per_s:.0f} img/s, "
              f"D {last.get('loss_d', float('nan')):.3f}  G {last.get('loss_g', float('nan')):.3f}  "
              f"D(x) {last.get('d_real', float('nan')):.2f}  D(G(z)) {last.get('d_fake', float('nan')):.2f}",
              file=self.stream)
        return False
