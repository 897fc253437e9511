"""Time full DCGAN training steps: minigan (numba and reference kernels) against PyTorch.

    python benchmarks/train_step.py                       # batch 64 and 128, numba and reference kernels
    python benchmarks/train_step.py --torch               # ... and PyTorch, side by side, with ratios
    python benchmarks/train_step.py --batch 64 --kernels numba --torch --steps 9

One step is ``minigan.gan.train_step``: D on a real batch and on G(z), Adam on D, then D on G(z)
again with the gradient going into G, Adam on G (pytorch/examples' dcgan order). PyTorch runs
the same networks (pytorch/examples' netG and netD, without D's sigmoid; BCEWithLogitsLoss,
Adam(2e-4, (0.5, 0.999)), ``torch.set_num_threads(2)``), the same step, from the same weights.

How it measures (read this before quoting a number):

* Every configuration is warmed up, then the configurations take turns, one step each per
  round, so that a busy moment of a shared machine slows all of them alike; each figure is
  the MEDIAN over the rounds. A short pause separates two configurations, so that one
  library's idle threads (OpenBLAS's and OpenMP's spin for a while after each call) never
  steal the next one's CPU: each is timed as it runs on its own.
* ``vs_torch`` is PyTorch's median step time over this configuration's, in the same run
  (above 1: minigan is faster); ``vs_torch_paired`` is the median over the rounds of the
  two step times of one round, which a change of the machine's load during the run moves
  less. PyTorch runs as pytorch/examples does, in its default NCHW
  memory format; ``--torch-channels-last`` adds a PyTorch run in its channels_last format
  (what minigan's layers use) and ``vs_torch_channels_last``.
* ``gflop_per_step`` is the nominal work of a step, from the layer shapes: D runs 3 forward
  and 3 backward passes, G 1 and 1, a backward pass costing twice its forward (input and weight
  gradients), as a framework that computes every gradient does. minigan skips D's weight
  gradients in G's step and D's input gradient in D's step, about 9% of that.
* ``peak_rss_mb`` is the peak resident memory (``VmHWM``) of a SEPARATE process that
  imports only what its side needs (NumPy and numba, or torch), builds the networks and runs
  the warm-up and a few steps; ``rss_after_import_mb`` is the same process before it built
  anything, the libraries' own share.
* The BLAS in use is printed as threadpoolctl reports it. NumPy's OpenBLAS picks its kernel
  at import; ``OPENBLAS_CORETYPE`` forces one (the environment this was written in forces a
  slower one): unset it for the command, ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...``.

Output: one JSON line per configuration (and one for the environment, one per sampling
measurement: G's forward pass in eval mode, 64 images, as ``minigan sample`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
NZ, NGF, NDF, NC, SIZE = 100, 64, 64, 3, 64
PAUSE_S = 0.3  # between two configurations (idle BLAS/OpenMP threads spin about 0.1 s)


# -- the work of a step, from the layer shapes -----------------------------------------------------


def forward_flops(layers, x_shape):
    """Multiply-add FLOPs (2 per MAC) of the convolutions of one forward pass."""
    from minigan.nn import Conv2d, ConvTranspose2d
    from minigan.nn.conv import conv_output_size, conv_transpose_output_size

    n, c, h, w = x_shape
    total = 0
    for layer in layers:
        if isinstance(layer, (Conv2d, ConvTranspose2d)):
            k, s, p = layer.kernel_size, layer.stride, layer.padding
        if isinstance(layer, Conv2d):
            oh, ow = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
            total += 2 * n * layer.out_channels * oh * ow * c * k * k
            c, h, w = layer.out_channels, oh, ow
        elif isinstance(layer, ConvTranspose2d):
            oh, ow = conv_transpose_output_size(h, k, s, p), conv_transpose_output_size(w, k, s, p)
            total += 2 * n * c * h * w * layer.out_channels * k * k
            c, h, w = layer.out_channels, oh, ow
    return total


def step_gflop(G, D, batch):
    g = forward_flops(G.layers, (batch, NZ, 1, 1))
    d = forward_flops(D.layers, (batch, NC, SIZE, SIZE))
    return (3 * d + 3 * 2 * d + g + 2 * g) / 1e9


# -- minigan ------------------------------------------------------------------------------------------


class MiniganRun:
    """One minigan configuration: networks, optimizers, a fixed batch, a kernel mode."""

    def __init__(self, batch, kernels_mode, device="cpu", seed=0):
        import numpy as np

        from minigan import optim
        from minigan.backend import to_device
        from minigan.models.dcgan import Discriminator, Generator

        self.kernels_mode, self.device, self.batch = kernels_mode, device, batch
        self.G = Generator(NZ, NGF, NC, SIZE, rng=1).to(device)
        self.D = Discriminator(NC, NDF, SIZE, rng=2).to(device)
        self.opt_g, self.opt_d = optim.Adam(self.G), optim.Adam(self.D)
        rng = np.random.default_rng(seed)
        self.real = to_device(rng.uniform(-1, 1, (batch, NC, SIZE, SIZE)).astype(np.float32), device)
        self.z = to_device(rng.standard_normal((batch, NZ)).astype(np.float32), device)

    def _sync(self):
        if self.device == "gpu":
            from minigan.backend import get_cupy
            get_cupy().cuda.Device().synchronize()

    def step(self):
        from minigan import kernels
        from minigan.gan import train_step

        with kernels.use_kernels("reference" if self.kernels_mode == "reference" else "auto"):
            t0 = time.perf_counter()
            train_step(self.G, self.D, self.opt_g, self.opt_d, self.real, self.z)
            self._sync()
            return time.perf_counter() - t0

    def sample(self, n=64):
        from minigan import kernels

        z = self.z[:n] if n <= self.batch else self.z
        with kernels.use_kernels("reference" if self.kernels_mode == "reference" else "auto"):
            self.G.eval()
            t0 = time.perf_counter()
            self.G.forward(z)
            self._sync()
            dt = time.perf_counter() - t0
            self.G.train()
            return dt

    def describe(self):
        from minigan import kernels

        if self.kernels_mode == "reference":
            return {"impl": "minigan", "kernels": "reference"}
        backend = kernels.backend_for(self.real).__name__.rsplit(".", 1)[-1]
        return {"impl": "minigan", "kernels": {"cpu": "numba", "gpu": "cupy"}.get(backend, backend)}


# -- PyTorch ------------------------------------------------------------------------------------------


class TorchRun:
    """pytorch/examples' DCGAN step on the same networks (weights copied from a minigan pair)."""

    def __init__(self, batch, device="cpu", weights_from=None, seed=0, channels_last=False, tf32=False):
        import numpy as np
        import torch
        from torch import nn

        if device == "gpu":  # full float32 unless asked (cuDNN's own default is TF32 on)
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cudnn.benchmark = True  # as pytorch/examples' dcgan: fastest algorithms

        torch.set_num_threads(2)
        self.torch, self.batch = torch, batch
        self.dev = torch.device("cuda" if device == "gpu" else "cpu")
        self.G = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(NGF * 8), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 8, NGF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 4), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 2), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF), nn.ReLU(True),
            nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False), nn.Tanh())
        self.D = nn.Sequential(
            nn.Conv2d(NC, NDF, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 4, NDF * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False))
        if weights_from is not None:  # the same starting point as minigan's run
            from minigan.backend import to_numpy
            names = {"W": "weight", "gamma": "weight", "beta": "bias"}
            with torch.no_grad():
                for ours, theirs in ((weights_from.G, self.G), (weights_from.D, self.D)):
                    for layer, tlayer in zip(ours.layers, theirs):
                        for key, value in layer.params.items():
                            # to_numpy: a CuPy array never converts to NumPy implicitly
                            getattr(tlayer, names[key]).copy_(torch.from_numpy(to_numpy(value)))
        self.G.to(self.dev), self.D.to(self.dev)
        self.loss = nn.BCEWithLogitsLoss()
        self.opt_g = torch.optim.Adam(self.G.parameters(), 2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), 2e-4, betas=(0.5, 0.999))
        rng = np.random.default_rng(seed)
        self.real = torch.from_numpy(rng.uniform(-1, 1, (batch, NC, SIZE, SIZE)).astype(np.float32)).to(self.dev)
        self.z = torch.from_numpy(rng.standard_normal((batch, NZ, 1, 1)).astype(np.float32)).to(self.dev)
        self.ones = torch.ones(batch, device=self.dev)
        self.zeros = torch.zeros(batch, device=self.dev)
        self.channels_last = channels_last
        if channels_last:  # PyTorch's own channels-last memory format, as minigan's layers use
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
            self.real = self.real.contiguous(memory_format=torch.channels_last)

    def _sync(self):
        if self.dev.type == "cuda":
            self.torch.cuda.synchronize()

    def step(self):
        t0 = time.perf_counter()
        self.D.zero_grad()
        err_real = self.loss(self.D(self.real).view(-1), self.ones)
        err_real.backward()
        fake = self.G(self.z)
        err_fake = self.loss(self.D(fake.detach()).view(-1), self.zeros)
        err_fake.backward()
        self.opt_d.step()
        self.G.zero_grad()
        err_g = self.loss(self.D(fake).view(-1), self.ones)
        err_g.backward()
        self.opt_g.step()
        self._sync()
        return time.perf_counter() - t0

    def sample(self, n=64):
        self.G.eval()
        with self.torch.no_grad():
            t0 = time.perf_counter()
            self.G(self.z[:n])
            self._sync()
            dt = time.perf_counter() - t0
        self.G.train()
        return dt

    def describe(self):
        return {"impl": "torch", "kernels": None, "memory_format": "channels_last" if self.channels_last else "nchw"}


