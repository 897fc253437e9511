"""What only a GPU can show: the CuPy path against the CPU path. Skipped without a usable GPU.

Everything that has a CPU twin is elsewhere, the same test parametrised over ``DEVICES``
(tests/test_layers_api.py, test_oracles.py, test_gan.py, test_train.py). gpu.py's CUDA C is
also run without a GPU, compiled for the CPU, in tests/test_gpu_kernels_on_cpu.py. Here:

* each gpu.py kernel equals the reference kernel on CuPy arrays, over odd shapes;
* every layer's forward and backward pass on the GPU equals the CPU's to float32 rounding;
* training steps, and a tiny training run, give the CPU's losses;
* the commands draw the CPU's idols;
* a vector learned through the classifier and the generator is the CPU's.

Importing this module does not import CuPy (``backend.get_cupy()`` runs inside the tests).
"""

from __future__ import annotations

import copy
import itertools
import json

import numpy as np
import pytest

from minigan import backend, kernels, nn, optim
from minigan.backend import to_device, to_numpy
from minigan.gan import train_step
from minigan.gradcheck import WithLabels
from minigan.kernels import reference
from minigan.models.dcgan import Discriminator, Generator

from . import cases
from .cases import DTYPES, GEOMETRIES, GPU, LAYERS, tiny_train_config
from .helpers import BothOutputs, assert_close, assert_same_bits, channels_last

pytestmark = GPU


@pytest.fixture(scope="module")
def cp():
    return backend.get_cupy()


@pytest.fixture(scope="module")
def gpu(cp):
    from minigan.kernels import gpu as module

    return module


# -- dispatch --------------------------------------------------------------------------------------


def test_cupy_arrays_go_to_the_gpu_kernels(cp, gpu):
    x = cp.zeros((1, 1, 2, 2), cp.float32)
    assert kernels.backend_for(x) is gpu
    with kernels.use_kernels("reference"):
        assert kernels.backend_for(x) is reference


# -- each kernel against the reference, on CuPy arrays -----------------------------------------------

IMAGES = [*cases.IMAGES, (2, 16, 16, 64)]  # (N, H, W, C), and one with many thread blocks


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", IMAGES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("k,s,p", GEOMETRIES, ids=lambda *a: None)
def test_im2col_and_col2im_equal_the_reference(cp, gpu, k, s, p, shape, dtype, rng):
    x_host = rng.standard_normal(shape).astype(dtype)
    x = cp.asarray(x_host)
    cols = gpu.im2col_nhwc(x, k, k, s, p)
    assert_same_bits(cols, reference.im2col_nhwc(x, k, k, s, p))
    assert_same_bits(cols, reference.im2col_nhwc(x_host, k, k, s, p))  # and the NumPy reference
    buffer = cp.full(cols.shape, cp.nan, dtype=dtype)
    assert gpu.im2col_nhwc(x, k, k, s, p, out=buffer) is buffer
    assert_same_bits(buffer, cols)
    dcols_host = rng.standard_normal(cols.shape).astype(dtype)
    dx = gpu.col2im_nhwc(cp.asarray(dcols_host), shape, k, k, s, p)
    assert_same_bits(dx, reference.col2im_nhwc(dcols_host, shape, k, k, s, p))  # a gather in the same order
    assert_same_bits(dx, gpu.col2im_nhwc(cp.asarray(dcols_host), shape, k, k, s, p))  # deterministic


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (4, 20, 3, 3), (3, 2, 1, 1), (64, 128, 8, 8)],
                         ids=lambda s: "x".join(map(str, s)))
def test_batch_norm_equals_the_reference(cp, gpu, shape, layout, dtype, rng):
    x = cp.asarray((rng.standard_normal(shape) * 3 + 2).astype(dtype))
    dy = cp.asarray(rng.standard_normal(shape).astype(dtype))
    if layout == "channels_last":
        x, dy = channels_last(x), channels_last(dy)
    c = shape[1]
    gamma, beta = cp.asarray(rng.uniform(0.5, 1.5, c).astype(dtype)), cp.asarray(rng.standard_normal(c).astype(dtype))
    # the channel sums are float64 here, float32 in NumPy (off by ~1e-6 relative over 4096 values)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    ours = gpu.batch_norm_forward_train(x, gamma, beta, 1e-5)
    for a, b in zip(ours, reference.batch_norm_forward_train(x, gamma, beta, 1e-5)):
        assert_close(a, b, rtol=tol, atol=0)
    assert ours[0].transpose(0, 2, 3, 1).flags.c_contiguous  # channels-last, as on the CPU
    mean, inv_std = ours[1], ours[2]
    for a, b in zip(gpu.batch_norm_backward_train(dy, x, mean, inv_std, gamma),
                    reference.batch_norm_backward_train(dy, x, mean, inv_std, gamma)):
        assert_close(a, b, rtol=tol * 10, atol=0)
    for a, b in zip(ours, gpu.batch_norm_forward_train(x, gamma, beta, 1e-5)):
        assert_same_bits(a, b)  # deterministic


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("layouts", list(itertools.product(["nchw", "channels_last"], repeat=2)),
                         ids=lambda p: f"x-{p[0]}-dy-{p[1]}")
