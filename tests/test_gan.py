"""The GAN step and DiffAugment: gradients, and a small GAN that learns a toy distribution."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import nn, optim
from minigan.backend import get_array_module, to_device, to_numpy
from minigan.gan import train_step
from minigan.models.dcgan import Discriminator, Generator

from .cases import DEVICES
from .helpers import assert_gradients

PALETTE = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1]], np.float32)


def coloured_squares(rng, n, size=16, side=6):
    """Toy data: a 6x6 square of one of four colours on a black 16x16 background."""
    x = np.full((n, 3, size, size), -1, np.float32)
    colours = rng.integers(0, len(PALETTE), n)
    corners = rng.integers(0, size - side + 1, (n, 2))
    for i, ((r, c), k) in enumerate(zip(corners, colours)):
        x[i, :, r:r + side, c:c + side] = PALETTE[k][:, None, None]
    return x


def background_share(x):
    """Share of pixels that are (nearly) black in every channel."""
    return float((x.max(axis=1) < -0.5).mean())


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_diffaugment_gradients(policy, rng):
    layer = nn.DiffAugment(policy, rng=0)
    x = rng.standard_normal((3, 3, 8, 8))
    layer.forward(x)
    layer.frozen = True  # one fixed random draw: the function the check differentiates
    assert_gradients(layer, x)


@pytest.mark.parametrize("device", DEVICES)
def test_diffaugment_operations_do_what_they_say(device, rng):
    x = rng.uniform(-1, 1, (64, 3, 16, 16)).astype(np.float32)
    translate = nn.DiffAugment("translation", rng=0)
    y = translate.forward(to_device(x, device))
    assert y.dtype == np.float32
    y = to_numpy(y)
    shifts = translate._draw["shift"]
    assert np.abs(shifts).max() == 2  # 1/8 of 16
    dy, dx = shifts[0]
    np.testing.assert_array_equal(y[0, :, max(dy, 0):16 + min(dy, 0), max(dx, 0):16 + min(dx, 0)],
                                  x[0, :, max(-dy, 0):16 + min(-dy, 0), max(-dx, 0):16 + min(-dx, 0)])
    cut = to_numpy(nn.DiffAugment("cutout", rng=0).forward(to_device(np.ones((64, 3, 16, 16), np.float32), device)))
    zeros = (cut == 0).all(axis=1).sum(axis=(1, 2))
    assert zeros.max() == 64 and zeros.min() >= 16  # an 8x8 square, clipped at the border
    xd = to_device(x, device)
    assert nn.DiffAugment("", rng=0).forward(xd) is xd


@pytest.mark.parametrize("device", DEVICES)
def test_train_step_updates_both_networks_and_reports(device, rng):
    G, D = Generator(nz=8, ngf=4, image_size=16, rng=1).to(device), Discriminator(ndf=4, image_size=16, rng=2).to(device)
    before_g, before_d = to_numpy(G.layers[0].params["W"]).copy(), to_numpy(D.layers[0].params["W"]).copy()
    result = train_step(G, D, optim.Adam(G), optim.Adam(D), to_device(coloured_squares(rng, 8), device),
                        to_device(rng.standard_normal((8, 8)).astype(np.float32), device), real_label=0.9,
                        augment=nn.DiffAugment(rng=0))
    # the numbers stay on the device (no host synchronisation inside a step)
    assert all(get_array_module(v) is get_array_module(to_device(np.zeros(1), device)) for v in vars(result).values())
    assert not np.array_equal(to_numpy(G.layers[0].params["W"]), before_g)
    assert not np.array_equal(to_numpy(D.layers[0].params["W"]), before_d)
    values = result.as_floats()
    assert set(values) == {"loss_d", "loss_g", "d_real", "d_fake", "d_fake_g"}
    assert all(np.isfinite(v) for v in values.values())
    assert all(layer.requires_grad for _, layer in D.named_layers())  # restored after G's step


@pytest.mark.slow
def test_a_small_gan_learns_coloured_squares():
    """800 steps on the toy set: losses behave like a GAN's and G's images approach the data."""
    rng = np.random.default_rng(0)
    G, D = Generator(nz=16, ngf=16, image_size=16, rng=1), Discriminator(ndf=16, image_size=16, rng=2)
    opt_g, opt_d = optim.Adam(G, 2e-3), optim.Adam(D, 2e-3)
    z_fixed = rng.standard_normal((256, 16)).astype(np.float32)
    G.eval()
    share_before = background_share(G.forward(z_fixed))
    G.train()
    history = []
    for _ in range(800):
        result = train_step(G, D, opt_g, opt_d, coloured_squares(rng, 32),
                            rng.standard_normal((32, 16)).astype(np.float32))
        history.append(result.as_floats())
    G.eval()
    fakes = G.forward(z_fixed)
    real_share = background_share(coloured_squares(rng, 256))  # 1 - 36/256 = 0.86
    assert share_before < 0.05  # an untrained G draws no black background
    # (over six seeds this share was 0.56-0.81 after 800 steps; it starts near 0)
    assert background_share(fakes) > 0.45 and abs(background_share(fakes) - real_share) < 0.35
    first, last = history[0], history[-100:]
    assert first["loss_d"] == pytest.approx(2 * np.log(2), abs=0.3)  # D starts at chance
    assert np.mean([h["d_real"] for h in last]) > np.mean([h["d_fake"] for h in last])  # D tells them apart
    assert np.mean([h["loss_d"] for h in last]) < 2 * np.log(2)
    assert all(np.isfinite(h["loss_d"]) and np.isfinite(h["loss_g"]) for h in history)
    # the squares G draws use the palette: bright pixels are saturated primaries, not grey
    bright = fakes.transpose(0, 2, 3, 1)[fakes.max(axis=1) > 0.5]  # (pixels, 3)
    assert (np.abs(bright) > 0.5).all(axis=1).mean() > 0.6  # 0.69-0.88 over six seeds
