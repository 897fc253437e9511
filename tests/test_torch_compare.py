"""With PyTorch installed: every layer's forward and backward equal torch.nn's, same weights.

PyTorch is never a dependency of minigan; these tests are skipped without it. Comparisons run
in float64 so that any difference is a bug, not rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from minigan import nn, optim  # noqa: E402
from minigan.models.dcgan import Discriminator, Generator  # noqa: E402

from .cases import ELEMENTWISE_LAYERS  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_default_dtype(torch.float64)

@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """PyTorch on one thread in this module, as NumPy's BLAS in the whole suite (conftest): its
    threads spin between the many small operations here. On a busy 2-core machine the Adam
    comparison took 8.1 s with PyTorch's two threads and 1.3-1.5 s on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# minigan parameter name -> torch parameter name
TORCH_NAMES = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}


def copy_into_torch(layer, tlayer):
    with torch.no_grad():
        for key, value in layer.params.items():
            getattr(tlayer, TORCH_NAMES[key]).copy_(torch.from_numpy(np.asarray(value, np.float64)))


def compare(layer, tlayer, x, rng, rtol=1e-10):
    """Forward, backward (dx and every parameter gradient) of minigan vs torch."""
    layer.astype(np.float64)
    copy_into_torch(layer, tlayer)
    tx = torch.tensor(x, requires_grad=True)
    ty = tlayer(tx)
    y = layer.forward(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=rtol, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    tlayer.zero_grad()
    ty.backward(torch.from_numpy(dy))
    layer.zero_grad()
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=rtol, atol=1e-12)
    for key in layer.params:
        np.testing.assert_allclose(layer.grads[key], getattr(tlayer, TORCH_NAMES[key]).grad.numpy(),
                                   rtol=rtol, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (3, 1, 1), (4, 1, 0), (1, 1, 0), (5, 2, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(k, s, p, bias, rng):
    compare(nn.Conv2d(3, 5, k, s, p, bias=bias, rng=rng), torch.nn.Conv2d(3, 5, k, s, p, bias=bias),
            rng.standard_normal((2, 3, 9, 9)), rng)


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (3, 1, 1), (4, 1, 0), (1, 1, 0), (5, 2, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose2d(k, s, p, bias, rng):
    compare(nn.ConvTranspose2d(3, 5, k, s, p, bias=bias, rng=rng),
            torch.nn.ConvTranspose2d(3, 5, k, s, p, bias=bias), rng.standard_normal((2, 3, 5, 5)), rng)


def test_batchnorm2d_train_then_eval(rng):
    layer, tlayer = nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)
    layer.params["gamma"][...] = rng.uniform(0.5, 1.5, 4)
    layer.params["beta"][...] = rng.standard_normal(4)
    for _ in range(3):  # running statistics over several batches
        compare(layer, tlayer, rng.standard_normal((3, 4, 5, 5)) * 2 + 1, rng)
    np.testing.assert_allclose(layer.running_mean, tlayer.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, tlayer.running_var.numpy(), rtol=1e-12)
    layer.eval(), tlayer.eval()
    compare(layer, tlayer, rng.standard_normal((2, 4, 3, 3)), rng)


#: torch.nn's twin of each activation and reshape of tests/cases.py
TORCH_TWINS = {"relu": torch.nn.ReLU, "leaky": torch.nn.LeakyReLU, "leaky0.2": lambda: torch.nn.LeakyReLU(0.2),
               "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "flatten": torch.nn.Flatten,
               "reshape": lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Unflatten(1, (6, 2)))}


@pytest.mark.parametrize("case", ELEMENTWISE_LAYERS, ids=repr)
def test_activations_and_reshapes(case, rng):
    compare(case.make(), TORCH_TWINS[case.kind](), rng.standard_normal(case.shape) * 3, rng)


def test_linear(rng):
    compare(nn.Linear(6, 4, rng=rng), torch.nn.Linear(6, 4), rng.standard_normal((5, 6)), rng)


def test_bce_with_logits(rng):
    logits, targets = rng.standard_normal(7) * 4, rng.uniform(0, 1, 7)
    loss = nn.BCEWithLogitsLoss()
    value = float(loss.forward(logits, targets))
    tl = torch.tensor(logits, requires_grad=True)
    tv = torch.nn.functional.binary_cross_entropy_with_logits(tl, torch.tensor(targets))
    tv.backward()
    assert value == pytest.approx(tv.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), tl.grad.numpy(), rtol=1e-12)


