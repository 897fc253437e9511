"""A stand-in for CuPy that runs :mod:`minigan.kernels.gpu` on the CPU, for machines without a GPU.

``minigan/kernels/gpu.py`` uses four things from CuPy: ``ElementwiseKernel``, ``ReductionKernel``,
``empty``/``empty_like`` and ``ascontiguousarray``. :func:`stand_in_cupy` returns a module with
those four, working on NumPy arrays: the array functions are NumPy's, and each kernel's CUDA C
body is pasted into a C++ loop, the way CuPy pastes it into a CUDA kernel, compiled with g++
(``-ffp-contract=off``, as ``--fmad=false``) and called through ctypes. So the index
arithmetic, the formulas and the Python wrappers of gpu.py run and can be compared with the
reference kernels here; what this cannot check is CuPy itself (its launch, its broadcasting,
its compiler). :func:`import_gpu_kernels` imports gpu.py against the stand-in (without leaving it
where the dispatcher would find it). :func:`cuda_check` compiles the same bodies as CUDA with nvcc, which at least
proves them valid device code.

What the stand-in does as CuPy does (and raises where CuPy would): a kernel's ``T`` is the
dtype of its first ``T`` array, every other ``T`` array must have it; non-raw arguments are
broadcast together; missing outputs are allocated C-contiguous; one output is returned as
an array, several as a tuple (ElementwiseKernel); a ReductionKernel reduces over ``axis``,
writes the outputs given after the inputs (it returns the first). Its reductions add in row
order (CuPy's run in a tree), like ``cpu.py``'s numba sums.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types

import numpy as np

__all__ = ["stand_in_cupy", "import_gpu_kernels", "cuda_check", "have_compiler", "have_nvcc"]

_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.bool_): "bool",
          np.dtype(np.int32): "int", np.dtype(np.int64): "long long"}
_CTYPES_SCALAR = {"float": ctypes.c_float, "double": ctypes.c_double, "bool": ctypes.c_bool, "int": ctypes.c_int,
                  "long long": ctypes.c_longlong}
_NAMED = {"float32": np.float32, "float64": np.float64, "bool": np.bool_, "int32": np.int32, "int64": np.int64}

_PRELUDE = """#include <cmath>
#include <algorithm>
using std::min; using std::max; using std::sqrt; using std::fmax;
#define __device__
"""

_CACHE = os.path.join(tempfile.gettempdir(), f"minigan-cupy-on-cpu-{os.getuid()}")


def have_compiler() -> bool:
    return shutil.which("g++") is not None


def have_nvcc() -> bool:
    return shutil.which("nvcc") is not None


def _params(spec: str):
    """``"raw T x, int32 h"`` -> ``[(raw, type, name), ...]`` (type: "T" or a numpy dtype)."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        words = item.split()
        raw = words[0] == "raw"
        type_name, name = words[-2], words[-1]
        out.append((raw, "T" if type_name == "T" else np.dtype(_NAMED[type_name]), name))
    return out


@functools.cache
def _compile(source: str):
    """The shared library of a C++ ``source`` (compiled once per source, cached on disk, loaded
    once per process)."""
    os.makedirs(_CACHE, exist_ok=True)
    key = hashlib.sha1(source.encode()).hexdigest()[:16]
    lib = os.path.join(_CACHE, f"k{key}.so")
    if not os.path.exists(lib):
        src = os.path.join(_CACHE, f"k{key}.cpp")
        with open(src, "w") as f:
            f.write(source)
        tmp = lib + f".{os.getpid()}.tmp"
        subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-ffp-contract=off", "-std=c++17", "-o", tmp, src],
                       check=True, capture_output=True, text=True)
        os.replace(tmp, lib)
    return ctypes.CDLL(lib)


