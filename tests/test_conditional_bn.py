"""Class-conditional batch norm (minigan.nn.ConditionalBatchNorm2d) and the conditional generator
that uses it (``ConditionalGenerator(conditional_bn=True)``, ``train --condition-layers all``):
the layer's value by hand, its backward pass (input, parameters and the condition) against finite
differences in float64, against PyTorch where it is installed, and a tiny run that trains the
tables, resumes bit-exactly and loads back."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from minigan import nn
from minigan.gradcheck import WithLabels, check_function
from minigan.models.conditional import ConditionalGenerator

from .helpers import assert_gradients


def random_layer(rng, channels=3, k=4):
    layer = nn.ConditionalBatchNorm2d(channels, k)
    for key in ("gamma", "beta", "Wg", "Wb"):  # tables away from their zero start, so that they matter
        layer.params[key][...] = rng.standard_normal(layer.params[key].shape)
    return layer


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    layer = random_layer(rng)
    x = rng.standard_normal((5, 3, 2, 3))
    c = rng.uniform(0, 1, (5, 4))  # any mix of one-hots: the layer is linear in c
    return layer, x, c


def test_the_value_is_the_normalised_input_scaled_and_shifted_by_each_images_rows(case):
    layer, x, c = case
    x32, c32 = x.astype(np.float32), c.astype(np.float32)
    y = layer.forward(x32, c32)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    xhat = (x - mean[None, :, None, None]) / np.sqrt(var + 1e-5)[None, :, None, None]
    p = {k: v.astype(np.float64) for k, v in layer.params.items()}
    gamma_n, beta_n = p["gamma"] + c @ p["Wg"], p["beta"] + c @ p["Wb"]
    np.testing.assert_allclose(y, xhat * gamma_n[:, :, None, None] + beta_n[:, :, None, None], rtol=1e-4, atol=1e-5)
    m = x[:, 0].size
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * var * m / (m - 1), rtol=1e-5)  # as BatchNorm2d


def test_with_zero_tables_it_is_batch_norm():
    rng = np.random.default_rng(1)
    cbn, bn = nn.ConditionalBatchNorm2d(3, 4), nn.BatchNorm2d(3)
    x, c = rng.standard_normal((4, 3, 3, 3)).astype(np.float32), np.eye(4, dtype=np.float32)
    np.testing.assert_array_equal(cbn.forward(x, c), bn.forward(x))
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(cbn.backward(dy), bn.backward(dy), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(cbn.condition_grad, 0)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_backward_pass_agrees_with_finite_differences_in_float64(case, mode):
    layer, x, c = case
    if mode == "eval":
        rng = np.random.default_rng(2)
        layer.forward(rng.standard_normal((6, 3, 2, 3)).astype(np.float32), rng.uniform(0, 1, (6, 4)).astype(np.float32))
        layer.eval()
    result = assert_gradients(WithLabels(layer, c), x)
    assert {ch.name for ch in result.checks} == {"x", "layer.gamma", "layer.beta", "layer.Wg", "layer.Wb"}


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_condition_gradient_agrees_with_finite_differences_in_float64(case, mode):
    layer, x, c = case
    layer = copy.deepcopy(layer).astype(np.float64)
    if mode == "eval":
        layer.eval()
    dy = np.random.default_rng(3).standard_normal(x.shape)

    def forward(cond):
        return float((layer.forward(x, cond) * dy).sum())

    def backward():
        layer.backward(dy)
        return layer.condition_grad

    check_function(forward, backward, c).assert_ok()


def test_it_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    layer, x, c = case
    x, c = x.astype(np.float32), c.astype(np.float32)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    xt, ct = torch.tensor(x, requires_grad=True), torch.tensor(c, requires_grad=True)
    normalised = torch.nn.functional.batch_norm(xt, None, None, training=True, eps=1e-5)
    gamma_n, beta_n = p["gamma"] + ct @ p["Wg"], p["beta"] + ct @ p["Wb"]
    out = normalised * gamma_n[:, :, None, None] + beta_n[:, :, None, None]
    dy = np.random.default_rng(4).standard_normal(x.shape).astype(np.float32)
    out.backward(torch.tensor(dy))
    layer.zero_grad()
    np.testing.assert_allclose(layer.forward(x, c), out.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.backward(dy), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.condition_grad, ct.grad.numpy(), rtol=1e-4, atol=1e-5)
    for key in p:
        np.testing.assert_allclose(layer.grads[key], p[key].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=key)


def test_a_wrong_condition_is_refused():
    layer, x = nn.ConditionalBatchNorm2d(3, 4), np.zeros((2, 3, 2, 2), np.float32)
    with pytest.raises(ValueError, match="needs the condition"):
        layer.forward(x)
    with pytest.raises(ValueError, match=r"condition of shape \(2, 4\), got \(2, 5\)"):
        layer.forward(x, np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="condition_size must be positive"):
        nn.ConditionalBatchNorm2d(3, 0)


VOCAB = {"hair_color": ["black", "blond", "pink"], "eye_color": ["blue", "red"]}


def lively_generator(rng):
    """A 16x16 conditional-BN generator whose tables are not zero (so they show in every gradient)."""
    G = ConditionalGenerator(["hair_color", "eye_color"], VOCAB, nz=4, ngf=4, image_size=16, rng=0, conditional_bn=True)
    for _, layer in G.named_layers():
        if isinstance(layer, nn.ConditionalBatchNorm2d):
            for key in ("Wg", "Wb"):
                layer.params[key][...] = rng.normal(0, 0.3, layer.params[key].shape)
    return G


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_generator_with_conditional_batch_norm_agrees_with_finite_differences(mode):
    rng = np.random.default_rng(5)
    G = lively_generator(rng)
    if mode == "eval":
        G.forward(G.inputs(rng.standard_normal((6, 4)).astype(np.float32), [[0, 0], [1, 1], [2, 0]] * 2))
        G.eval()
    z = G.inputs(rng.standard_normal((3, 4)), [[0, 1], [2, 0], [1, 1]]) + rng.normal(0, 0.1, (3, 9))
    result = assert_gradients(G, z)  # "x" includes the one-hots: their path through every batch norm
    assert {"1.Wg", "1.Wb", "4.Wg", "4.Wb"} <= {ch.name for ch in result.checks}


def test_the_generator_keeps_its_packed_input_and_its_labels_act_through_the_batch_norms():
    rng = np.random.default_rng(6)
    G = lively_generator(rng).eval()
    assert G.config()["conditional_bn"] is True and G.nz == 4 + 5
    assert sum(isinstance(layer, nn.ConditionalBatchNorm2d) for layer in G.layers) == 2  # 16x16: 4x4 and 8x8
    z = np.repeat(rng.standard_normal((1, 4)).astype(np.float32), 2, axis=0)
    x = G.inputs(z, [[0, 0], [1, 0]])
    first = G.layers[0].params["W"]
    first[4:] = 0  # the one-hots no longer reach the first layer: what differs comes through the batch norms
    images = G.forward(x)
    assert np.abs(images[0] - images[1]).max() > 1e-4
    plain = ConditionalGenerator(["hair_color", "eye_color"], VOCAB, nz=4, ngf=4, image_size=16, rng=0)
    assert "conditional_bn" not in plain.config()  # models of before save as they did
    np.testing.assert_array_equal(G.forward(x.reshape(2, 9, 1, 1)), images)  # (N, nz, 1, 1) is noise too
    with pytest.raises(ValueError, match=r"expects noise of shape \(N, 9\)"):
        G.forward(x.reshape(2, 1, 1, 9))


def test_the_studio_refuses_to_fold_a_conditional_batch_norm():
    from minigan.studio.web import fold_generator

    with pytest.raises(ValueError, match="class-conditional batch norm"):
        fold_generator(lively_generator(np.random.default_rng(7)).eval())


@pytest.mark.slow
def test_a_tiny_run_with_conditional_batch_norm_trains_the_tables_resumes_bit_exactly_and_loads(tmp_path, tiny_idols):
    from minigan.checkpoint import load_generator

    from .helpers import assert_resume_is_exact

    assert_resume_is_exact(tmp_path, tiny_idols, condition="hair_color,eye_color", condition_layers="all")
    for raw in (False, True):
        G, meta = load_generator(tmp_path / "b" / "run", raw=raw)
        assert G.conditional_bn and meta["config"]["condition_layers"] == "all"
        tables = [layer.params["Wg"] for layer in G.layers if isinstance(layer, nn.ConditionalBatchNorm2d)]
        assert tables and all(np.abs(t).max() > 0 for t in tables)  # trained away from zero