def test_activations_equal_the_reference(cp, gpu, layouts, dtype, rng):
    x_host = rng.standard_normal((3, 5, 4, 7)).astype(dtype)
    x_host[0, 0, 0, :4] = [0.0, -0.0, np.inf, np.nan]
    x, dy = cp.asarray(x_host), cp.asarray(rng.standard_normal(x_host.shape).astype(dtype))
    x = channels_last(x) if layouts[0] == "channels_last" else x
    dy = channels_last(dy) if layouts[1] == "channels_last" else dy
    assert_same_bits(gpu.leaky_relu_forward(x, 0.2), reference.leaky_relu_forward(x, 0.2))
    assert_same_bits(gpu.leaky_relu_backward(dy, x, 0.2), reference.leaky_relu_backward(dy, x, 0.2))
    (y, mask), (y_ref, mask_ref) = gpu.relu_forward(x), reference.relu_forward(x)
    assert_same_bits(y, y_ref)
    assert_same_bits(mask, mask_ref)
    assert_same_bits(gpu.relu_backward(dy, mask), reference.relu_backward(dy, mask_ref))
    assert y.strides == x.strides  # the layout is kept


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(7,), (3, 1000), (64, 3, 4, 4)], ids=lambda s: "x".join(map(str, s)))
def test_adam_update_equals_the_reference(cp, gpu, shape, dtype, rng):
    p, g, m = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    v = np.abs(rng.standard_normal(shape)).astype(dtype)
    ours = [cp.asarray(a) for a in (p, g, m, v)]
    theirs = [a.copy() for a in (p, g, m, v)]
    for t in (1, 2, 3):
        args = (2e-4 / (1 - 0.5**t), 0.5, 0.999, (1 - 0.999**t) ** 0.5, 1e-8)
        gpu.adam_update(*ours, *args)
        reference.adam_update(*theirs, *args)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for a, b in zip(ours, theirs):  # --fmad=false: expected to be the same bits; checked to rounding
        assert_close(a, b, rtol=tol, atol=0)


# -- every layer: the GPU against the CPU ----------------------------------------------------------------


#: GPU against CPU in float32: other summation orders (cuBLAS, tree reductions) than NumPy's
FLOAT32 = dict(rtol=1e-5, atol=1e-6)


def forward_backward(layer, x, dy_seed=7):
    y = layer.forward(x)
    dy = to_device(np.random.default_rng(dy_seed).standard_normal(y.shape).astype(np.float32), backend.device_of(x))
    dx = layer.backward(dy)
    return y, dx, {k: g for k, g in layer.grads.items()}


@pytest.mark.parametrize("case", LAYERS, ids=repr)
def test_every_layer_forward_and_backward_match_the_cpu(cp, case, rng):
    """The same layer on both devices (built from the same seed), to float32 rounding."""
    name, x = case.name, rng.standard_normal(case.shape).astype(np.float32)
    cpu_layer, gpu_layer = case.make(), case.make().to("gpu")
    for _ in range(2):  # twice: reused buffers and running statistics carry over
        y, dx, grads = forward_backward(cpu_layer, x)
        y_g, dx_g, grads_g = forward_backward(gpu_layer, cp.asarray(x))
        assert isinstance(y_g, cp.ndarray) and isinstance(dx_g, cp.ndarray)
        assert_close(y_g, y, **FLOAT32, what=f"{name} y")
        assert_close(dx_g, dx, **FLOAT32, what=f"{name} dx")
        for k in grads:
            assert_close(grads_g[k], grads[k], **FLOAT32, what=f"{name} d{k}")
        x = x * 0.5 + 0.1
    if name == "batchnorm":  # evaluation mode uses the running statistics kept on each device
        assert_close(gpu_layer.running_var, cpu_layer.running_var, **FLOAT32, what="running_var")
        y, dx, _ = forward_backward(cpu_layer.eval(), x)
        y_g, dx_g, _ = forward_backward(gpu_layer.eval(), cp.asarray(x))
        assert_close(y_g, y, **FLOAT32, what="batchnorm eval y")
        assert_close(dx_g, dx, **FLOAT32, what="batchnorm eval dx")