class _Kernel:
    """What ElementwiseKernel and ReductionKernel share: parameters, type binding, arguments."""

    def __init__(self, in_params, out_params, name, preamble="", options=()):
        self.ins, self.outs = _params(in_params), _params(out_params)
        self.name, self.preamble = name, preamble  # options (nvcc flags) mean nothing to g++
        self.sources = {}  # T's C type -> the C++ source last compiled (for cuda_check)

    def _bind(self, args):
        """The dtype ``T`` stands for: that of the first array (else scalar) given for a T parameter."""
        t = None
        for (raw, typ, name), a in zip(self.ins + self.outs, args):
            if typ == "T" and isinstance(a, np.ndarray):
                if t is None:
                    t = a.dtype
                elif a.dtype != t:
                    raise TypeError(f"{self.name}: {name} is {a.dtype} but T is {t}")
        if t is None:
            for (raw, typ, name), a in zip(self.ins, args):
                if typ == "T" and isinstance(a, np.generic):
                    return a.dtype
            if any(typ == "T" for _, typ, _ in self.ins + self.outs):
                raise TypeError(f"{self.name}: cannot tell what T is")
        return t  # None: the kernel has no T

    @staticmethod
    def _dtype(typ, t):
        return t if typ == "T" else typ

    def _scalar(self, typ, t, value):
        ctype = _CTYPE[self._dtype(typ, t)]
        return _CTYPES_SCALAR[ctype](self._dtype(typ, t).type(value).item())

    def _head(self, t):
        return _PRELUDE + (f"typedef {_CTYPE[t]} T;\n" if t is not None else "") + self.preamble + "\n"


class ElementwiseKernel(_Kernel):
    def __init__(self, in_params, out_params, operation, name="kernel", preamble="", options=(), **_):
        super().__init__(in_params, out_params, name, preamble, options)
        self.operation = operation

    def source(self, t, scalars):
        params = ["long long _size"]
        for (raw, typ, name), is_scalar in zip(self.ins, scalars):
            params.append(f"{_CTYPE[self._dtype(typ, t)]} {name}" if is_scalar else
                          f"{_CTYPE[self._dtype(typ, t)]}* {name if raw else '_raw_' + name}")
        params += [f"{_CTYPE[self._dtype(typ, t)]}* {name if raw else '_raw_' + name}" for raw, typ, name in self.outs]
        loads = [f"const {_CTYPE[self._dtype(typ, t)]} {name} = _raw_{name}[i];"
                 for (raw, typ, name), is_scalar in zip(self.ins, scalars) if not raw and not is_scalar]
        refs = [f"{_CTYPE[self._dtype(typ, t)]} &{name} = _raw_{name}[i];" for raw, typ, name in self.outs if not raw]
        body = "\n        ".join(loads + refs)
        return (self._head(t) + f'extern "C" void {self.name}({", ".join(params)}) {{\n'
                f"    for (long long i = 0; i < _size; ++i) {{\n        {body}\n        {self.operation}\n    ;}}\n}}\n")

    def __call__(self, *args, size=None):
        if len(args) not in (len(self.ins), len(self.ins) + len(self.outs)):
            raise TypeError(f"{self.name}: wrong number of arguments")
        t = self._bind(args)
        given_outs = list(args[len(self.ins):])
        arrays = [a for (raw, _, _), a in zip(self.ins + self.outs, args) if not raw and isinstance(a, np.ndarray)]
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else (size,)
        scalars = [not isinstance(a, np.ndarray) for a in args[:len(self.ins)]]
        call = []
        for (raw, typ, name), a, is_scalar in zip(self.ins, args, scalars):
            if is_scalar:
                call.append(self._scalar(typ, t, a))
            else:
                if a.dtype != self._dtype(typ, t):
                    raise TypeError(f"{self.name}: {name} is {a.dtype}, expected {self._dtype(typ, t)}")
                a = np.ascontiguousarray(a if raw else np.broadcast_to(a, shape))
                call.append(a)
        outs, work = [], []
        for k, (raw, typ, name) in enumerate(self.outs):
            out = given_outs[k] if k < len(given_outs) else np.empty(shape, dtype=self._dtype(typ, t))
            if not raw and out.shape != shape:
                raise ValueError(f"{self.name}: output {name} has shape {out.shape}, expected {shape}")
            outs.append(out)
            work.append(out if out.flags.c_contiguous else np.ascontiguousarray(out))
        source = self.source(t, scalars)
        self.sources[_CTYPE.get(t, "none")] = source
        fn = getattr(_compile(source), self.name)
        fn(ctypes.c_longlong(int(np.prod(shape))),
           *[a if not isinstance(a, np.ndarray) else ctypes.c_void_p(a.ctypes.data) for a in call],
           *[ctypes.c_void_p(w.ctypes.data) for w in work])
        for out, w in zip(outs, work):
            if w is not out:
                out[...] = w
        return outs[0] if len(outs) == 1 else tuple(outs)


