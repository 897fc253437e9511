"""Where does a DCGAN training step's time go? By layer, and by kind of work.

    python benchmarks/profile_step.py [--batch 64] [--steps 5] [--kernels auto|reference]

Manual timers, no sampling profiler: every layer's ``forward`` and ``backward``, every kernel of
:mod:`minigan.kernels`, every GEMM (:func:`minigan.nn.conv.matmul`), the loss and both Adam steps
are wrapped with ``time.perf_counter`` for a few steps of ``minigan.gan.train_step`` (after a
warm-up), and the totals are divided by the number of steps. The kinds:

* ``GEMM``: the BLAS matrix products of the convolutions,
* ``im2col/col2im``: the column gathers and scatters,
* ``batch norm``: the batch-norm kernels (statistics, normalisation, gradients),
* ``element-wise``: ReLU, LeakyReLU and tanh,
* ``optimizer``: both Adam steps, whole,
* ``loss``: BCE with logits, forward and backward,
* ``other``: the rest of the step (the layers' Python, gradient accumulation, the BN running
  statistics, the sums of bias-free layers, allocation), the step time minus all of the above.

The timers add a microsecond or so per call (a few hundred calls a step): the profiled step
time is within a percent of an unprofiled one. Run it alone on the machine; see README.md.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minigan import kernels, nn, optim  # noqa: E402
from minigan.gan import train_step  # noqa: E402
from minigan.models.dcgan import Discriminator, Generator  # noqa: E402
from minigan.nn import conv  # noqa: E402

KERNEL_KINDS = {
    "im2col_nhwc": "im2col/col2im", "col2im_nhwc": "im2col/col2im",
    "batch_norm_forward_train": "batch norm", "batch_norm_backward_train": "batch norm",
    "relu_forward": "element-wise", "relu_backward": "element-wise",
    "leaky_relu_forward": "element-wise", "leaky_relu_backward": "element-wise",
}
KINDS = ["GEMM", "im2col/col2im", "batch norm", "element-wise", "optimizer", "loss", "other"]


class Timers:
    def __init__(self):
        self.total = collections.defaultdict(float)
        self.calls = collections.Counter()

    def wrap(self, key, fn):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total[key] += time.perf_counter() - t0
                self.calls[key] += 1
        return timed


def layer_name(net: str, i: int, layer) -> str:
    desc = type(layer).__name__
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
        desc += f" {layer.in_channels}->{layer.out_channels}"
    elif isinstance(layer, nn.BatchNorm2d):
        desc += f" {layer.num_features}"
    return f"{net}.{i:<2d} {desc}"


def gemm_shape(a, b) -> str:
    """``"M x K x N"`` of ``a @ b``, with ``T`` marking an operand BLAS reads transposed."""
    def t(x):
        return "" if x.flags.c_contiguous else "T"
    return f"({a.shape[0]} x {a.shape[1]}){t(a)} @ ({b.shape[0]} x {b.shape[1]}){t(b)}"


def instrument(G, D, opt_g, opt_d, loss, timers: Timers):
    for net_name, net in (("G", G), ("D", D)):
        for i, layer in enumerate(net.layers):
            name = layer_name(net_name, i, layer)
            layer.forward = timers.wrap(("layer", name, "forward"), layer.forward)
            layer.backward = timers.wrap(("layer", name, "backward"), layer.backward)
    for name in KERNEL_KINDS:
        setattr(kernels, name, timers.wrap(("kernel", name), getattr(kernels, name)))
    plain_matmul = conv.matmul

    def timed_matmul(a, b, out=None):
        t0 = time.perf_counter()
        try:
            return plain_matmul(a, b, out=out)
        finally:
            dt = time.perf_counter() - t0
            for key in (("kernel", "GEMM"), ("gemm", gemm_shape(a, b))):
                timers.total[key] += dt
                timers.calls[key] += 1

    conv.matmul = timed_matmul
    opt_g.step = timers.wrap(("optimizer", "G"), opt_g.step)
    opt_d.step = timers.wrap(("optimizer", "D"), opt_d.step)
    loss.forward = timers.wrap(("loss", "forward"), loss.forward)
    loss.backward = timers.wrap(("loss", "backward"), loss.backward)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--kernels", choices=["auto", "reference"], default="auto")
    args = parser.parse_args(argv)
    kernels.set_kernel_mode(args.kernels)

    rng = np.random.default_rng(0)
    G, D = Generator(rng=1), Discriminator(rng=2)
    opt_g, opt_d = optim.Adam(G), optim.Adam(D)
    loss = nn.BCEWithLogitsLoss()
    real = rng.uniform(-1, 1, (args.batch, 3, 64, 64)).astype(np.float32)
    z = rng.standard_normal((args.batch, 100)).astype(np.float32)
    for _ in range(args.warmup):
        train_step(G, D, opt_g, opt_d, real, z, loss=loss)

    timers = Timers()
    instrument(G, D, opt_g, opt_d, loss, timers)
    step_times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        train_step(G, D, opt_g, opt_d, real, z, loss=loss)
        step_times.append(time.perf_counter() - t0)
    n = args.steps
    step_ms = sum(step_times) / n * 1e3
    ms = {key: value / n * 1e3 for key, value in timers.total.items()}

    by_kind = dict.fromkeys(KINDS, 0.0)
    for key, value in ms.items():
        if key[0] == "kernel":
            by_kind["GEMM" if key[1] == "GEMM" else KERNEL_KINDS[key[1]]] += value
        elif key[0] == "optimizer":
            by_kind["optimizer"] += value
        elif key[0] == "loss":
            by_kind["loss"] += value
        elif key[0] == "layer" and "Tanh" in key[1]:
            by_kind["element-wise"] += value
    by_kind["other"] = step_ms - sum(by_kind.values())

    print(f"# minigan train_step, batch {args.batch}, kernels {args.kernels} "
          f"({kernels.backend_for(real).__name__.rsplit('.', 1)[-1]}), mean of {n} steps: {step_ms:.1f} ms/step")
    print("\n## by kind (ms per step)\n")
    print(f"| {'kind':<14} | {'ms':>7} | {'share':>6} |")
    print(f"|{'-' * 16}|{'-' * 9}|{'-' * 8}|")
    for kind in KINDS:
        print(f"| {kind:<14} | {by_kind[kind]:7.1f} | {by_kind[kind] / step_ms:6.1%} |")
    print(f"| {'step':<14} | {step_ms:7.1f} | {1:6.1%} |")

    print("\n## by layer (ms per step, all calls: D runs 3 forward and 3 backward passes a step)\n")
    print(f"| {'layer':<28} | {'forward':>8} | {'backward':>8} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 10}|")
    layers = [key[1] for key in ms if key[0] == "layer" and key[2] == "forward"]
    for name in layers:
        f, b = ms.get(("layer", name, "forward"), 0.0), ms.get(("layer", name, "backward"), 0.0)
        print(f"| {name:<28} | {f:8.1f} | {b:8.1f} |")
    print("\n## GEMMs by shape (ms per step, calls per step, GFLOP/s)\n")
    for key, value in sorted(ms.items(), key=lambda kv: -kv[1]):
        if key[0] == "gemm":
            m, k = (int(v) for v in key[1].split(")")[0].strip("(").split(" x "))
            nn_ = int(key[1].split("@ (")[1].split(" x ")[1].split(")")[0])
            calls = timers.calls[key] // n
            gflops = 2 * m * k * nn_ * calls / (value / 1e3) / 1e9
            print(f"  {key[1]:<40} {value:7.1f} ms {calls:3d} calls {gflops:6.0f} GFLOP/s")
    print("\n## kernels (ms per step, calls per step)\n")
    for key, value in sorted(ms.items(), key=lambda kv: -kv[1]):
        if key[0] in ("kernel", "optimizer", "loss"):
            print(f"  {'/'.join(key[1:]) if key[0] == 'kernel' else '/'.join(key):<28} {value:7.1f} ms  "
                  f"{timers.calls[key] // n:4d} calls")


if __name__ == "__main__":
    main()