def torch_dcgan(G, D):
    """pytorch/examples' netG and netD (without D's sigmoid) with minigan's weights."""
    tG = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(G.nz, G.ngf * 4, 4, 1, 0, bias=False), torch.nn.BatchNorm2d(G.ngf * 4), torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(G.ngf * 4, G.ngf * 2, 4, 2, 1, bias=False), torch.nn.BatchNorm2d(G.ngf * 2), torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(G.ngf * 2, G.ngf, 4, 2, 1, bias=False), torch.nn.BatchNorm2d(G.ngf), torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(G.ngf, 3, 4, 2, 1, bias=False), torch.nn.Tanh())
    tD = torch.nn.Sequential(
        torch.nn.Conv2d(3, D.ndf, 4, 2, 1, bias=False), torch.nn.LeakyReLU(0.2),
        torch.nn.Conv2d(D.ndf, D.ndf * 2, 4, 2, 1, bias=False), torch.nn.BatchNorm2d(D.ndf * 2), torch.nn.LeakyReLU(0.2),
        torch.nn.Conv2d(D.ndf * 2, D.ndf * 4, 4, 2, 1, bias=False), torch.nn.BatchNorm2d(D.ndf * 4), torch.nn.LeakyReLU(0.2),
        torch.nn.Conv2d(D.ndf * 4, 1, 4, 1, 0, bias=False))
    for ours, theirs in ((G, tG), (D, tD)):
        for layer, tlayer in zip(ours.layers, theirs):
            copy_into_torch(layer, tlayer)
    return tG, tD


def test_adam_training_steps_of_a_small_dcgan_match_pytorch(rng):
    """Three GAN steps (D on real and fake, then G) with Adam: losses and weights equal torch's."""
    G = Generator(nz=8, ngf=4, image_size=32, rng=1).astype(np.float64)
    D = Discriminator(ndf=4, image_size=32, rng=2).astype(np.float64)
    tG, tD = torch_dcgan(G, D)
    optG, optD = optim.Adam(G, 2e-4, (0.5, 0.999)), optim.Adam(D, 2e-4, (0.5, 0.999))
    toptG = torch.optim.Adam(tG.parameters(), 2e-4, betas=(0.5, 0.999))
    toptD = torch.optim.Adam(tD.parameters(), 2e-4, betas=(0.5, 0.999))
    bce, tbce = nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss()
    for step in range(3):
        real = rng.uniform(-1, 1, (4, 3, 32, 32))
        z = rng.standard_normal((4, 8))
        # ours
        optD.zero_grad()
        errD_real = float(bce.forward(D.forward(real), 0.9))
        D.backward(bce.backward())
        fake = G.forward(z)
        errD_fake = float(bce.forward(D.forward(fake), 0.0))
        D.backward(bce.backward())
        optD.step()
        optG.zero_grad()
        errG = float(bce.forward(D.forward(fake), 1.0))
        G.backward(D.backward(bce.backward()))
        optG.step()
        # theirs
        toptD.zero_grad()
        t_real = tbce(tD(torch.from_numpy(real)).view(-1), torch.full((4,), 0.9))
        t_real.backward()
        tfake = tG(torch.from_numpy(z).view(4, 8, 1, 1))
        t_fake = tbce(tD(tfake.detach()).view(-1), torch.zeros(4))
        t_fake.backward()
        toptD.step()
        toptG.zero_grad()
        t_g = tbce(tD(tfake).view(-1), torch.ones(4))
        t_g.backward()
        toptG.step()
        np.testing.assert_allclose([errD_real, errD_fake, errG], [t_real.item(), t_fake.item(), t_g.item()], rtol=1e-9)
    for ours, theirs in ((G, tG), (D, tD)):
        for layer, tlayer in zip(ours.layers, theirs):
            for key, value in layer.params.items():
                np.testing.assert_allclose(value, getattr(tlayer, TORCH_NAMES[key]).detach().numpy(), rtol=1e-7, atol=1e-10)


