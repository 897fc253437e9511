"""Test helpers: one call checks a layer, so each test is a line."""

from __future__ import annotations

from minigan.gradcheck import check_layer


def assert_gradients(layer, x, tol=1e-6, **kwargs):
    """Gradient-check ``layer`` at ``x`` in float64 and fail with the full report if wrong."""
    result = check_layer(layer, x, tol=tol, **kwargs)
    result.assert_ok()
    return result