class ReductionKernel(_Kernel):
    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name="reduce_kernel",
                 reduce_type=None, preamble="", options=(), **_):
        super().__init__(in_params, out_params, name, preamble, options)
        self.map_expr, self.reduce_expr, self.post_map_expr = map_expr, reduce_expr, post_map_expr
        self.identity, self.reduce_type = identity, reduce_type

    def source(self, t, scalars):
        params = ["long long _outer", "long long _inner"]
        for (raw, typ, name), is_scalar in zip(self.ins, scalars):
            params.append(f"{_CTYPE[self._dtype(typ, t)]} {name}" if is_scalar else
                          f"{_CTYPE[self._dtype(typ, t)]}* _raw_{name}")
        params += [f"{_CTYPE[self._dtype(typ, t)]}* _raw_{name}" for raw, typ, name in self.outs]
        loads = [f"const {_CTYPE[self._dtype(typ, t)]} {name} = _raw_{name}[_j];"
                 for (raw, typ, name), is_scalar in zip(self.ins, scalars) if not is_scalar]
        refs = [f"{_CTYPE[self._dtype(typ, t)]} &{name} = _raw_{name}[_o];" for raw, typ, name in self.outs]
        reduce_type = self.reduce_type or (
            "T" if self.outs[0][1] == "T" else _CTYPE[self.outs[0][1]])
        return (self._head(t) + f"typedef {reduce_type} _type_reduce;\n"
                f"#define REDUCE(a, b) ({self.reduce_expr})\n#define POST_MAP(a) ({self.post_map_expr})\n"
                f'extern "C" void {self.name}({", ".join(params)}) {{\n'
                "    for (long long _o = 0; _o < _outer; ++_o) {\n"
                f"        _type_reduce _s = _type_reduce({self.identity});\n"
                "        for (long long _r = 0; _r < _inner; ++_r) {\n"
                "            const long long _j = _o * _inner + _r;\n"
                f"            {' '.join(loads)}\n"
                f"            _type_reduce _a = static_cast<_type_reduce>({self.map_expr});\n"
                "            _s = REDUCE(_s, _a);\n"
                "        }\n"
                f"        {' '.join(refs)}\n"
                "        POST_MAP(_s);\n"
                "    }\n}\n")

    def __call__(self, *args, axis=None, keepdims=False):
        if keepdims:
            raise NotImplementedError("keepdims")
        if len(args) not in (len(self.ins), len(self.ins) + len(self.outs)):
            raise TypeError(f"{self.name}: wrong number of arguments")
        if any(raw for raw, _, _ in self.ins + self.outs):
            raise NotImplementedError("raw parameters in a reduction")
        t = self._bind(args)
        ins = args[:len(self.ins)]
        scalars = [not isinstance(a, np.ndarray) for a in ins]
        shape = np.broadcast_shapes(*(a.shape for a in ins if isinstance(a, np.ndarray)))
        ndim = len(shape)
        axes = tuple(range(ndim)) if axis is None else tuple(sorted(a % ndim for a in np.atleast_1d(axis)))
        kept = tuple(a for a in range(ndim) if a not in axes)
        out_shape = tuple(shape[a] for a in kept)
        outer, inner = int(np.prod(out_shape)), int(np.prod([shape[a] for a in axes]))
        call = []
        for (raw, typ, name), a, is_scalar in zip(self.ins, ins, scalars):
            if is_scalar:
                call.append(self._scalar(typ, t, a))
            else:
                if a.dtype != self._dtype(typ, t):
                    raise TypeError(f"{self.name}: {name} is {a.dtype}, expected {self._dtype(typ, t)}")
                call.append(np.ascontiguousarray(np.broadcast_to(a, shape).transpose(kept + axes)).reshape(outer, inner))
        given = list(args[len(self.ins):])
        outs = [given[k] if k < len(given) else np.empty(out_shape, dtype=self._dtype(typ, t))
                for k, (raw, typ, name) in enumerate(self.outs)]
        for out, (raw, typ, name) in zip(outs, self.outs):
            if out.shape != out_shape or out.dtype != self._dtype(typ, t):
                raise ValueError(f"{self.name}: output {name} is {out.shape} {out.dtype}, expected {out_shape}")
        work = [o if o.flags.c_contiguous else np.ascontiguousarray(o) for o in outs]
        source = self.source(t, scalars)
        self.sources[_CTYPE.get(t, "none")] = source
        getattr(_compile(source), self.name)(
            ctypes.c_longlong(outer), ctypes.c_longlong(inner),
            *[a if not isinstance(a, np.ndarray) else ctypes.c_void_p(a.ctypes.data) for a in call],
            *[ctypes.c_void_p(w.ctypes.data) for w in work])
        for out, w in zip(outs, work):
            if w is not out:
                out[...] = w
        return outs[0]


