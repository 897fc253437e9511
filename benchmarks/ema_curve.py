"""Quality against epochs for the trained generator and its moving averages: the figure that
chooses the default run length and ``--ema-half-life``.

::

    python benchmarks/ema_curve.py train   --seed 0 --out runs/ema_curve_s0      # the default recipe (30 epochs, batch 32)
    python benchmarks/ema_curve.py measure --run runs/ema_curve_s0              # FD and attributes every 5 epochs
    python benchmarks/ema_curve.py train --epochs 30 --set batch_size=32 --out runs/curve_b32   # a recipe change

``train`` runs today's default recipe unchanged (the averages only watch: G's training is the
same with or without them) and keeps, besides the trainer's own average, one average per
``--half-lives``; every ``--every`` epochs it saves each of them as a checkpoint of its own in
RUN/curve/. ``measure`` draws ``--n`` idols from the trained generator and from each average at
each saved epoch and writes RUN/curve.json and RUN/curve.png: the Frechet distance in the
attribute classifier's features (what ``minigan evaluate`` reports as ``fd``) and the mean
attribute histogram distance, against epochs (curve.png) and against training minutes from
the run's log.jsonl (curve_minutes.png).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from minigan.checkpoint import load_generator, model_arrays, save_checkpoint
from minigan.data import load_dataset
from minigan.metrics import attribute_histogram_distance, frechet_distance_of_features
from minigan.models.classifier import DEFAULT_CLASSIFIER, classify, generate_and_classify, load_classifier
from minigan.optim import ExponentialMovingAverage
from minigan.sampling import noise
from minigan.train import TrainConfig, Trainer
from minigan.viz import line_plot


class Averages:
    """Extra moving averages of G, one per half-life, saved every ``every`` epochs."""

    def __init__(self, half_lives, every: int, folder: Path):
        self.half_lives, self.every, self.folder = list(half_lives), every, folder
        self.averages = None

    def after_step(self, trainer):
        if self.averages is None:  # built at the first step, from the same starting G as the trainer's
            self.averages = {h: ExponentialMovingAverage(trainer.G, h) for h in self.half_lives}
        for average in self.averages.values():
            average.update(trainer.config.batch_size)

    def after_epoch(self, trainer):
        if trainer.epoch % self.every:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = {"kind": "generator-average", "models": {"G": trainer.G.config()}, "epoch": trainer.epoch,
                "step": trainer.step, "config": {"noise": trainer.config.noise}}
        for h, average in self.averages.items():
            save_checkpoint(self.folder / f"epoch_{trainer.epoch:03d}_ema_{int(h)}.npz",
                            model_arrays("G", average.average), {**meta, "half_life": h})


def recipe(settings: list[str]) -> dict:
    """``["batch_size=32", "lr_g=4e-4"]`` -> ``{"batch_size": 32, "lr_g": 0.0004}``, typed by TrainConfig's defaults."""
    defaults, out = TrainConfig(), {}
    for setting in settings:
        key, _, value = setting.partition("=")
        if not hasattr(defaults, key) or not value:
            raise SystemExit(f"--set {setting!r}: expected NAME=VALUE with NAME a training setting")
        out[key] = type(getattr(defaults, key))(value)
    return out


def train(args) -> int:
    config = TrainConfig(out=str(Path(args.out).parent), name=Path(args.out).name, seed=args.seed,
                         epochs=args.epochs, save_every=args.every, limit=args.limit, **recipe(args.set))
    half_lives = [float(h) for h in args.half_lives.split(",") if h]
    trainer = Trainer(config, callbacks=[Averages(half_lives, args.every, Path(args.out) / "curve")])
    trainer.run()
    return 0


def variants(run: Path):
    """``(epoch, variant, checkpoint, raw)`` for every saved generator of a curve run."""
    own = int(json.loads((run / "config.json").read_text())["ema_half_life"])  # the trainer's own average
    for path in sorted((run / "checkpoints").glob("epoch_*.npz")):
        epoch = int(path.stem.split("_")[1])
        yield epoch, "raw", path, True
        yield epoch, f"ema {own}", path, False
    for path in sorted((run / "curve").glob("epoch_*_ema_*.npz")):
        epoch, half_life = int(path.stem.split("_")[1]), int(path.stem.split("_")[3])
        yield epoch, f"ema {half_life}", path, True  # saved as plain "G"


def epoch_minutes(run: Path) -> dict:
    """``{epoch: minutes of training up to its end}`` from a run's log.jsonl."""
    minutes = {}
    for line in (run / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "epoch":
            minutes[record["epoch"]] = minutes.get(record["epoch"] - 1, 0.0) + record["seconds"] / 60
    return minutes


def measure(args) -> int:
    run = Path(args.run)
    clf, clf_meta = load_classifier(args.classifier)
    real = load_dataset(json.loads((run / "config.json").read_text())["data"])
    real_out = classify(clf, real.images)
    classes = {a: len(clf_meta["vocab"][a]) for a in clf.heads}
    minutes = epoch_minutes(run)
    rows = []
    for epoch, variant, path, raw in variants(run):
        start = time.perf_counter()
        G, _ = load_generator(path, raw=raw)
        z = noise(np.random.default_rng(args.seed), args.n, G.nz)
        fake_out, _ = generate_and_classify(G, clf, z)
        hist = attribute_histogram_distance(real_out.predictions, fake_out.predictions, classes)
        rows.append({"epoch": epoch, "variant": variant, "minutes": round(minutes.get(epoch, float("nan")), 2),
                     "fd": round(frechet_distance_of_features(real_out.features, fake_out.features), 3),
                     "attributes": round(float(np.mean(list(hist.values()))), 4)})
        print(json.dumps(rows[-1]), f"({time.perf_counter() - start:.1f} s)", flush=True)
    (run / "curve.json").write_text(json.dumps(rows, indent=1) + "\n")
    names = sorted({r["variant"] for r in rows}, key=lambda v: (v != "raw", float(v.split()[-1]) if v != "raw" else 0))
    series = lambda key, x: {v: ([r[x] for r in rows if r["variant"] == v], [r[key] for r in rows if r["variant"] == v])
                             for v in names}  # noqa: E731
    line_plot([("Frechet distance (classifier features), lower is better", series("fd", "epoch")),
               ("mean attribute histogram distance", series("attributes", "epoch"))],
              run / "curve.png", xlabel="epoch", title=f"{run.name}: trained G ('raw') and its moving averages")
    line_plot([("Frechet distance (classifier features), lower is better", series("fd", "minutes"))],
              run / "curve_minutes.png", xlabel="minutes of training (this run's log.jsonl)",
              title=f"{run.name}: quality against training time")
    print(f"wrote {run / 'curve.json'}, {run / 'curve.png'} and {run / 'curve_minutes.png'}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    t = sub.add_parser("train", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--out", default="runs/ema_curve_s0", help="the run folder")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    t.add_argument("--every", type=int, default=5, help="save the averages every N epochs")
    t.add_argument("--limit", type=int, default=0, help="train on the first N images only (0: all)")
    t.add_argument("--half-lives", default="1000,3000,30000", help="extra averages, in images")
    t.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a recipe change against the defaults, e.g. --set batch_size=32 (repeatable)")
    m = sub.add_parser("measure", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    m.add_argument("--run", default="runs/ema_curve_s0")
    m.add_argument("--classifier", default=DEFAULT_CLASSIFIER)
    m.add_argument("--n", type=int, default=1000, help="idols per generator")
    m.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return train(args) if args.action == "train" else measure(args)


if __name__ == "__main__":
    sys.exit(main())
