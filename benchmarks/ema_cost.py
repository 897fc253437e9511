"""What the generator's moving average costs: one ``ExponentialMovingAverage.update`` of the
default 64x64 generator against one full training step, taking turns in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/ema_cost.py --rounds 15

Each round times one training step (``minigan.gan.train_step`` at batch 64, numba kernels) and
then one average update (every parameter and BatchNorm buffer of G, the fused ``ema_update``
kernel), and the same update on the reference (NumPy) kernel. Prints one JSON line: the median
of each, the ratio update / step, and the BLAS that threadpoolctl reports.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from minigan import kernels, optim
from minigan.gan import train_step
from minigan.models.dcgan import Discriminator, Generator
from minigan.nn import DiffAugment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    G, D = Generator(rng=1), Discriminator(rng=2)
    opt_g, opt_d = optim.Adam(G), optim.Adam(D)
    ema = optim.ExponentialMovingAverage(G, half_life=10_000)
    ema.images = 1_000_000  # past the ramp-up: the update every step of a long run does
    augment = DiffAugment("color,translation,cutout", rng=rng)
    real = rng.uniform(-1, 1, (args.batch, 3, 64, 64)).astype(np.float32)

    def step():
        z = rng.standard_normal((args.batch, 100)).astype(np.float32)
        train_step(G, D, opt_g, opt_d, real, z, real_label=0.9, augment=augment)

    def reference_update():
        with kernels.use_kernels("reference"):
            ema.update(args.batch)

    timings = {"step": [], "ema_update": [], "ema_update_reference": []}
    for fn in (step, step, lambda: ema.update(args.batch), reference_update):  # warm-up, compile
        fn()
    for _ in range(args.rounds):
        for name, fn in (("step", step), ("ema_update", lambda: ema.update(args.batch)),
                         ("ema_update_reference", reference_update)):
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    medians = {k: float(np.median(v)) for k, v in timings.items()}
    try:
        from threadpoolctl import threadpool_info
        blas = [(i.get("internal_api"), i.get("architecture"), i.get("num_threads")) for i in threadpool_info()]
    except ImportError:
        blas = None
    print(json.dumps({"machine": platform.processor() or platform.machine(), "blas": blas, "rounds": args.rounds,
                      "batch": args.batch, "parameters": G.num_parameters(),
                      "median_step_ms": round(medians["step"] * 1e3, 2),
                      "median_ema_update_ms": round(medians["ema_update"] * 1e3, 3),
                      "median_ema_update_reference_ms": round(medians["ema_update_reference"] * 1e3, 3),
                      "ema_share_of_step": round(medians["ema_update"] / medians["step"], 5)}))


if __name__ == "__main__":
    main()