def stand_in_cupy() -> types.ModuleType:
    """A module that passes for ``cupy`` as far as :mod:`minigan.kernels.gpu` is concerned."""
    module = types.ModuleType("cupy")
    module.__doc__ = __doc__
    module.ElementwiseKernel, module.ReductionKernel = ElementwiseKernel, ReductionKernel
    module.empty, module.empty_like, module.ascontiguousarray = np.empty, np.empty_like, np.ascontiguousarray
    module.float64 = np.float64
    return module


@functools.cache
def import_gpu_kernels() -> types.ModuleType:
    """minigan.kernels.gpu imported against the stand-in CuPy (removed again afterwards, so that
    the dispatcher never sees it). Imported once; its kernels compile when they first run."""
    from minigan import kernels

    saved = {name: sys.modules.get(name) for name in ("cupy", "minigan.kernels.gpu")}
    sys.modules["cupy"] = stand_in_cupy()
    sys.modules.pop("minigan.kernels.gpu", None)
    try:
        module = importlib.import_module("minigan.kernels.gpu")
    finally:
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value
        if hasattr(kernels, "gpu") and "minigan.kernels.gpu" not in sys.modules:
            delattr(kernels, "gpu")
    return module


def cuda_check(kernels, arch: str = "sm_90") -> str:
    """Compile the bodies of ``kernels`` (stand-in kernels that have run, so their C++ sources
    exist) as CUDA device code with nvcc, one ``__global__`` function each; returns nvcc's
    output, raises ``subprocess.CalledProcessError`` (with it) when they do not compile."""
    units = []
    for k in kernels:
        for ctype, source in k.sources.items():
            code = source.replace(_PRELUDE, "").replace('extern "C" void', '__global__ void')
            # the CPU loop becomes CuPy's grid-stride loop over the same index
            code = re.sub(r"for \(long long i = 0; i < _size; \+\+i\)",
                          "for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < _size; "
                          "i += (long long)blockDim.x * gridDim.x)", code)
            code = code.replace(f"void {k.name}(", f"void {k.name}_{ctype.replace(' ', '_')}(")
            units.append(f"#undef REDUCE\n#undef POST_MAP\nnamespace {k.name}_{ctype.replace(' ', '_')}_ns {{\n{code}\n}}\n")
    if not units:
        raise ValueError("no kernel has run yet: nothing to compile")
    os.makedirs(_CACHE, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".cu", dir=_CACHE, delete=False) as f:
        f.write("\n".join(units))
    try:
        done = subprocess.run(["nvcc", f"-arch={arch}", "--fmad=false", "-std=c++17", "--ptx", "-o", os.devnull,
                               f.name], check=True, capture_output=True, text=True)
        return done.stdout + done.stderr
    finally:
        os.unlink(f.name)
