"""The layer contract of DESIGN.md: shapes, dtypes, parameter names, accumulation, state."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import nn, optim
from minigan.backend import device_of, to_device, to_numpy
from minigan.models.dcgan import Discriminator, Generator, num_blocks

from .cases import DEVICES, LAYERS


@pytest.mark.parametrize("case", LAYERS, ids=repr)
@pytest.mark.parametrize("device", DEVICES)
def test_float32_in_float32_out_everywhere(device, case, rng):
    layer = case.make().to(device)
    x = to_device(rng.standard_normal(case.shape).astype(np.float32), device)
    y = layer.forward(x)
    dx = layer.backward(y * 0 + 1)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    assert dx.shape == x.shape
    for key, g in layer.grads.items():
        assert g.dtype == np.float32 and g.shape == layer.params[key].shape


def test_a_float64_input_to_the_generator_is_computed_in_float32(rng):
    """No silent upcast: numpy's default float64 noise still runs the network in float32."""
    G = Generator(nz=8, ngf=4, image_size=16, rng=0)
    z = rng.standard_normal((2, 8))  # float64
    assert G.forward(z).dtype == np.float32
    assert G.backward(np.ones((2, 3, 16, 16))).dtype == np.float32


@pytest.mark.parametrize("case", [case for case in LAYERS if case.make().params], ids=repr)
def test_a_float64_input_is_computed_in_the_parameters_float32(case, rng):
    layer = case.make()
    y = layer.forward(rng.standard_normal(case.shape))  # float64
    assert y.dtype == np.float32
    assert layer.backward(np.ones(y.shape)).dtype == np.float32


def test_needs_input_grad_false_returns_none_and_keeps_weight_gradients(rng):
    conv = nn.Conv2d(3, 4, 4, 2, 1, rng=rng)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    dy = rng.standard_normal((2, 4, 4, 4)).astype(np.float32)
    conv.forward(x)
    conv.backward(dy)
    with_dx = conv.grads["W"].copy()
    conv.zero_grad()
    conv.needs_input_grad = False
    conv.forward(x)
    assert conv.backward(dy) is None
    np.testing.assert_array_equal(conv.grads["W"], with_dx)


def test_float64_parameters_make_a_float64_layer(rng):
    layer = nn.Conv2d(2, 3, 3, rng=rng)
    layer.params["W"] = layer.params["W"].astype(np.float64)
    layer.grads["W"] = np.zeros_like(layer.params["W"])
    y = layer.forward(rng.standard_normal((1, 2, 4, 4)))
    assert y.dtype == np.float64


@pytest.mark.parametrize("h,k,s,p", [(64, 4, 2, 1), (4, 4, 1, 0), (7, 3, 2, 0), (9, 5, 3, 2), (1, 1, 1, 0)])
def test_output_sizes_follow_the_formula(h, k, s, p, rng):
    conv = nn.Conv2d(1, 1, k, s, p, rng=rng)
    y = conv.forward(np.zeros((1, 1, h, h), np.float32))
    assert y.shape[-1] == (h + 2 * p - k) // s + 1
    convt = nn.ConvTranspose2d(1, 1, k, s, p, rng=rng)
    yt = convt.forward(np.zeros((1, 1, h, h), np.float32))
    assert yt.shape[-1] == (h - 1) * s - 2 * p + k


def test_parameter_names_and_layouts_follow_pytorch():
    assert nn.Conv2d(3, 8, 4).params["W"].shape == (8, 3, 4, 4)
    assert nn.ConvTranspose2d(3, 8, 4).params["W"].shape == (3, 8, 4, 4)
    assert nn.Linear(5, 2).params["W"].shape == (2, 5)
    assert set(nn.Conv2d(3, 8, 4, bias=False).params) == {"W"}
    bn = nn.BatchNorm2d(6)
    assert set(bn.params) == {"gamma", "beta"} and bn.running_mean.shape == bn.running_var.shape == (6,)