def assert_network_matches_on_the_gpu(cp, net, x, labels=None, wrapper=WithLabels):
    """``net`` and its copy on the GPU, forward and backward (with ``labels`` when it takes them,
    through ``wrapper``): the same output, input gradient and every parameter's gradient, to
    float32 rounding."""
    net_g = copy.deepcopy(net).to("gpu")
    wrap = (lambda m: m) if labels is None else (lambda m: wrapper(m, labels))  # noqa: E731
    y, dx, _ = forward_backward(wrap(net), x)
    y_g, dx_g, _ = forward_backward(wrap(net_g), cp.asarray(x))
    assert_close(y_g, y, rtol=1e-4, atol=1e-6, what="y")
    assert_close(dx_g, dx, rtol=1e-4, atol=1e-6, what="dx")
    for (name, layer, key), (_, layer_g, _) in zip(net.named_parameters(), net_g.named_parameters()):
        assert_close(layer_g.grads[key], layer.grads[key], rtol=1e-4, atol=1e-6, what=name)


@pytest.mark.parametrize("model", ["G", "D"])
def test_dcgan_networks_match_the_cpu(cp, model, rng):
    """The paper's 64x64 networks, forward and backward, every parameter's gradient."""
    net = Generator(rng=1) if model == "G" else Discriminator(rng=2)
    x = (rng.standard_normal((8, 100)) if model == "G" else rng.uniform(-1, 1, (8, 3, 64, 64))).astype(np.float32)
    assert_network_matches_on_the_gpu(cp, net, x)


@pytest.mark.parametrize("model", ["G", "D"])
def test_the_conditional_networks_match_the_cpu(cp, model, rng):
    """The conditional generator with class-conditional batch norm (its tables made non-zero) and
    the projection discriminator with its auxiliary classifier (both outputs): forward and
    backward on both devices, every gradient."""
    from minigan.models.conditional import ConditionalGenerator, ProjectionDiscriminator

    vocab, labels = {"hair_color": ["a", "b", "c"], "eye_color": ["x", "y"]}, np.array([[0, 1], [2, 0], [1, 1], [0, 0]] * 2)
    if model == "G":
        net = ConditionalGenerator(list(vocab), vocab, nz=16, ngf=8, image_size=32, rng=1, conditional_bn=True)
        for _, layer in net.named_layers():
            if isinstance(layer, nn.ConditionalBatchNorm2d):
                layer.params["Wg"][...] = rng.normal(0, 0.3, layer.params["Wg"].shape)
        x, labels = net.inputs(rng.standard_normal((8, 16)).astype(np.float32), labels), None  # labels in the input
    else:
        net = ProjectionDiscriminator(list(vocab), vocab, ndf=8, image_size=32, rng=2, auxiliary=True)
        x = rng.uniform(-1, 1, (8, 3, 32, 32)).astype(np.float32)
    assert_network_matches_on_the_gpu(cp, net, x, labels, wrapper=WithLabels if model == "G" else BothOutputs)


# -- training -----------------------------------------------------------------------------------------


def gan_steps(device, mode="auto", steps=3):
    rng = np.random.default_rng(5)
    with kernels.use_kernels(mode):
        G = Generator(nz=16, ngf=8, image_size=32, rng=1).to(device)
        D = Discriminator(ndf=8, image_size=32, rng=2).to(device)
        opt_g, opt_d = optim.Adam(G), optim.Adam(D)
        augment = nn.DiffAugment(rng=3)
        losses = []
        for _ in range(steps):
            real = to_device(rng.uniform(-1, 1, (16, 3, 32, 32)).astype(np.float32), device)
            z = to_device(rng.standard_normal((16, 16)).astype(np.float32), device)
            result = train_step(G, D, opt_g, opt_d, real, z, real_label=0.9, augment=augment)
            losses.append([float(v) for v in vars(result).values()])
    weights = {**{f"G.{k}": v for k, v in G.state_dict().items()}, **{f"D.{k}": v for k, v in D.state_dict().items()}}
    return np.array(losses), {k: to_numpy(v) for k, v in weights.items()}


def test_training_steps_give_the_cpu_losses(cp):
    """Three DCGAN steps with DiffAugment: the GPU (its kernels, and the reference kernels on
    CuPy arrays) gives the CPU's losses and weights to float32 rounding."""
    cpu_losses, cpu_weights = gan_steps("cpu")
    for mode in ("auto", "reference"):
        losses, weights = gan_steps("gpu", mode)
        np.testing.assert_allclose(losses, cpu_losses, rtol=1e-4, err_msg=mode)
        ours = np.concatenate([weights[k].ravel() for k in cpu_weights])
        theirs = np.concatenate([cpu_weights[k].ravel() for k in cpu_weights])
        # Adam moves a weight by about lr = 2e-4 a step whatever its gradient's size, so a gradient
        # within rounding of 0 may take the other sign on the other device: allow a few such weights
        close = np.abs(ours - theirs) <= 1e-5 + 1e-3 * np.abs(theirs)
        assert close.mean() > 0.999, f"{mode}: {np.count_nonzero(~close)} of {close.size} weights differ"
        assert np.abs(ours - theirs).max() <= 3 * 2 * 2e-4 + 1e-5, mode


