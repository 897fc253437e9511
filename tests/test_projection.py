"""The projection discriminator's class term (minigan.nn.Projection): its value by hand, its
backward pass against finite differences in float64 (with labels that repeat, so the table
rows' gradients must add up), against PyTorch where it is installed, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import nn
from minigan.gradcheck import WithLabels

from .helpers import assert_gradients


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    layer = nn.Projection(5, (3, 4), rng=1)
    x = rng.standard_normal((6, 5, 3, 3)).astype(np.float32)
    labels = np.array([[0, 3], [2, 3], [0, 0], [1, 2], [0, 3], [2, 1]])  # (0, 3) twice: rows add up
    return layer, x, labels


def test_the_value_is_the_inner_product_of_pooled_features_and_the_label_rows(case):
    layer, x, labels = case
    out = layer.forward(x, labels)
    E0, E1 = layer.params["E0"].astype(np.float64), layer.params["E1"].astype(np.float64)
    phi = x.astype(np.float64).sum(axis=(2, 3))
    expected = [phi[n] @ E0[labels[n, 0]] + phi[n] @ E1[labels[n, 1]] for n in range(6)]
    assert out.shape == (6,) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_the_backward_pass_agrees_with_finite_differences_in_float64(case):
    layer, x, labels = case
    result = assert_gradients(WithLabels(layer, labels), x)
    assert {c.name for c in result.checks} == {"x", "layer.E0", "layer.E1"}


def test_the_table_gradient_adds_up_over_repeated_labels_by_hand(case):
    layer, x, labels = case
    layer.zero_grad()
    layer.forward(x, labels)
    dout = np.arange(1, 7, dtype=np.float32)
    dx = layer.backward(dout)
    phi = x.sum(axis=(2, 3))
    np.testing.assert_allclose(layer.grads["E1"][3], dout[0] * phi[0] + dout[1] * phi[1] + dout[4] * phi[4], rtol=1e-5)
    np.testing.assert_allclose(layer.grads["E1"][0], dout[2] * phi[2], rtol=1e-5)  # class 0: idol 2 alone
    rows = layer.params["E0"][labels[:, 0]] + layer.params["E1"][labels[:, 1]]
    np.testing.assert_allclose(dx, np.broadcast_to((dout[:, None] * rows)[:, :, None, None], x.shape), rtol=1e-6)
    assert dx.shape == x.shape and dx.transpose(0, 2, 3, 1).flags["C_CONTIGUOUS"]  # channels-last, as every map


def test_it_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    layer, x, labels = case
    tables = [torch.tensor(layer.params[f"E{a}"], requires_grad=True) for a in range(2)]
    xt = torch.tensor(x, requires_grad=True)
    phi = xt.sum(dim=(2, 3))
    out = sum((torch.nn.functional.embedding(torch.tensor(labels[:, a]), tables[a]) * phi).sum(1) for a in range(2))
    dout = np.random.default_rng(2).standard_normal(6).astype(np.float32)
    out.backward(torch.tensor(dout))
    layer.zero_grad()
    np.testing.assert_allclose(layer.forward(x, labels), out.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    for a in range(2):
        np.testing.assert_allclose(layer.grads[f"E{a}"], tables[a].grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("labels,message", [
    ([[0, 4]] * 6, r"label 1 must lie in \[0, 4\)"),
    ([[-1, 0]] * 6, r"label 0 must lie in \[0, 3\)"),
    ([[0, 0]] * 5, "5 label rows for 6 images"),
    ([0] * 6, r"shape \(N, 2\)"),
    ([[0.5, 1]] * 6, "whole numbers"),
])
def test_wrong_labels_are_refused(case, labels, message):
    layer, x, _ = case
    with pytest.raises(ValueError, match=message):
        layer.forward(x, np.array(labels))
