"""Independent oracles: results computed another way than minigan computes them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import signal

from minigan import nn, optim
from minigan.backend import to_device, to_numpy
from minigan.kernels import reference

from .cases import DEVICES


def direct_conv2d(x, W, stride, padding):
    """The definition, as nested loops over output pixels."""
    n, c, h, w = x.shape
    f, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    y = np.zeros((n, f, oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]  # (N, C, KH, KW)
        y[:, :, i, j] = np.tensordot(patch, W, axes=([1, 2, 3], [1, 2, 3]))
    return y


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("k,s,p", [(1, 1, 0), (3, 1, 1), (3, 2, 0), (4, 2, 1), (4, 1, 2), (5, 3, 2)])
def test_conv2d_matches_nested_loops(k, s, p, device, rng):
    x, W, b = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, k, k)), rng.standard_normal(4)
    y = to_numpy(nn.conv2d(*(to_device(a, device) for a in (x, W)), stride=s, padding=p, b=to_device(b, device)))
    np.testing.assert_allclose(y, direct_conv2d(x, W, s, p) + b[None, :, None, None], rtol=1e-12, atol=1e-12)


def test_conv2d_matches_scipy_correlate(rng):
    """Stride 1, no padding: a 'valid' cross-correlation summed over input channels."""
    x, W = rng.standard_normal((2, 3, 10, 7)), rng.standard_normal((5, 3, 3, 4))
    expected = np.stack([np.stack([sum(signal.correlate(x[n, c], W[f, c], mode="valid") for c in range(3))
                                   for f in range(5)]) for n in range(2)])
    np.testing.assert_allclose(nn.conv2d(x, W), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("k,s,p,size", [(4, 2, 1, 8), (4, 1, 0, 4), (3, 2, 1, 7), (1, 1, 0, 5), (3, 1, 2, 6), (5, 3, 1, 11)])
def test_conv_transpose_is_the_adjoint_of_conv(k, s, p, size, device, rng):
    """<conv(x), y> == <x, conv_transpose(y)> for the same weights: the defining identity."""
    W = rng.standard_normal((4, 3, k, k))  # conv: 3 -> 4 channels; conv_transpose: 4 -> 3
    x = rng.standard_normal((2, 3, size, size))
    y_shape = nn.conv2d(x, W, s, p).shape
    y = rng.standard_normal(y_shape)
    out_pad = (size + 2 * p - k) % s  # the rows the strided conv never reached
    Wd, xd, yd = (to_device(a, device) for a in (W, x, y))
    xt = to_numpy(nn.conv_transpose2d(yd, Wd, s, p, output_padding=out_pad))
    assert xt.shape == x.shape
    np.testing.assert_allclose(np.vdot(to_numpy(nn.conv2d(xd, Wd, s, p)), y), np.vdot(x, xt), rtol=1e-12)


def test_col2im_is_the_adjoint_of_im2col(rng):
    x = rng.standard_normal((2, 3, 7, 6))
    cols = rng.standard_normal(reference.im2col(x, 3, 3, 2, 1).shape)
    np.testing.assert_allclose(np.vdot(reference.im2col(x, 3, 3, 2, 1), cols),
                               np.vdot(x, reference.col2im(cols, x.shape, 3, 3, 2, 1)), rtol=1e-12)


def test_im2col_layout_matches_its_docstring(rng):
    x = rng.standard_normal((2, 3, 5, 4))
    k, s, p = 3, 2, 1
    cols = reference.im2col(x, k, k, s, p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = 3, 2
    for (c, i, j, n, a, b) in itertools.product(range(3), range(k), range(k), range(2), range(oh), range(ow)):
        assert cols[(c * k + i) * k + j, (n * oh + a) * ow + b] == xp[n, c, a * s + i, b * s + j]


@pytest.mark.parametrize("device", DEVICES)
def test_adam_matches_a_hand_computed_two_step_update(device):
    layer = nn.Linear(2, 1, bias=False)
    layer.params["W"][...] = [[1.0, -2.0]]
    layer.to(device)
    adam = optim.Adam(layer, lr=0.1, betas=(0.5, 0.9), eps=1e-8)
    grads = [np.array([[0.2, -0.4]]), np.array([[-0.1, 0.3]])]
    after = []
    for g in grads:
        layer.zero_grad()
        layer.grads["W"] += to_device(g, device)
        adam.step()
        after.append(to_numpy(layer.params["W"]).copy())
    # by hand: m1 = 0.5*g1, v1 = 0.1*g1^2; m2 = 0.5*m1 + 0.5*g2, v2 = 0.9*v1 + 0.1*g2^2
    g1, g2 = grads
    p = np.array([[1.0, -2.0]])
    m1, v1 = 0.5 * g1, 0.1 * g1**2
    p = p - 0.1 / (1 - 0.5) * m1 / (np.sqrt(v1) / np.sqrt(1 - 0.9) + 1e-8)  # = p - 0.1*sign(g1)
    np.testing.assert_allclose(after[0], p, rtol=1e-6)
    # the first Adam step moves every weight by lr against its gradient's sign (up to eps)
    np.testing.assert_allclose(after[0], [[0.9, -1.9]], rtol=1e-6)
    m2, v2 = 0.5 * m1 + 0.5 * g2, 0.9 * v1 + 0.1 * g2**2
    p = p - 0.1 / (1 - 0.25) * m2 / (np.sqrt(v2) / np.sqrt(1 - 0.81) + 1e-8)
    np.testing.assert_allclose(after[1], p, rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_sgd_momentum_by_hand(device):
    layer = nn.Linear(1, 1, bias=False)
    layer.params["W"][...] = 1.0
    layer.to(device)
    sgd = optim.SGD(layer, lr=0.1, momentum=0.9)
    for g in (1.0, 2.0):
        layer.zero_grad()
        layer.grads["W"] += g
        sgd.step()
    # buf1 = 1, p1 = 0.9; buf2 = 0.9*1 + 2 = 2.9, p2 = 0.9 - 0.29 = 0.61
    np.testing.assert_allclose(to_numpy(layer.params["W"]), [[0.61]], rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_bce_with_logits_is_stable_for_huge_logits(device):
    loss = nn.BCEWithLogitsLoss()
    logits = to_device(np.array([-1000.0, 1000.0, 0.0], dtype=np.float32), device)
    value = float(loss.forward(logits, to_device(np.array([1.0, 0.0, 1.0], dtype=np.float32), device)))
    assert value == pytest.approx((1000 + 1000 + np.log(2)) / 3, rel=1e-6)
    np.testing.assert_allclose(to_numpy(loss.backward()), np.array([-1, 1, -0.5]) / 3, rtol=1e-6)
    assert np.isfinite(to_numpy(loss.backward())).all()


@pytest.mark.parametrize("device", DEVICES)
def test_batchnorm_running_statistics_follow_pytorch_rule(device, rng):
    bn = nn.BatchNorm2d(2, momentum=0.1).to(device)
    x = rng.standard_normal((4, 2, 3, 3)).astype(np.float32) * 2 + 3
    bn.forward(to_device(x, device))
    m = 4 * 3 * 3
    running_mean, running_var = to_numpy(bn.running_mean), to_numpy(bn.running_var)
    np.testing.assert_allclose(running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(running_var, 0.9 + 0.1 * x.var(axis=(0, 2, 3)) * m / (m - 1), rtol=1e-5)
    bn.eval()
    y = to_numpy(bn.forward(to_device(x, device)))
    expected = (x - running_mean[None, :, None, None]) / np.sqrt(running_var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
