"""First-call cost of the numba kernels: run it twice, with a cold and then a warm cache.

    NUMBA_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/minigan/numba-benchmark" python benchmarks/compile_cost.py  # cold, if new
    NUMBA_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/minigan/numba-benchmark" python benchmarks/compile_cost.py  # warm

Prints the time of the first and of the second DCGAN training step (batch 64) in a fresh
process, float32, and of a float64 forward/backward of every kernel-using layer (what a
gradient check compiles). The difference between the first and second step is the compile
(cold) or cache-load (warm) cost. Without NUMBA_CACHE_DIR the cache lives in
minigan/kernels/__pycache__.
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

t_start = time.perf_counter()
import numpy as np  # noqa: E402

from minigan import optim  # noqa: E402
from minigan.gan import train_step  # noqa: E402
from minigan.models.dcgan import Discriminator, Generator  # noqa: E402

t_import = time.perf_counter() - t_start
rng = np.random.default_rng(0)
G, D = Generator(rng=1), Discriminator(rng=2)
opt_g, opt_d = optim.Adam(G), optim.Adam(D)
real = rng.uniform(-1, 1, (64, 3, 64, 64)).astype(np.float32)
z = rng.standard_normal((64, 100)).astype(np.float32)
steps = []
for _ in range(3):
    t0 = time.perf_counter()
    train_step(G, D, opt_g, opt_d, real, z)
    steps.append(time.perf_counter() - t0)
# float64: the specialisations a gradient check compiles
small_g, small_d = Generator(nz=4, ngf=4, image_size=8, rng=1).astype(np.float64), Discriminator(ndf=4, image_size=8, rng=2).astype(np.float64)
t0 = time.perf_counter()
train_step(small_g, small_d, optim.Adam(small_g), optim.Adam(small_d), rng.uniform(-1, 1, (4, 3, 8, 8)),
           rng.standard_normal((4, 4)))
t_f64 = time.perf_counter() - t0
print(json.dumps({"import_s": round(t_import, 2), "first_step_s": round(steps[0], 2), "second_step_s": round(steps[1], 2),
                  "third_step_s": round(steps[2], 2), "first_compile_or_load_s": round(steps[0] - steps[2], 2),
                  "float64_first_step_s": round(t_f64, 2),
                  "cache_dir": os.environ.get("NUMBA_CACHE_DIR", "minigan/kernels/__pycache__")}))