# -- the environment -------------------------------------------------------------------------------


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_description():
    """NumPy's BLAS as threadpoolctl sees it, e.g. ``openblas 0.3.31 SkylakeX, 2 threads``."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    import numpy  # noqa: F401  (loads the BLAS)

    for info in threadpool_info():
        if info.get("user_api") == "blas" and "numpy" in info.get("filepath", ""):
            return (f"{info.get('internal_api')} {info.get('version')} {info.get('architecture', '')}, "
                    f"{info.get('num_threads')} threads").replace("  ", " ")
    return "unknown"


def environment(args):
    import numpy

    env = {"what": "environment", "cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
           "numpy": numpy.__version__, "blas": blas_description(),
           "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"), "device": args.device}
    try:
        import numba
        env["numba"] = numba.__version__
        env["numba_threading_layer"] = "none (serial kernels)"
    except ImportError:
        env["numba"] = None
    if args.torch:
        import torch
        env["torch"] = torch.__version__
        env["torch_threads"] = 2
        env["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
        if args.device == "gpu":
            env["torch_cuda"], env["cudnn"] = torch.version.cuda, torch.backends.cudnn.version()
    if args.device == "gpu":
        from minigan.backend import get_cupy

        cp = get_cupy()
        env["gpu"] = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"].decode()
        env["cupy"], env["cuda_runtime"] = cp.__version__, cp.cuda.runtime.runtimeGetVersion()
        env["CUPY_TF32"] = os.environ.get("CUPY_TF32")
    return env


# -- peak memory in a separate process ------------------------------------------------------------


def peak_rss_mb():
    """This process's peak resident memory in MB: ``VmHWM`` of /proc/self/status on Linux (it
    starts afresh at exec; ``getrusage``'s maxrss does not: it keeps the parent's from before
    the fork), else ``getrusage``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform != "darwin" else 1024  # KB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / scale