@pytest.mark.parametrize("device", DEVICES)
def test_backward_accumulates_until_zero_grad(device, rng):
    layer = nn.Conv2d(2, 3, 3, rng=rng).to(device)
    x = to_device(rng.standard_normal((2, 2, 5, 5)).astype(np.float32), device)
    dy = to_device(np.ones((2, 3, 3, 3), np.float32), device)
    layer.forward(x)
    layer.backward(dy)
    once = to_numpy(layer.grads["W"]).copy()
    layer.forward(x)
    layer.backward(dy)
    np.testing.assert_allclose(to_numpy(layer.grads["W"]), 2 * once, rtol=1e-6)
    layer.zero_grad()
    assert not to_numpy(layer.grads["W"]).any()


@pytest.mark.parametrize("case", LAYERS, ids=repr)
@pytest.mark.parametrize("device", DEVICES)
def test_backward_does_not_modify_its_input(device, case, rng):
    layer = case.make().to(device)
    x = to_device(rng.standard_normal(case.shape).astype(np.float32), device)
    y = layer.forward(x)
    dy = y * 0 + 1
    dy_copy, x_copy = to_numpy(dy).copy(), to_numpy(x).copy()
    layer.backward(dy)
    np.testing.assert_array_equal(to_numpy(dy), dy_copy)
    np.testing.assert_array_equal(to_numpy(x), x_copy)


@pytest.mark.parametrize("device", DEVICES)
def test_requires_grad_false_skips_parameter_gradients_but_not_dx(device, rng):
    D = Discriminator(ndf=4, image_size=16, rng=0).to(device)
    x = to_device(rng.standard_normal((2, 3, 16, 16)).astype(np.float32), device)
    ones = to_device(np.ones(2, np.float32), device)
    D.forward(x)
    dx_with = to_numpy(D.backward(ones))
    D.zero_grad()
    D.requires_grad_(False)
    D.forward(x)
    dx_without = to_numpy(D.backward(ones))
    np.testing.assert_array_equal(dx_with, dx_without)
    assert all(not to_numpy(lay.grads[k]).any() for _, lay, k in D.named_parameters())


@pytest.mark.parametrize("device", DEVICES)
def test_params_may_be_replaced_from_outside(device, rng):
    """Layers read params on every call: no private references survive a replacement."""
    layer = nn.Linear(3, 2, rng=rng).to(device)
    x = to_device(rng.standard_normal((1, 3)).astype(np.float32), device)
    layer.params["W"] = to_device(np.zeros((2, 3), np.float32), device)
    layer.params["b"] = to_device(np.full(2, 7, np.float32), device)
    np.testing.assert_array_equal(to_numpy(layer.forward(x)), [[7, 7]])


def test_state_dict_roundtrip_and_clear_mismatch_errors():
    G1, G2 = Generator(nz=8, ngf=4, image_size=16, rng=1), Generator(nz=8, ngf=4, image_size=16, rng=2)
    state = {k: v.copy() for k, v in G1.state_dict().items()}
    assert "0.W" in state and "1.running_mean" in state and "1.gamma" in state
    G2.load_state_dict(state)
    for k, v in G2.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    other = Generator(nz=8, ngf=8, image_size=16, rng=3)
    with pytest.raises(ValueError, match=r"0\.W: expected shape \(8, 16, 4, 4\), got \(8, 8, 4, 4\)"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="missing: .*9.W"):
        Generator(nz=8, ngf=4, image_size=32, rng=3).load_state_dict(state)


def test_train_eval_mode_reaches_every_layer():
    G = Generator(nz=8, ngf=4, image_size=16)
    G.eval()
    assert all(not layer.training for _, layer in G.named_layers())
    G.train()
    assert all(layer.training for _, layer in G.named_layers())


