"""Test helpers: one call checks a layer, or compares two arrays, so each test is a line."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from minigan.gradcheck import check_layer

DTYPES = [np.float32, np.float64]


def assert_gradients(layer, x, tol=1e-6, **kwargs):
    """Gradient-check ``layer`` at ``x`` in float64 and fail with the full report if wrong."""
    result = check_layer(layer, x, tol=tol, **kwargs)
    result.assert_ok()
    return result


def channels_last(x):
    """The same (N, C, H, W) values stored channels-last, as minigan's layers return them."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def assert_same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def assert_close(a, b, dtype):
    """``a`` within 1e-6 (float32) or 1e-12 (float64) of ``b``, relative to ``a``'s largest entry."""
    tol = 1e-6 if dtype == np.float32 else 1e-12
    assert a.dtype == b.dtype and a.shape == b.shape
    scale = max(float(np.max(np.abs(a))), 1e-30)
    assert float(np.max(np.abs(a - b))) <= tol * scale, float(np.max(np.abs(a - b))) / scale


def run_python(code, **env):
    """Run ``code`` in a fresh Python (with ``env`` added to the environment); its stdout, stripped."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **env}).stdout.strip()
