"""Test helpers: one call checks a layer, or compares two arrays, so each test is a line.

The comparisons take arrays on either device (NumPy or CuPy) and compare them on the host, so
the CPU tests and the GPU tests (tests/test_gpu.py) use the same helpers.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from minigan.backend import get_array_module, to_numpy
from minigan.gradcheck import WithLabels, check_layer
from minigan.train import Trainer

from .cases import tiny_train_config

#: The rounding of each dtype, relative to an array's largest entry: the default tolerance of
#: :func:`assert_close`.
ROUNDING = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12}


def assert_gradients(layer, x, tol=1e-6, **kwargs):
    """Gradient-check ``layer`` at ``x`` in float64 and fail with the full report if wrong."""
    result = check_layer(layer, x, tol=tol, **kwargs)
    result.assert_ok()
    return result


def channels_last(x):
    """The same (N, C, H, W) values stored channels-last, as minigan's layers return them."""
    xp = get_array_module(x)
    return xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def assert_same_bits(ours, theirs):
    """The same dtype, shape and bits (either array on either device)."""
    a, b = to_numpy(ours), to_numpy(theirs)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    np.testing.assert_array_equal(a, b)


def assert_close(ours, theirs, rtol=None, atol=0.0, what=""):
    """``ours`` within ``rtol`` times the largest entry of ``theirs``, plus ``atol`` (either
    array on either device; the same dtype and shape).

    ``rtol`` defaults to the rounding of the dtype (:data:`ROUNDING`: 1e-6 for float32, 1e-12
    for float64). The error is measured against the largest entry, not entry by entry: a sum
    rounded another way is off by a rounding of the sum's size, however small the result.
    """
    a, b = to_numpy(ours), to_numpy(theirs)
    assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {a.dtype}{a.shape} against {b.dtype}{b.shape}"
    rtol = ROUNDING[a.dtype] if rtol is None else rtol
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    err = float(np.max(np.abs(a.astype(np.float64) - b))) if b.size else 0.0
    assert err <= rtol * scale + atol, f"{what}: max |difference| {err:.3g} at scale {scale:.3g} (rtol {rtol:g})"


def run_python(code, **env):
    """Run ``code`` in a fresh Python (with ``env`` added to the environment); its stdout, stripped."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **env}).stdout.strip()


def weights(trainer) -> dict:
    """Every array of a trainer's two models as NumPy copies, ``"G/0.W"``, ``"D/3.running_mean"``..."""
    return {**{f"G/{k}": np.array(to_numpy(v)) for k, v in trainer.G.state_dict().items()},
            **{f"D/{k}": np.array(to_numpy(v)) for k, v in trainer.D.state_dict().items()}}


def assert_same_weights(a: dict, b: dict) -> None:
    """Two :func:`weights` dicts hold the same names and the same bits."""
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)



def assert_resume_is_exact(tmp_path, dataset, **settings):
    """A tiny run of ``settings`` stopped after one epoch and resumed to two ends with the weights
    of the same run never stopped (tmp_path/a and tmp_path/b); returns that straight trainer."""
    Trainer(tiny_train_config(tmp_path / "a", epochs=1, **settings), dataset=dataset).run()
    resumed = Trainer(resume=tmp_path / "a" / "run", overrides={"epochs": 2}, dataset=dataset)
    resumed.run()
    straight = Trainer(tiny_train_config(tmp_path / "b", **settings), dataset=dataset)
    straight.run()
    assert_same_weights(weights(straight), weights(resumed))
    return straight

class BothOutputs(WithLabels):
    """A discriminator with a classifier as one layer of output ``(N, 1 + sum K)``: its logit, then
    its aux_logits, so that check_layer checks the input and every parameter through both."""

    def forward(self, x):
        logit = self.layer.forward(x, self.labels)
        return get_array_module(logit).concatenate([logit[:, None], self.layer.aux_logits], axis=1)

    def backward(self, dy):
        xp = get_array_module(dy)
        return self.layer.backward(xp.ascontiguousarray(dy[:, 0]), xp.ascontiguousarray(dy[:, 1:]))
