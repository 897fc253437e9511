#!/usr/bin/env bash
# One run on a GPU machine that checks everything minigan does on a GPU, and writes its results.
#
#   OUT=/some/folder bash benchmarks/gpu_check.sh        # from the repository root
#
# Needs: python3 with CuPy (for the machine's CUDA), numba, numpy, pillow, scipy, torch (with
# CUDA) and pytest. Nothing is installed; minigan runs from the tree (PYTHONPATH=.). If pytest
# is missing, put a pure-Python copy in .pytest_vendor/ (pip install --target .pytest_vendor pytest):
# it is added to PYTHONPATH when present.
#
# Stages (each with its own time limit, so that one hang cannot eat the others; the whole run
# takes about 5-7 minutes, kernel compilation included, within BUDGET_S = 450 s):
#   a. the GPU tests: python3 -m pytest -m gpu (tests/test_gpu.py and every device-parametrised
#      test's GPU case)
#   b. a quick smoke step; if minigan's CUDA kernels fail, (c) and (d) use MINIGAN_KERNELS=reference
#      (CuPy array code only) and say so, so that the run still measures something
#   c. benchmarks/train_step.py --device gpu --torch for batch 64, 128 and 512: fp32 with TF32 off
#      for both libraries, then TF32 for both (CUPY_TF32=1 / torch allow_tf32); images/s, ms/step
#      and the ratio to PyTorch (cuDNN) measured in the same run
#   d. the default training run, python3 examples/train_idols.py --device gpu, timed
#
# Written under $OUT (8 files at most, none of them a checkpoint):
#   summary.txt          what ran, how long, pass/fail counts, the benchmark table, the run's time
#   pytest.txt           the GPU tests' output
#   benchmark.jsonl      the benchmark's JSON lines (both precisions)
#   train.txt            the training run's output
#   samples_final.png    the run's last fixed-noise grid
#   progress.gif         the run's progress GIF
#   losses.png           its loss curves
#   fooled.png           the samples its discriminator rates most real

set -u
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder for the results}
mkdir -p "$OUT"
BUDGET_S=${BUDGET_S:-450}
WORK=$(mktemp -d /tmp/minigan-gpu-check.XXXXXX)
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
[ -d .pytest_vendor ] && export PYTHONPATH="$PYTHONPATH:$PWD/.pytest_vendor"
unset CUPY_TF32 NVIDIA_TF32_OVERRIDE  # fp32 means fp32, unless a stage asks for TF32
START=$(date +%s)
SUMMARY="$OUT/summary.txt"

say() { echo "$*" | tee -a "$SUMMARY"; }
elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( BUDGET_S - $(elapsed) )); }

: > "$SUMMARY"
say "minigan GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu: /' | tee -a "$SUMMARY"
python3 - <<'EOF' 2>&1 | tee -a "$SUMMARY"
import platform
print("python", platform.python_version())
for name in ("numpy", "numba", "cupy", "torch", "pytest"):
    try:
        module = __import__(name)
        print(f"{name} {module.__version__}", end="")
        if name == "cupy":
            rt = module.cuda.runtime
            print(f" (CUDA runtime {rt.runtimeGetVersion()}, {rt.getDeviceProperties(0)['name'].decode()})", end="")
        if name == "torch":
            print(f" (cuda {module.version.cuda}, cudnn {module.backends.cudnn.version()}, "
                  f"available {module.cuda.is_available()})", end="")
        print()
    except Exception as exc:  # report and carry on: the stages say what they could not do
        print(f"{name}: NOT AVAILABLE ({exc.__class__.__name__}: {exc})")
EOF

# -- a. the GPU tests ---------------------------------------------------------------------------------
say ""
say "== a. GPU tests: python3 -m pytest -m gpu"
t0=$(date +%s)
timeout -k 10 200 python3 -m pytest -m gpu -q -ra -p no:cacheprovider > "$OUT/pytest.txt" 2>&1
rc=$?
say "exit $rc after $(( $(date +%s) - t0 )) s (124: the 200 s limit); last lines:"
tail -n 3 "$OUT/pytest.txt" | sed 's/^/  /' | tee -a "$SUMMARY"
grep -E "^(FAILED|ERROR)" "$OUT/pytest.txt" | head -n 15 | sed 's/^/  /' | tee -a "$SUMMARY"

