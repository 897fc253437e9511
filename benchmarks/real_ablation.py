"""The recipe on real images: which of its parts help, measured on a set minigan did not draw.

::

    apt-get install -y fonts-noto-color-emoji unicode-data
    python examples/make_emoji_set.py --out data/emoji                      # 3,655 real 64x64 icons
    python -m minigan classifier train --data data/emoji --attributes group,subgroup \\
        --epochs 20 --out runs/emoji_classifier.npz                            # the ruler
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/real_ablation.py train \\
        --variants default,no-zoom-rotation,diffaugment-only                # 30 epochs each, ~30 minutes
    python benchmarks/real_ablation.py measure --figures docs/img            # the table, chart and samples

``train`` trains one run per variant of the default recipe (``--variants``, see
:data:`VARIANTS`) on ``--data`` with the same seed, one after the other, into OUT/VARIANT, saving
both generators every ``--every`` epochs; a variant whose run already holds its last checkpoint is
skipped, so an interrupted ablation continues where it stopped. ``measure`` draws ``--n`` images
from the trained generator (raw) and its moving average (ema) of every saved checkpoint, and
writes OUT/ablation.json, OUT/ablation.md (the table), OUT/ablation_samples.png (the first images
of each variant's last checkpoint, under real ones) and OUT/ablation.png: the Frechet distance
in the classifier's features against every real image (what ``minigan evaluate --classifier
runs/emoji_classifier.npz`` reports as ``fd``), its floor (``fd_real``: ``--n`` real images
against the rest), and the classifier's histogram distance per label.

No Inception network can be downloaded here, so the features are those of minigan's own
classifier trained on the set's Unicode groups and subgroups (held-out accuracy printed by the
command above): a ruler that knows emoji, not ImageNet; its figures compare variants with one
another and are not Inception FIDs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ema_curve import epoch_minutes  # benchmarks/ema_curve.py, beside this script

from minigan.checkpoint import load_generator
from minigan.data import load_dataset
from minigan.metrics import attribute_histogram_distance, frechet_distance_floor, frechet_distance_of_features
from minigan.models.classifier import classify, generate_and_classify, load_classifier
from minigan.sampling import noise
from minigan.train import TrainConfig, Trainer
from minigan.viz import labelled_grid, line_plot

#: Images per variant in ablation_samples.png.
SHOWN = 12

#: Each variant: what it changes against today's defaults (TrainConfig field -> value).
VARIANTS = {
    "default": {},
    "no-zoom-rotation": {"augment": "none"},  # DiffAugment alone: the reals are not zoomed, turned or flipped
    "no-smoothing": {"real_label": 1.0},
    "diffaugment-only": {"augment": "none", "real_label": 1.0},  # the PyTorch recipe of the issue
    "no-color": {"diffaugment": "translation,cutout"},
    "no-translation": {"diffaugment": "color,cutout"},
    "no-cutout": {"diffaugment": "color,translation"},
    "no-diffaugment": {"diffaugment": "none"},
}


def train(args) -> int:
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}: choose from {', '.join(VARIANTS)}")
    for name in names:
        run = Path(args.out) / name
        if (run / "checkpoints" / f"epoch_{args.epochs:03d}.npz").exists():
            print(f"{name}: done already ({run})")
            continue
        config = TrainConfig(out=args.out, name=name, data=args.data, seed=args.seed, epochs=args.epochs,
                             save_every=args.every, limit=args.limit, **VARIANTS[name])
        print(f"== {name}: {VARIANTS[name] or 'the defaults'} -> {run}", flush=True)
        resume = run / "checkpoints" / "last.npz"
        if resume.exists():  # an interrupted variant continues bit for bit
            trainer = Trainer(resume=run, overrides={"epochs": args.epochs})
        else:
            trainer = Trainer(config, force=run.exists())
        if trainer.run().get("interrupted"):  # Ctrl-C: stop here (run again to continue)
            return 1
    return 0


def measure(args) -> int:
    out = Path(args.out)
    runs = [out / name for name in VARIANTS if (out / name / "config.json").exists()]
    if not runs:
        raise SystemExit(f"no runs in {out}: run `train` first")
    clf, clf_meta = load_classifier(args.classifier)
    real = load_dataset(json.loads((runs[0] / "config.json").read_text())["data"])
    real_out = classify(clf, real.images)
    classes = {a: len(clf_meta["vocab"][a]) for a in clf.heads}
    floor = frechet_distance_floor(real_out.features, args.n, args.seed)  # evaluate's fd_real
    shown_real = real.images[np.random.default_rng(args.seed).permutation(len(real))[:SHOWN]]
    rows, last_images = [], {}  # {(variant, generator): the first images of the last checkpoint}
    for run in runs:
        minutes = epoch_minutes(run)
        for path in sorted((run / "checkpoints").glob("epoch_*.npz")):
            epoch = int(path.stem.split("_")[1])
            for generator in ("raw", "ema"):
                start = time.perf_counter()
                G, meta = load_generator(path, raw=generator == "raw")  # (the recipe's unconditional DCGAN)
                z = noise(np.random.default_rng(args.seed), args.n, G.nz, meta["config"]["noise"])
                fake_out, images = generate_and_classify(G, clf, z, keep_images=True)
                last_images[run.name, generator] = images[:SHOWN]
                hist = attribute_histogram_distance(real_out.predictions, fake_out.predictions, classes)
                rows.append({"variant": run.name, "epoch": epoch, "generator": generator,
                             "minutes": round(minutes[epoch], 2) if epoch in minutes else None,
                             "fd": round(frechet_distance_of_features(real_out.features, fake_out.features), 2),
                             **{f"tv_{a}": round(v, 4) for a, v in hist.items()}})
                print(json.dumps(rows[-1]), f"({time.perf_counter() - start:.1f} s)", flush=True)
    report = {"data": real.source, "images": len(real), "n": args.n, "seed": args.seed, "classifier": args.classifier,
              "held_out_accuracy": clf_meta.get("training", {}).get("held_out_accuracy"),
              "fd_floor": round(floor, 2), "variants": {r.name: VARIANTS[r.name] for r in runs}, "rows": rows}
    (out / "ablation.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "ablation.md").write_text(table(report))
    series = lambda generator: {r.name: ([x["epoch"] for x in rows if x["variant"] == r.name and x["generator"] == generator],  # noqa: E731
                                         [x["fd"] for x in rows if x["variant"] == r.name and x["generator"] == generator])
                                for r in runs}
    line_plot([("FD, moving average (lower is better)", series("ema")), ("FD, trained generator", series("raw"))],
              out / "ablation.png", xlabel="epoch",
              title=f"{real.source}: the recipe's parts ({args.n} images, floor {floor:.0f})")
    done = [r.name for r in runs if (r.name, "ema") in last_images]
    shown = [shown_real] + [last_images[name, g] for name in done for g in ("ema", "raw")]
    labels = ["real"] + [f"{name} ({g})" for name in done for g in ("ema", "raw")]
    labelled_grid(np.stack(shown), labels, scale=1).save(out / "ablation_samples.png")
    if args.figures:  # the tutorial's copies, reduced to a palette so that they stay small
        figures = Path(args.figures)
        for name, copy in (("ablation.png", "measure_real_ablation.png"), ("ablation_samples.png", "measure_real_samples.png")):
            Image.open(out / name).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(figures / copy, optimize=True)
        print(f"wrote {figures / 'measure_real_ablation.png'} and {figures / 'measure_real_samples.png'}")
    print(table(report))
    print(f"wrote {out / 'ablation.json'}, {out / 'ablation.md'}, {out / 'ablation.png'} and "
          f"{out / 'ablation_samples.png'} (the first {SHOWN} images of each variant's last checkpoint)")
    return 0


def table(report: dict) -> str:
    """The markdown table: one row per variant, FD of ema and raw at every measured epoch."""
    rows = report["rows"]
    epochs = sorted({r["epoch"] for r in rows})
    head = ["variant", "changes"] + [f"ema {e}" for e in epochs] + [f"raw {e}" for e in epochs] + ["minutes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, changes in report["variants"].items():
        mine = {(r["epoch"], r["generator"]): r for r in rows if r["variant"] == name}
        if not mine:  # no checkpoint yet
            continue
        cells = [name, ", ".join(f"{k}={v}" for k, v in changes.items()) or "(the defaults)"]
        cells += [f"{mine[(e, g)]['fd']:.0f}" if (e, g) in mine else "" for g in ("ema", "raw") for e in epochs]
        spent = [r["minutes"] for r in mine.values() if r["minutes"] is not None]
        cells.append(f"{max(spent):.0f}" if spent else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nFloor ({report['n']} real images against the rest): {report['fd_floor']:.0f}\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    t = sub.add_parser("train", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--data", default="data/emoji", help="the real images")
    t.add_argument("--variants", default=",".join(VARIANTS), help="which variants, in order")
    t.add_argument("--epochs", type=int, default=30, help="the default run's length")
    t.add_argument("--every", type=int, default=5, help="save both generators every N epochs")
    t.add_argument("--limit", type=int, default=0, help="train on the first N images only (0: all)")
    t.add_argument("--seed", type=int, default=0)
    m = sub.add_parser("measure", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    m.add_argument("--classifier", default="runs/emoji_classifier.npz")
    m.add_argument("--n", type=int, default=1000, help="images per generator")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--figures", default=None, metavar="DIR",
                   help="also write the chart and the samples as DIR/measure_real_*.png (docs/img for the tutorial)")
    for p in (t, m):
        p.add_argument("--out", default="runs/ablation", help="the folder of the variants' runs")
    args = parser.parse_args(argv)
    return train(args) if args.action == "train" else measure(args)


if __name__ == "__main__":
    raise SystemExit(main())