def child_memory(impl, kernels_mode, batch, steps, device, tf32=False):
    """Run in a fresh process: import, build, warm up, ``steps`` steps; print the RSS figures."""
    if impl.startswith("torch"):
        import torch  # noqa: F401
        rss_import = peak_rss_mb()
        run = TorchRun(batch, device, channels_last=impl == "torch-channels-last", tf32=tf32)
    else:
        sys.path.insert(0, ROOT)
        import minigan.nn  # noqa: F401
        from minigan.kernels import backend_for  # noqa: F401
        import numpy as np
        backend_for(np.zeros(1))  # imports numba and the kernels
        rss_import = peak_rss_mb()
        run = MiniganRun(batch, kernels_mode, device)
    for _ in range(steps):
        run.step()
    print(json.dumps({"peak_rss_mb": round(peak_rss_mb(), 1), "rss_after_import_mb": round(rss_import, 1)}))


def measure_memory(impl, kernels_mode, batch, steps, device, tf32=False):
    cmd = [sys.executable, os.path.abspath(__file__), "--child-memory", impl, kernels_mode or "-", str(batch),
           str(steps), "--device", device] + (["--tf32"] if tf32 else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"memory_error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- main -------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--kernels", nargs="+", choices=["numba", "reference"], default=["numba", "reference"],
                        help="minigan kernel sets to time ('numba' is the automatic choice: numba on a CPU)")
    parser.add_argument("--torch", action="store_true", help="time PyTorch on the same network in the same run")
    parser.add_argument("--torch-channels-last", action="store_true",
                        help="also time PyTorch with its channels_last memory format (not pytorch/examples' default)")
    parser.add_argument("--steps", type=int, default=7, help="timed steps per configuration (median reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, or gpu (needs CuPy and an NVIDIA GPU)")
    parser.add_argument("--tf32", action="store_true",
                        help="GPU only: let both libraries multiply float32 matrices on TF32 tensor cores "
                             "(CUPY_TF32=1; PyTorch's allow_tf32 for matmul and cuDNN). Without it both "
                             "compute in full float32 (PyTorch's cuDNN TF32 default is turned off)")
    parser.add_argument("--no-memory", action="store_true", help="skip the separate peak-memory processes")
    parser.add_argument("--sample", type=int, default=64, help="images in the sampling measurement (0: skip)")
    parser.add_argument("--child-memory", nargs=4, metavar=("IMPL", "KERNELS", "BATCH", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    sys.path.insert(0, ROOT)
    from minigan.backend import DeviceError, get_cupy, normalize_device

    args.device = normalize_device(args.device)
    if args.device == "gpu":  # read by CuPy when it creates its cuBLAS handle: set before importing it
        os.environ["CUPY_TF32"] = "1" if args.tf32 else "0"
    if args.device == "gpu":
        try:
            get_cupy()
        except DeviceError as exc:
            print(f"train_step.py: {exc}", file=sys.stderr)
            return 2
    if args.child_memory:
        impl, kernels_mode, batch, steps = args.child_memory
        child_memory(impl, None if kernels_mode == "-" else kernels_mode, int(batch), int(steps), args.device,
                     args.tf32)
        return 0

    print(json.dumps(environment(args)), flush=True)
    for batch in args.batch:
        runs = [MiniganRun(batch, k, args.device) for k in args.kernels]
        torch_run = TorchRun(batch, args.device, weights_from=runs[0], tf32=args.tf32) if args.torch else None
        torch_cl = (TorchRun(batch, args.device, weights_from=runs[0], channels_last=True, tf32=args.tf32)
                    if args.torch and args.torch_channels_last else None)
        configs = runs + [run for run in (torch_run, torch_cl) if run is not None]
        for run in configs:  # warm-up (compiles numba kernels on first use, fills caches)
            for _ in range(args.warmup):
                run.step()
        times = {id(run): [] for run in configs}
        for r in range(args.steps):
            order = configs[r % len(configs):] + configs[:r % len(configs)]  # rotate who goes first
            for run in order:
                time.sleep(PAUSE_S if args.device == "cpu" else 0)  # a GPU has no idle threads to wait for
                times[id(run)].append(run.step())
        torch_ms = statistics.median(times[id(torch_run)]) * 1e3 if torch_run else None
        torch_cl_ms = statistics.median(times[id(torch_cl)]) * 1e3 if torch_cl else None
        gflop = step_gflop(runs[0].G, runs[0].D, batch)
        for run in configs:
            ms = statistics.median(times[id(run)]) * 1e3
            line = {"what": "train_step", **run.describe(), "device": args.device,
                    "tf32": args.tf32 if args.device == "gpu" else None, "batch": batch,
                    "ms_per_step": round(ms, 1), "ms_min": round(min(times[id(run)]) * 1e3, 1),
                    "images_per_s": round(batch / ms * 1e3, 1), "gflop_per_step": round(gflop, 1),
                    "gflop_per_s": round(gflop / ms * 1e3, 1), "steps": args.steps,
                    "vs_torch": round(torch_ms / ms, 3) if torch_ms else None}
            if torch_run:  # the same ratio round by round (neighbours in time share the machine's load)
                line["vs_torch_paired"] = round(statistics.median(
                    t / m for t, m in zip(times[id(torch_run)], times[id(run)])), 3)
            if torch_cl_ms:
                line["vs_torch_channels_last"] = round(torch_cl_ms / ms, 3)
            if not args.no_memory:
                impl = {id(torch_run): "torch", id(torch_cl): "torch-channels-last"}.get(id(run), "minigan")
                line.update(measure_memory(impl, getattr(run, "kernels_mode", None), batch, args.warmup + 2, args.device,
                                           args.tf32))
            print(json.dumps(line), flush=True)
        if args.sample:
            samples = {id(run): [] for run in configs}
            for _ in range(max(3, args.steps)):
                for run in configs:
                    samples[id(run)].append(run.sample(args.sample))
            for run in configs:
                ms = statistics.median(samples[id(run)]) * 1e3
                print(json.dumps({"what": "sample", **run.describe(), "device": args.device, "images": args.sample,
                                  "ms": round(ms, 1), "images_per_s": round(args.sample / ms * 1e3, 1)}), flush=True)
        del runs, torch_run, torch_cl, configs
    return 0


if __name__ == "__main__":
    sys.exit(main())
