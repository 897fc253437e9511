"""Shared fixtures: devices (CPU always; GPU when CuPy reaches one), seeded generators, and the
tiny idol set, GAN and attribute classifier that the trainer, latent, evaluate, backend and GPU
tests share (built once per session)."""

from __future__ import annotations

import numpy as np
import pytest

from minigan.backend import gpu_available

_GPU = gpu_available()

#: Parametrize a test over every device: ``@pytest.mark.parametrize("device", DEVICES)``.
#: The GPU case carries the ``gpu`` marker and is skipped when no GPU is usable, so GPU tests
#: are the same tests, never a copied file.
GPU = [pytest.mark.gpu, pytest.mark.skipif(not _GPU, reason="CuPy cannot reach a GPU")]
DEVICES = ["cpu", pytest.param("gpu", marks=GPU)]
#: ``GPU`` alone marks a test that only means something on a GPU (``pytestmark = GPU``):
#: tests/test_gpu.py, which compares the GPU with the CPU.


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def tiny_idols():
    """32 idol icons (4 characters x 8), shrunk to 16x16 so that a step takes milliseconds."""
    from minigan.data import ImageDataset, generate_idols

    ds = generate_idols(seed=0, characters=range(4), images_per_character=8, workers=1)
    small = ds.images.reshape(32, 16, 4, 16, 4, 3).mean(axis=(2, 4)).round().astype(np.uint8)  # (32, 16, 16, 3)
    return ImageDataset(small, ds.labels, ds.vocab, source="tiny idols")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_idols):
    """A tiny GAN trained for two steps' worth of epochs, made lively; returns its checkpoint path.

    Eight steps teach a 16x16 GAN little: its idols are grey and nearly alike, so every one is
    classified the same and no attribute vector can be built. To give the tests varied idols,
    the trained generator's BatchNorm statistics are set to those of a batch of 512 (momentum 1)
    and its output layer is made 5x stronger; the result is saved as an ordinary checkpoint.
    """
    from minigan.checkpoint import model_arrays, save_checkpoint
    from minigan.nn import BatchNorm2d
    from minigan.sampling import noise
    from minigan.train import TrainConfig, Trainer

    out = tmp_path_factory.mktemp("latent")
    trainer = Trainer(TrainConfig(out=str(out), name="run", epochs=2, batch_size=8, nz=8, ngf=4, ndf=4,
                                  first_epoch_samples=0, log_every=2, fooled_n=16, seed=3), dataset=tiny_idols)
    trainer.run()
    G = trainer.G.train()
    for layer in G.layers:
        if isinstance(layer, BatchNorm2d):
            layer.momentum = 1.0
    G.forward(noise(np.random.default_rng(99), 512, G.nz))
    G.eval().layers[-2].params["W"] *= 5
    path = out / "lively.npz"
    save_checkpoint(path, {**model_arrays("G", G), **model_arrays("D", trainer.D)}, trainer._meta("gan-weights"))
    return path


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory, tiny_idols):
    """An attribute classifier for 16x16 idols (trained to 100% on the 32 icons in ~0.1 s)."""
    from minigan.models.classifier import save_classifier, train_classifier

    clf, report = train_classifier(tiny_idols, epochs=40, batch_size=8, width=4, feature_dim=16, holdout=0.25,
                                   progress=False)
    path = tmp_path_factory.mktemp("classifier") / "classifier.npz"
    save_classifier(path, clf, tiny_idols.vocab, {"training": report})
    return path