def test_dcgan_layouts_follow_pytorch_examples():
    G, D = Generator(), Discriminator()
    kinds = [type(layer).__name__ for layer in G.layers]
    assert kinds == ["ConvTranspose2d", "BatchNorm2d", "ReLU"] * 4 + ["ConvTranspose2d", "Tanh"]
    assert [G.layers[i].params["W"].shape for i in (0, 3, 6, 9, 12)] == [
        (100, 512, 4, 4), (512, 256, 4, 4), (256, 128, 4, 4), (128, 64, 4, 4), (64, 3, 4, 4)]
    kinds = [type(layer).__name__ for layer in D.layers]
    assert kinds == ["Conv2d", "LeakyReLU"] + ["Conv2d", "BatchNorm2d", "LeakyReLU"] * 3 + ["Conv2d"]
    assert [D.layers[i].params["W"].shape for i in (0, 2, 5, 8, 11)] == [
        (64, 3, 4, 4), (128, 64, 4, 4), (256, 128, 4, 4), (512, 256, 4, 4), (1, 512, 4, 4)]
    assert all("b" not in layer.params for layer in (*G.layers, *D.layers) if "W" in layer.params)
    assert G.num_parameters() == 3_576_704 and D.num_parameters() == 2_765_568  # as torch counts them


def test_dcgan_shapes_and_initialisation(rng):
    G, D = Generator(rng=0), Discriminator(rng=0)
    z = rng.standard_normal((2, 100)).astype(np.float32)
    x = G.forward(z)
    assert x.shape == (2, 3, 64, 64) and x.dtype == np.float32 and np.abs(x).max() <= 1
    assert G.forward(z.reshape(2, 100, 1, 1)).shape == (2, 3, 64, 64)
    assert G.backward(np.ones_like(x)).shape == (2, 100, 1, 1)  # dz has the shape z had
    x = G.forward(z)
    logits = D.forward(x)
    assert logits.shape == (2,)
    assert D.backward(np.ones(2, np.float32)).shape == x.shape
    assert G.backward(np.ones_like(x)).shape == (2, 100)
    w = np.concatenate([G.layers[i].params["W"].ravel() for i in (0, 3, 6, 9, 12)])
    assert abs(w.std() - 0.02) < 1e-3 and abs(w.mean()) < 1e-3
    assert abs(G.layers[1].params["gamma"].mean() - 1) < 0.01 and not G.layers[1].params["beta"].any()
    np.testing.assert_array_equal(Generator(rng=0).layers[0].params["W"], G.layers[0].params["W"])


def test_dcgan_rejects_bad_sizes_and_inputs():
    with pytest.raises(ValueError, match="image_size"):
        num_blocks(48)
    with pytest.raises(ValueError, match=r"expects noise of shape \(N, 100\)"):
        Generator().forward(np.zeros((2, 99), np.float32))
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 3, 64, 64\)"):
        Discriminator().forward(np.zeros((2, 3, 32, 32), np.float32))


@pytest.mark.parametrize("device", DEVICES)
def test_optimizer_state_roundtrip(device, rng):
    G = Generator(nz=4, ngf=2, image_size=8, rng=0).to(device)
    adam = optim.Adam(G)
    G.forward(to_device(rng.standard_normal((2, 4)).astype(np.float32), device))
    G.backward(to_device(np.ones((2, 3, 8, 8), np.float32), device))
    adam.step()
    state = adam.state_dict()
    assert all(isinstance(v, np.ndarray) for k, v in state.items() if k != "step")  # saved from the host
    other = optim.Adam(G)
    other.load_state_dict(state)
    assert other.step_count == 1
    assert device_of(other.state["0.W"]["m"]) == device  # back on the model's device
    np.testing.assert_array_equal(to_numpy(other.state["0.W"]["m"]), to_numpy(adam.state["0.W"]["m"]))
    with pytest.raises(ValueError, match="does not have"):
        optim.Adam(Generator(nz=4, ngf=2, image_size=8)).load_state_dict({**state, "99.W/m": state["0.W/m"]})