def train_tiny(tmp_path, tiny_idols, device, **settings):
    """One epoch of the tiny trainer on ``device`` (outputs under tmp_path/device/run), with any
    other ``settings``: its result and its log records."""
    from minigan.train import Trainer

    config = tiny_train_config(tmp_path / device, epochs=1, first_epoch_samples=1, device=device, **settings)
    result = Trainer(config, dataset=tiny_idols).run()
    log = tmp_path / device / "run" / "log.jsonl"
    return result, [json.loads(line) for line in log.read_text().splitlines()]


def test_a_tiny_training_run_on_the_gpu_logs_the_cpu_losses(cp, tmp_path, tiny_idols):
    """One epoch of the trainer (uint8 data moved once, augmentation on the device, a host sync
    every log_every steps): the same logged losses as on the CPU, to float32 rounding."""
    gpu_result, gpu_log = train_tiny(tmp_path, tiny_idols, "gpu")
    cpu_result, cpu_log = train_tiny(tmp_path, tiny_idols, "cpu")
    assert gpu_result["step"] == cpu_result["step"] == 4 and not gpu_result["interrupted"]
    steps = [r for r in gpu_log if r["type"] == "step"]
    cpu_steps = [r for r in cpu_log if r["type"] == "step"]
    assert [r["step"] for r in steps] == [r["step"] for r in cpu_steps] == [2, 4]
    for ours, theirs in zip(steps, cpu_steps):
        for key in ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_g"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-3), key
    for name in ("progress.gif", "fooled.png", "samples/epoch_001.png", "checkpoints/last.npz"):
        assert (tmp_path / "gpu" / "run" / name).is_file(), name


def test_a_conditional_run_with_the_auxiliary_classifier_logs_the_cpu_losses_on_the_gpu(cp, tmp_path, tiny_idols):
    """The labels (NumPy) meet the classifier's logits (CuPy) in the cross-entropy of both steps:
    the same logged losses, the classifier's included, as on the CPU."""
    settings = {"condition": "hair_color,eye_color", "aux_weight": 1.0}
    _, gpu_log = train_tiny(tmp_path, tiny_idols, "gpu", **settings)
    _, cpu_log = train_tiny(tmp_path, tiny_idols, "cpu", **settings)
    steps, cpu_steps = ([r for r in log if r["type"] == "step"] for log in (gpu_log, cpu_log))
    assert len(steps) == len(cpu_steps) == 2
    for ours, theirs in zip(steps, cpu_steps):
        for key in ("loss_d", "loss_g", "aux_d", "aux_g"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-3), key


def test_sampling_on_the_gpu_draws_the_cpu_idols(cp, tmp_path, tiny_idols):
    """The same checkpoint and seed give the same idols on both devices (pixel values within 1)."""
    from minigan.checkpoint import load_generator
    from minigan.data import to_images
    from minigan.sampling import generate, noise

    train_tiny(tmp_path, tiny_idols, "cpu")
    z = noise(np.random.default_rng(0), 32, 8)
    images = {device: to_images(generate(load_generator(tmp_path / "cpu" / "run", device)[0], z))
              for device in ("cpu", "gpu")}
    difference = np.abs(images["gpu"].astype(int) - images["cpu"].astype(int))
    assert difference.max() <= 1 and (difference == 0).mean() > 0.99


def test_a_learned_vector_on_the_gpu_is_the_cpus(cp, tmp_path, tiny_idols):
    """learn_vector's gradient through classifier and generator, and its Adam steps, on CuPy."""
    from minigan.checkpoint import load_generator
    from minigan.models.classifier import load_classifier, save_classifier, train_classifier
    from minigan.latent import learn_vector

    train_tiny(tmp_path, tiny_idols, "cpu")
    clf, _ = train_classifier(tiny_idols, epochs=5, batch_size=8, width=4, feature_dim=16, progress=False)
    save_classifier(tmp_path / "clf.npz", clf, tiny_idols.vocab)
    vectors = {}
    for device in ("cpu", "gpu"):
        G, _ = load_generator(tmp_path / "cpu" / "run", device)
        classifier, _ = load_classifier(tmp_path / "clf.npz", device)
        vectors[device], _ = learn_vector(G, classifier, "hair_color", 1, keep=("hair_style",), steps=5, n=64,
                                          batch_size=16, lr=0.05, max_length=2.0, progress=False)
    assert isinstance(vectors["gpu"], np.ndarray)
    assert_close(vectors["gpu"], vectors["cpu"], rtol=1e-3, atol=1e-5, what="learned vector")
