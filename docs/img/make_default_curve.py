"""Chapter 10's chart of the default run's length: the Frechet distance of the trained generator
and of its moving average, against epochs and against minutes, for the old default (60 epochs at
batch 64) and the new one (30 epochs at batch 32).

::

    python benchmarks/ema_curve.py train --epochs 30 --set batch_size=32 --out runs/curve_b32_s0
    python benchmarks/ema_curve.py measure --run runs/curve_b32_s0          # (and --seed 1, runs/curve_b32_s1)
    python docs/img/make_default_curve.py --runs runs/curve_b32_s0 runs/curve_b32_s1

The batch-64 figures are the table of chapter 10 (``ema_curve.py`` on ``runs/ema_curve_s0``, a run
of an earlier session on a 2-core AMD EPYC with AVX-512, whose folder is not kept), written here
as numbers; the batch-32 figures are read from each run's ``curve.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from minigan.viz import line_plot

HERE = Path(__file__).resolve().parent

# chapter 10's table: epoch, minutes, FD of the trained G, FD of the average (half-life 10,000)
BATCH_64 = [(5, 8, 667, 602), (10, 14, 480, 421), (15, 21, 370, 226), (20, 27, 299, 235), (25, 34, 274, 217),
            (30, 40, 216, 182), (35, 46, 211, 175), (40, 52, 257, 161), (45, 58, 263, 136), (50, 64, 190, 123),
            (55, 70, 171, 123), (60, 77, 148, 116)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", required=True, help="measured batch-32 runs (their curve.json)")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args(argv)
    epochs, minutes = {}, {}
    for name, column in (("b64 G", 2), ("b64 avg", 3)):
        epochs[name] = ([r[0] for r in BATCH_64], [r[column] for r in BATCH_64])
        minutes[name] = ([r[1] for r in BATCH_64], [r[column] for r in BATCH_64])
    for run in map(Path, args.runs):
        seed = json.loads((run / "config.json").read_text())["seed"]
        records = json.loads((run / "curve.json").read_text())
        for variant, label in (("raw", "G"), ("ema 10000", "avg")):
            rows = sorted((r for r in records if r["variant"] == variant), key=lambda r: r["epoch"])
            name = f"b32 s{seed} {label}"
            epochs[name] = ([r["epoch"] for r in rows], [r["fd"] for r in rows])
            minutes[name] = ([r["minutes"] for r in rows], [r["fd"] for r in rows])
    title = "FD, lower is better"
    line_plot([(title, epochs)], Path(args.out) / "measure_default_epochs.png", xlabel="epochs",
              title="FD of the trained G and its average: 60 epochs at batch 64 (b64), 30 at batch 32 (b32)")
    line_plot([(title, minutes)], Path(args.out) / "measure_default_minutes.png",
              xlabel="minutes of training (2-core AMD EPYC, AVX-512)",
              title="the same against training time")
    print(f"wrote {args.out}/measure_default_epochs.png and measure_default_minutes.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