# -- DiffAugment against the paper's reference code --------------------------------------------------
# A port of DiffAugment_pytorch.py (mit-han-lab/data-efficient-gans), unchanged except that each
# function takes the random numbers it would draw, so that it can be fed the ones minigan drew.


def ref_brightness(x, r):  # r ~ U(0, 1) per sample
    return x + (r.view(-1, 1, 1, 1) - 0.5)


def ref_saturation(x, r):
    x_mean = x.mean(dim=1, keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) * 2) + x_mean


def ref_contrast(x, r):
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) + 0.5) + x_mean


def ref_translation(x, translation_x, translation_y):  # integers in [-shift, shift] per sample
    grid_batch, grid_x, grid_y = torch.meshgrid(torch.arange(x.size(0)), torch.arange(x.size(2)),
                                                torch.arange(x.size(3)), indexing="ij")
    grid_x = torch.clamp(grid_x + translation_x.view(-1, 1, 1) + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y.view(-1, 1, 1) + 1, 0, x.size(3) + 1)
    x_pad = torch.nn.functional.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def ref_cutout(x, offset_x, offset_y, ratio=0.5):  # offsets in [0, size + (1 - cutout % 2))
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    grid_batch, grid_x, grid_y = torch.meshgrid(torch.arange(x.size(0)), torch.arange(cutout_size[0]),
                                                torch.arange(cutout_size[1]), indexing="ij")
    grid_x = torch.clamp(grid_x + offset_x.view(-1, 1, 1) - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y.view(-1, 1, 1) - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
@pytest.mark.parametrize("size", [16, 15])
def test_diffaugment_matches_the_papers_reference_code(policy, size, rng):
    """Forward and backward of each operation equal the reference's on the same random draw,
    images of an even and an odd size (the cutout's odd-size offsets)."""
    layer = nn.DiffAugment(policy, rng=1)
    x = rng.standard_normal((64, 3, size, size))
    y = layer.forward(x)
    p = {k: torch.as_tensor(np.asarray(v)) for k, v in layer._draw.items() if k != "cutout_size"}
    tx = torch.tensor(x, requires_grad=True)
    ty = tx
    if "color" in policy:  # the reference's draws from ours: b = r - 0.5, s = 2 r, k = r + 0.5
        ty = ref_brightness(ty, p["brightness"] + 0.5)
        ty = ref_saturation(ty, p["saturation"] / 2)
        ty = ref_contrast(ty, p["contrast"] - 0.5)
    if "translation" in policy:  # the reference reads x[i + t], minigan x[i - shift]
        ty = ref_translation(ty, -p["shift"][:, 0], -p["shift"][:, 1])
    if "cutout" in policy:  # the reference's offset is the square's centre, minigan keeps its corner
        half = int(size * 0.5 + 0.5) // 2
        ty = ref_cutout(ty, p["cutout"][:, 0] + half, p["cutout"][:, 1] + half)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("size", [64, 15])
def test_diffaugment_draws_from_the_reference_codes_ranges(size):
    """Every shift and cutout place the reference can draw, and only those: torch.randint's
    ranges in DiffAugment_pytorch.py (shift in [-s, s], s = int(size / 8 + 0.5); the cutout's
    centre in [0, size + (1 - c % 2)), c = int(size / 2 + 0.5)), and its colour ranges."""
    p = nn.DiffAugment(rng=0).sample((20_000, 3, size, size))
    s, c = int(size * 0.125 + 0.5), int(size * 0.5 + 0.5)
    for axis in (0, 1):  # rows and columns each
        assert set(np.unique(p["shift"][:, axis])) == set(range(-s, s + 1))
        assert set(np.unique(p["cutout"][:, axis] + c // 2)) == set(range(0, size + (1 - c % 2)))
    assert p["cutout_size"] == (c, c)
    for key, (low, high) in {"brightness": (-0.5, 0.5), "saturation": (0, 2), "contrast": (0.5, 1.5)}.items():
        assert low <= p[key].min() < low + 0.01 and high - 0.01 < p[key].max() < high, key
