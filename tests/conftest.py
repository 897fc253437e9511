"""Shared fixtures: a seeded generator, a private cache folder, and the tiny idol set, GAN and
attribute classifier that the trainer, latent, evaluate, backend and GPU tests share (built
once per session). The case lists (devices, layers, geometries) are in tests/cases.py."""

from __future__ import annotations

import numpy as np
import pytest

from .cases import tiny_train_config


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    """NumPy's BLAS on one thread for the whole session (threadpoolctl, in the dev extras;
    without it the BLAS keeps its threads).

    The tests multiply small matrices thousands of times, and OpenBLAS's threads spin after
    each call: on a busy 2-core machine a step of the small GAN of tests/test_gan.py took
    0.064 s of CPU with OpenBLAS's threads and 0.007 s on one. Every test also passes with the
    default threads, but OpenBLAS's float32 products can differ in the last bit with the thread
    count (seen on an AVX-512 EPYC), so a test that compares this process's training with a
    subprocess's limits the subprocess to one thread too (test_reliability.py).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of the test's own (``MINIGAN_CACHE``): never the real one in the home
    directory. Modules that read or write the cache use it for every test with
    ``pytestmark = pytest.mark.usefixtures("cache")``."""
    path = tmp_path / "cache"
    monkeypatch.setenv("MINIGAN_CACHE", str(path))
    return path


@pytest.fixture(scope="session")
def tiny_idols():
    """32 idol icons (4 characters x 8), shrunk to 16x16 so that a step takes milliseconds."""
    from minigan.data import ImageDataset, generate_idols

    ds = generate_idols(seed=0, characters=range(4), images_per_character=8, workers=1)
    small = ds.images.reshape(32, 16, 4, 16, 4, 3).mean(axis=(2, 4)).round().astype(np.uint8)  # (32, 16, 16, 3)
    return ImageDataset(small, ds.labels, ds.vocab, source="tiny idols")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_idols):
    """A tiny GAN trained for two epochs (8 steps), made lively; returns its checkpoint path.

    Eight steps teach a 16x16 GAN little: its idols are grey and nearly alike, so every one is
    classified the same and no attribute vector can be built. To give the tests varied idols,
    the trained generator's BatchNorm statistics are set to those of a batch of 512 (momentum 1)
    and its output layer is made 5x stronger; the result is saved as an ordinary checkpoint.
    """
    from minigan.checkpoint import model_arrays, save_checkpoint
    from minigan.nn import BatchNorm2d
    from minigan.sampling import noise
    from minigan.train import Trainer

    out = tmp_path_factory.mktemp("latent")
    trainer = Trainer(tiny_train_config(out, first_epoch_samples=0, save_every=5, ema_half_life=0.0),  # no average:
                      dataset=tiny_idols)  # the lively G below is saved as the one generator
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