# -- b. smoke step: do minigan's CUDA kernels work at all? ----------------------------------------------
say ""
say "== b. smoke: one DCGAN training step on the GPU"
SMOKE='
import numpy as np
from minigan import kernels, optim
from minigan.backend import to_device
from minigan.gan import train_step
from minigan.models.dcgan import Discriminator, Generator
G, D = Generator(rng=1).to("gpu"), Discriminator(rng=2).to("gpu")
rng = np.random.default_rng(0)
real = to_device(rng.uniform(-1, 1, (8, 3, 64, 64)).astype(np.float32), "gpu")
z = to_device(rng.standard_normal((8, 100)).astype(np.float32), "gpu")
r = train_step(G, D, optim.Adam(G), optim.Adam(D), real, z)
print("kernels:", kernels.backend_for(real).__name__, "losses:", float(r.loss_d), float(r.loss_g))
'
if timeout -k 10 120 python3 -c "$SMOKE" > "$WORK/smoke.txt" 2>&1; then
    tail -n 1 "$WORK/smoke.txt" | tee -a "$SUMMARY"
    say "ok: minigan.kernels.gpu serves CuPy arrays"
else
    tail -n 4 "$WORK/smoke.txt" | sed 's/^/  /' | tee -a "$SUMMARY"
    say "FAILED with minigan's CUDA kernels; trying the reference kernels on CuPy arrays"
    if MINIGAN_KERNELS=reference timeout -k 10 120 python3 -c "$SMOKE" > "$WORK/smoke.txt" 2>&1; then
        tail -n 1 "$WORK/smoke.txt" | tee -a "$SUMMARY"
        export MINIGAN_KERNELS=reference
        say "ok with MINIGAN_KERNELS=reference: stages c and d use it (NOT the CUDA kernels)"
    else
        tail -n 4 "$WORK/smoke.txt" | sed 's/^/  /' | tee -a "$SUMMARY"
        say "FAILED with the reference kernels too: stages c and d will fail"
    fi
fi

# -- c. benchmark against PyTorch ----------------------------------------------------------------------
say ""
say "== c. benchmarks/train_step.py --device gpu --torch, batch 64 128 512"
: > "$OUT/benchmark.jsonl"
for precision in fp32 tf32; do
    flag=""
    [ "$precision" = tf32 ] && flag="--tf32"
    kernels_arg="numba reference"  # "numba" is train_step.py's name for the automatic choice: gpu.py here
    [ "$precision" = tf32 ] && kernels_arg="numba"  # the reference kernels once is enough
    [ "${MINIGAN_KERNELS:-}" = reference ] && kernels_arg="reference"  # the fallback of stage b
    t0=$(date +%s)
    timeout -k 10 150 python3 benchmarks/train_step.py --device gpu --torch $flag --batch 64 128 512 \
        --kernels $kernels_arg --steps 20 --warmup 3 --no-memory >> "$OUT/benchmark.jsonl" 2> "$WORK/bench_$precision.err"
    rc=$?
    say "$precision: exit $rc after $(( $(date +%s) - t0 )) s"
    [ $rc -ne 0 ] && tail -n 5 "$WORK/bench_$precision.err" | sed 's/^/  /' | tee -a "$SUMMARY"
done
python3 - "$OUT/benchmark.jsonl" <<'EOF' 2>&1 | tee -a "$SUMMARY"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
steps = [r for r in rows if r.get("what") == "train_step"]
print(f"{'impl':<9}{'kernels':<11}{'tf32':<6}{'batch':>6}{'ms/step':>10}{'images/s':>11}{'vs torch':>10}")
for r in steps:
    ratio = r.get("vs_torch")
    print(f"{r['impl']:<9}{str(r.get('kernels')):<11}{str(r.get('tf32')):<6}{r['batch']:>6}{r['ms_per_step']:>10}"
          f"{r['images_per_s']:>11}{'' if ratio is None else ratio:>10}")
if not steps:
    print("(no benchmark lines)")
EOF

# -- d. the default training run ---------------------------------------------------------------------------
say ""
limit=$(( $(left) - 25 ))
[ $limit -gt 300 ] && limit=300
say "== d. python3 examples/train_idols.py --device gpu (limit ${limit} s; Ctrl-C then, which saves and stops)"
if [ $limit -lt 30 ]; then
    say "skipped: no time left in the budget"
else
    t0=$(date +%s.%N)
    timeout -s INT -k 30 "$limit" python3 examples/train_idols.py --device gpu --out "$WORK/runs" > "$OUT/train.txt" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    say "exit $rc (130 or 124: stopped at the limit) after $(python3 -c "print(f'{$t1 - $t0:.1f}')") s wall, data and pictures included"
    grep -E "^(training on|done:|interrupted|epoch (1|10|20|30|40|50|60)/[0-9]+: )" "$OUT/train.txt" | sed 's/^/  /' | tee -a "$SUMMARY"
    run="$WORK/runs/idols"
    last=$(ls "$run"/samples/epoch_[0-9][0-9][0-9].png 2>/dev/null | tail -n 1)
    [ -n "$last" ] && cp "$last" "$OUT/samples_final.png" && say "final grid: $(basename "$last")"
    for f in progress.gif losses.png fooled.png; do
        [ -f "$run/$f" ] && cp "$run/$f" "$OUT/$f"
    done
fi

say ""
say "total $(elapsed) s; files in \$OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
rm -rf "$WORK"
