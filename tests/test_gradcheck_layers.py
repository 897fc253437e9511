"""Every layer's backward pass against central differences in float64 (minigan.gradcheck)."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import nn
from minigan.gradcheck import check_function, check_layer, relative_error
from minigan.models.dcgan import Discriminator, Generator

from . import cases
from .cases import ELEMENTWISE_LAYERS
from .helpers import assert_gradients

# (kernel, stride, padding): the layers' geometries, and a padding as large as the kernel
GEOMETRIES = [*cases.GEOMETRIES, (1, 1, 1)]
# (batch, channels in, channels out, height, width): odd and even spatial sizes; batch sizes 1 and 3
SHAPES = [(1, 2, 3, 5, 5), (3, 3, 2, 6, 7)]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("k,s,p", GEOMETRIES, ids=lambda *a: None)
def test_conv2d(k, s, p, shape, bias, rng):
    n, cin, cout, h, w = shape
    if h + 2 * p < k or w + 2 * p < k:
        pytest.skip("kernel larger than the padded input")
    layer = nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias, rng=rng)
    assert_gradients(layer, rng.standard_normal((n, cin, h, w)))


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("k,s,p", GEOMETRIES, ids=lambda *a: None)
def test_conv_transpose2d(k, s, p, shape, bias, rng):
    n, cin, cout, h, w = shape
    if (h - 1) * s - 2 * p + k < 1 or (w - 1) * s - 2 * p + k < 1:
        pytest.skip("empty output")
    layer = nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, bias=bias, rng=rng)
    assert_gradients(layer, rng.standard_normal((n, cin, h, w)))


def test_conv_transpose2d_output_padding(rng):
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1, rng=rng)
    x = rng.standard_normal((2, 2, 4, 5))
    assert layer.forward(x.astype(np.float32)).shape == (2, 3, 8, 10)
    assert_gradients(layer, x)


@pytest.mark.parametrize("shape", [(4, 3, 3, 3), (1, 2, 5, 3), (7, 1, 1, 1), (3, 4, 1, 1)])
def test_batchnorm_train(shape, rng):
    layer = nn.BatchNorm2d(shape[1])
    layer.params["gamma"][...] = rng.uniform(0.5, 1.5, shape[1])
    layer.params["beta"][...] = rng.standard_normal(shape[1])
    assert_gradients(layer, rng.standard_normal(shape) * 3 + 1)


@pytest.mark.parametrize("shape", [(4, 3, 3, 3), (1, 2, 5, 3), (1, 3, 1, 1)])
def test_batchnorm_eval(shape, rng):
    layer = nn.BatchNorm2d(shape[1])
    layer.running_mean[...] = rng.standard_normal(shape[1])
    layer.running_var[...] = rng.uniform(0.5, 2.0, shape[1])
    layer.params["gamma"][...] = rng.uniform(0.5, 1.5, shape[1])
    layer.eval()
    assert_gradients(layer, rng.standard_normal(shape))


@pytest.mark.parametrize("case", ELEMENTWISE_LAYERS, ids=repr)
def test_elementwise_and_shape_layers(case, rng):
    assert_gradients(case.make(), rng.standard_normal(case.shape))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n", [1, 5])
def test_linear(bias, n, rng):
    assert_gradients(nn.Linear(7, 4, bias=bias, rng=rng), rng.standard_normal((n, 7)))


def test_sequential(rng):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, 2, 1, rng=rng), nn.BatchNorm2d(3), nn.LeakyReLU(0.2),
                          nn.Flatten(), nn.Linear(3 * 3 * 3, 2, rng=rng), nn.Tanh())
    assert_gradients(model, rng.standard_normal((4, 2, 5, 5)))


@pytest.mark.parametrize("targets", ["ones", "zeros", "smoothed", "mixed"])
def test_bce_with_logits(targets, rng):
    logits = rng.standard_normal(6) * 3
    t = {"ones": 1.0, "zeros": 0.0, "smoothed": 0.9, "mixed": rng.uniform(0, 1, 6)}[targets]
    loss = nn.BCEWithLogitsLoss()
    check_function(lambda x: loss.forward(x, t), loss.backward, logits).assert_ok()


def test_generator_and_discriminator_end_to_end(rng):
    """z -> G -> D -> loss: the gradient with respect to the noise, through both networks."""
    G = Generator(nz=6, ngf=4, image_size=16, rng=1).astype(np.float64)
    D = Discriminator(ndf=4, image_size=16, rng=2).astype(np.float64)
    loss = nn.BCEWithLogitsLoss()

    def forward(z):
        return loss.forward(D.forward(G.forward(z)), 1.0)

    def backward():
        return G.backward(D.backward(loss.backward()))

    check_function(forward, backward, rng.standard_normal((3, 6)), name="z").assert_ok()


@pytest.mark.parametrize("model", ["G", "D"])
def test_whole_networks_every_parameter(model, rng):
    """Every parameter tensor of each network (directional checks for the big ones)."""
    if model == "G":
        net, x = Generator(nz=5, ngf=4, image_size=16, rng=3), rng.standard_normal((3, 5))
    else:
        net, x = Discriminator(ndf=4, image_size=16, rng=4), rng.standard_normal((3, 3, 16, 16))
    result = assert_gradients(net, x, max_entries=300)
    assert len(result.checks) == 1 + sum(1 for _ in net.named_parameters())


def test_check_layer_catches_a_wrong_backward(rng):
    """The checker must fail a layer whose backward pass is subtly wrong (or it proves nothing)."""

    class WrongLeakyReLU(nn.LeakyReLU):
        def backward(self, dy):
            return np.where(self._x > 0, dy, dy * 0.21)  # slope 0.21 instead of 0.2

    result = check_layer(WrongLeakyReLU(0.2), rng.standard_normal((3, 8)))
    assert not result.ok and result.worst.name == "x" and result.max_rel_error > 1e-3
    with pytest.raises(AssertionError, match="gradient check failed"):
        result.assert_ok()


def test_check_layer_catches_a_wrong_parameter_gradient(rng):
    class HalfGradConv(nn.Conv2d):
        def backward(self, dy):
            before = self.grads["W"].copy()
            dx = super().backward(dy)
            self.grads["W"][...] = before + 0.5 * (self.grads["W"] - before)
            return dx

    result = check_layer(HalfGradConv(2, 2, 3, rng=rng), rng.standard_normal((2, 2, 4, 4)))
    failing = [c.name for c in result.checks if c.max_rel_error > 1e-6]
    assert failing == ["W"]


def test_relative_error_scale_floor():
    assert relative_error(1.0, 1.0 + 1e-9) < 1e-8
    assert relative_error([1.0, 1e-12], [1.0, 2e-12]).max() < 1e-8  # tiny entry judged by the scale
    assert relative_error(0.0, 1e-11, floor=1e-3) < 1e-7  # a zero gradient and rounding noise
    assert relative_error(2.0, 1.0) == pytest.approx(0.5)


def test_gradcheck_command_prints_a_passing_table(capsys):
    from minigan.cli.gradcheck import main

    assert main([]) == 0
    out = capsys.readouterr().out
    assert "all gradients agree" in out and "ConvTranspose2d" in out and "FAIL" not in out
