"""The moving average of the generator's weights: the fused kernel against the reference, the
decay law with its ramp-up, and its state."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import kernels
from minigan.kernels import cpu, reference
from minigan.models.dcgan import Generator
from minigan.optim import ExponentialMovingAverage

from .cases import DTYPES


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(7,), (3, 1000), (64, 3, 4, 4)], ids=lambda s: "x".join(map(str, s)))
def test_ema_kernel_equals_the_reference_bit_for_bit(shape, dtype, rng):
    average, x = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    ours, theirs = average.copy(), average.copy()
    for decay in (0.0, 0.5, 0.9993, 1.0, 0.37):
        cpu.ema_update(ours, x, decay)
        reference.ema_update(theirs, x, decay)
        np.testing.assert_array_equal(ours.view(np.uint8), theirs.view(np.uint8))
        x = x[::-1].copy()


def test_ema_reference_is_the_textbook_rule(rng):
    average, x = rng.standard_normal(5), rng.standard_normal(5)
    expected = 0.75 * average + 0.25 * x
    reference.ema_update(average, x, 0.75)
    np.testing.assert_allclose(average, expected, rtol=1e-15)


def test_ema_kernel_refuses_a_copy_it_would_update_in_vain(rng):
    average = rng.standard_normal((4, 6)).T  # not C-contiguous: reshape(-1) would be a copy
    with pytest.raises(ValueError, match="C-contiguous"):
        cpu.ema_update(average, np.zeros_like(average), 0.5)


def test_the_average_follows_the_model_with_the_half_life(rng):
    G = Generator(nz=4, ngf=2, image_size=8, rng=0)
    ema = ExponentialMovingAverage(G, half_life=1000, rampup=None)
    first = G.layers[0].params["W"].copy()
    assert ema.update(100) == pytest.approx(0.5 ** 0.1)
    np.testing.assert_allclose(ema.average.layers[0].params["W"], first, rtol=1e-6)  # the same weights: no change
    G.layers[0].params["W"][...] = first + 1.0
    for _ in range(10):  # 10 x 100 images = one half-life: half way from the old weights to the new
        ema.update(100)
    np.testing.assert_allclose(ema.average.layers[0].params["W"], first + 0.5, rtol=1e-5, atol=1e-5)
    G.layers[1].running_mean[...] = 4.0  # buffers are averaged too
    ema.update(1000)
    np.testing.assert_allclose(ema.average.layers[1].running_mean, 2.0, rtol=1e-6)


def test_ramp_up_starts_with_a_copy_and_caps_the_half_life():
    G = Generator(nz=4, ngf=2, image_size=8, rng=0)
    ema = ExponentialMovingAverage(G, half_life=10_000, rampup=0.05)
    assert ema.decay(64) == 0.0  # nothing seen yet: copy the model
    ema.images = 20_000  # the half-life is then min(10,000, 0.05 * 20,000) = 1,000 images
    assert ema.decay(64) == pytest.approx(0.5 ** (64 / 1000))
    ema.images = 1_000_000
    assert ema.decay(64) == pytest.approx(0.5 ** (64 / 10_000))
    assert ExponentialMovingAverage(G, half_life=0).decay(64) == 0.0
    with pytest.raises(ValueError):
        ExponentialMovingAverage(G, half_life=float("nan"))


def test_state_round_trip_and_independent_arrays():
    G = Generator(nz=4, ngf=2, image_size=8, rng=0)
    ema = ExponentialMovingAverage(G, half_life=500)
    ema.update(64)
    G.layers[0].params["W"] += 1
    ema.update(64)
    assert not np.shares_memory(ema.average.layers[0].params["W"], G.layers[0].params["W"])
    other = ExponentialMovingAverage(Generator(nz=4, ngf=2, image_size=8, rng=1), half_life=500)
    other.load_state_dict(ema.state_dict())
    assert other.images == 128
    for (name, a), b in zip(ema.average.state_dict().items(), other.average.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_the_dispatcher_routes_to_the_reference_in_reference_mode(rng):
    average, x = rng.standard_normal(8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    expected = average.copy()
    reference.ema_update(expected, x, 0.25)
    with kernels.use_kernels("reference"):
        kernels.ema_update(average, x, 0.25)
    np.testing.assert_array_equal(average, expected)


# -- in the trainer --------------------------------------------------------------------------------


def test_the_trainer_samples_the_average_and_saves_it(tmp_path, tiny_idols):
    from minigan.checkpoint import load_checkpoint, load_generator
    from minigan.train import Trainer

    from .cases import tiny_train_config

    trainer = Trainer(tiny_train_config(tmp_path, epochs=1, ema_half_life=500.0), dataset=tiny_idols)
    assert trainer.sampled_generator is trainer.ema.average
    trainer.run()
    assert trainer.ema.images == trainer.step * 8
    arrays, meta = load_checkpoint(tmp_path / "run")
    assert meta["ema"] == {"half_life": 500.0, "images": trainer.ema.images}
    G_ema, meta = load_generator(tmp_path / "run")
    assert meta["generator"] == "G_ema"
    for name, value in trainer.ema.average.state_dict().items():
        np.testing.assert_array_equal(G_ema.state_dict()[name], value, err_msg=name)
        np.testing.assert_array_equal(arrays[f"G_ema/{name}"], value)
    G, meta = load_generator(tmp_path / "run", raw=True)
    assert meta["generator"] == "G"
    np.testing.assert_array_equal(G.layers[0].params["W"], trainer.G.layers[0].params["W"])
    assert not np.array_equal(G.layers[0].params["W"], G_ema.layers[0].params["W"])  # they differ
    epoch = load_checkpoint(tmp_path / "run" / "checkpoints" / "epoch_001.npz")[0]
    assert any(k.startswith("G_ema/") for k in epoch)  # the per-epoch weights keep the average too


def test_resume_is_exact_for_the_average_too(tmp_path, tiny_idols):
    from minigan.train import Trainer

    from .cases import tiny_train_config

    straight = Trainer(tiny_train_config(tmp_path / "a"), dataset=tiny_idols)
    straight.run()
    first = Trainer(tiny_train_config(tmp_path / "b", epochs=1), dataset=tiny_idols)
    first.run()
    resumed = Trainer(resume=tmp_path / "b" / "run", overrides={"epochs": 2}, dataset=tiny_idols)
    resumed.run()
    assert resumed.ema.images == straight.ema.images
    for name, value in straight.ema.average.state_dict().items():
        np.testing.assert_array_equal(resumed.ema.average.state_dict()[name], value, err_msg=name)


def test_without_an_average_and_from_before_it_existed(tmp_path, tiny_idols):
    """--ema-half-life 0 keeps no average; a checkpoint written before the setting existed (no
    ema_half_life in its settings, no G_ema) resumes, without an average, and still loads."""
    from minigan.checkpoint import load_checkpoint, load_generator, save_checkpoint
    from minigan.train import Trainer

    from .cases import tiny_train_config

    trainer = Trainer(tiny_train_config(tmp_path, epochs=1, ema_half_life=0.0), dataset=tiny_idols)
    assert trainer.ema is None and trainer.sampled_generator is trainer.G
    trainer.run()
    path = tmp_path / "run" / "checkpoints" / "last.npz"
    arrays, meta = load_checkpoint(path)
    assert not any(k.startswith("G_ema/") for k in arrays) and "G_ema" not in meta["models"]
    del meta["config"]["ema_half_life"], meta["ema"]  # as written before the average existed
    save_checkpoint(path, arrays, meta)
    assert load_generator(tmp_path / "run")[1]["generator"] == "G"
    resumed = Trainer(resume=tmp_path / "run", overrides={"epochs": 2}, dataset=tiny_idols)
    assert resumed.config.ema_half_life == 0.0 and resumed.ema is None
    resumed.run()


def test_commands_draw_the_average_and_raw_the_trained_generator(tmp_path, tiny_idols, capsys):
    from minigan import cli
    from minigan.train import Trainer

    from .cases import tiny_train_config

    Trainer(tiny_train_config(tmp_path, epochs=1, ema_half_life=500.0), dataset=tiny_idols).run()
    run = str(tmp_path / "run")
    from minigan.latent import load_vector

    for extra, which in (([], "G_ema"), (["--raw"], "G")):
        out = tmp_path / f"v{len(extra)}.npz"
        assert cli.main(["vector", "--checkpoint", run, "--plus", "0,1,2", "--minus", "3,4,5", "--out", str(out),
                         *extra]) == 0
        assert load_vector(out).meta["generator"] == which


def test_callbacks_watch_a_run_without_changing_it(tmp_path, tiny_idols):
    from minigan.train import Trainer

    from .cases import tiny_train_config
    from .helpers import weights

    class Watcher:
        steps, epochs = 0, []

        def after_step(self, trainer):
            self.steps += 1

        def after_epoch(self, trainer):
            self.epochs.append(trainer.epoch)

    watcher = Watcher()
    watched = Trainer(tiny_train_config(tmp_path / "a"), dataset=tiny_idols, callbacks=[watcher])
    watched.run()
    assert watcher.steps == watched.step == 8 and watcher.epochs == [1, 2]
    plain = Trainer(tiny_train_config(tmp_path / "b"), dataset=tiny_idols)
    plain.run()
    for name, value in weights(plain).items():
        np.testing.assert_array_equal(weights(watched)[name], value, err_msg=name)
