"""The trainer: outputs, checkpoints, exact resume, Ctrl-C, NaN, and bad input."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from minigan import train as train_module
from minigan.checkpoint import load_checkpoint, load_discriminator, load_generator, save_checkpoint
from minigan.errors import CheckpointError, MiniganError, TrainingDiverged
from minigan.train import TrainConfig, Trainer

from .cases import DEVICES, tiny_train_config
from .helpers import assert_same_weights, weights


@pytest.mark.parametrize("device", DEVICES)
def test_a_short_run_writes_every_output(device, tmp_path, tiny_idols):
    trainer = Trainer(tiny_train_config(tmp_path, device=device), dataset=tiny_idols)
    result = trainer.run()
    run = tmp_path / "run"
    for name in ("config.json", "real.png", "progress.gif", "losses.png", "log.jsonl", "fooled.png",
                 "samples/epoch_000.png", "samples/epoch_001.png", "samples/epoch_002.png",
                 "checkpoints/last.npz", "checkpoints/epoch_001.npz", "checkpoints/epoch_002.npz"):
        assert (run / name).is_file(), name
    assert len(list((run / "samples").glob("epoch_000_step_*.png"))) == 2  # snapshots in the first epoch
    assert result["step"] == 8 and result["epoch"] == 2 and not result["interrupted"]
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["type"] == "step"] == [2, 4, 6, 8]
    assert all(np.isfinite(r["loss_d"]) for r in records if r["type"] == "step")
    assert json.loads((run / "config.json").read_text())["batch_size"] == 8
    from PIL import Image

    with Image.open(run / "progress.gif") as gif:
        assert gif.n_frames == 5  # untrained, two first-epoch snapshots, two epochs
    # the checkpoint reloads into models that produce the trainer's samples
    G, meta = load_generator(run, raw=True)
    D, _ = load_discriminator(run / "checkpoints" / "epoch_002.npz")
    assert meta["kind"] == "gan-training" and meta["step"] == 8
    assert_same_weights({f"G/{k}": v for k, v in G.state_dict().items()},
                        {k: v for k, v in weights(trainer).items() if k.startswith("G/")})
    assert D.forward(np.zeros((2, 3, 16, 16), np.float32)).shape == (2,)


def test_zero_epochs_saves_the_untrained_models(tmp_path, tiny_idols):
    """--epochs 0: evaluate's baseline, the very generator a run with this seed starts from."""
    untrained = Trainer(tiny_train_config(tmp_path / "a", epochs=0), dataset=tiny_idols)
    assert untrained.run()["step"] == 0
    run = tmp_path / "a" / "run"
    for name in ("checkpoints/last.npz", "checkpoints/epoch_000.npz", "samples/epoch_000.png", "fooled.png"):
        assert (run / name).is_file(), name
    G, meta = load_generator(run)
    assert meta["step"] == 0
    started = Trainer(tiny_train_config(tmp_path / "b", epochs=1), dataset=tiny_idols)  # same seed, not yet run
    assert_same_weights({f"G/{k}": v for k, v in G.state_dict().items()},
                        {k: v for k, v in weights(started).items() if k.startswith("G/")})
    resumed = Trainer(resume=run, overrides={"epochs": 1}, dataset=tiny_idols)  # and it can be trained on
    assert resumed.run()["step"] == len(tiny_idols) // 8


def test_epoch_weights_every_n_epochs_and_a_short_gif(tmp_path, tiny_idols):
    trainer = Trainer(tiny_train_config(tmp_path, epochs=5, save_every=2, first_epoch_samples=0), dataset=tiny_idols)
    trainer._write_progress_gif = lambda max_frames=3, _f=trainer._write_progress_gif: _f(max_frames)
    trainer.run()
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("epoch_*.npz"))
    assert names == ["epoch_002.npz", "epoch_004.npz", "epoch_005.npz"]
    from PIL import Image

    assert Image.open(tmp_path / "run" / "progress.gif").n_frames == 3  # 6 grids, 3 kept: first, middle, last


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, tiny_idols):
    """The tiny run's two epochs in one go, the run the resumed ones must equal: its folder and
    its final weights."""
    out = tmp_path_factory.mktemp("straight")
    trainer = Trainer(tiny_train_config(out), dataset=tiny_idols)
    trainer.run()
    return out / "run", weights(trainer)


def test_resume_continues_bit_identically(tmp_path, tiny_idols, straight_run):
    """2 epochs in one go == 1 epoch, resume, 1 more epoch (on the CPU, same bits)."""
    straight_dir, straight_weights = straight_run
    first = Trainer(tiny_train_config(tmp_path / "b", epochs=1), dataset=tiny_idols)
    first.run()
    resumed = Trainer(resume=tmp_path / "b" / "run", overrides={"epochs": 2}, dataset=tiny_idols)
    assert resumed.epoch == 1 and resumed.step == 4
    resumed.run()
    assert_same_weights(straight_weights, weights(resumed))
    a = load_checkpoint(straight_dir / "checkpoints" / "last.npz")[0]
    b = load_checkpoint(tmp_path / "b" / "run" / "checkpoints" / "last.npz")[0]
    for key in ("opt_g/0.W/m", "opt_d/0.W/v", "fixed_noise"):
        np.testing.assert_array_equal(a[key], b[key])


def test_ctrl_c_saves_mid_epoch_and_resumes_exactly(tmp_path, tiny_idols, monkeypatch, straight_run):
    real_step, calls = train_module.train_step, []

    def step_then_ctrl_c(*args, **kwargs):
        calls.append(1)
        result = real_step(*args, **kwargs)
        if len(calls) == 3:  # Ctrl-C arrives during the third step (mid-epoch)
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(train_module, "train_step", step_then_ctrl_c)
    interrupted = Trainer(tiny_train_config(tmp_path / "b"), dataset=tiny_idols)
    result = interrupted.run()
    assert result["interrupted"] and result["step"] == 3  # the step finished, then it stopped
    monkeypatch.setattr(train_module, "train_step", real_step)
    resumed = Trainer(resume=tmp_path / "b" / "run", dataset=tiny_idols)
    assert (resumed.epoch, resumed.batch_in_epoch) == (0, 3)
    resumed.run()
    assert_same_weights(straight_run[1], weights(resumed))


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path, tiny_idols):
    trainer = Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols)
    trainer.run()
    good = (tmp_path / "run" / "checkpoints" / "last.npz").read_bytes()
    trainer.config.epochs = 2
    trainer.D.layers[0].params["W"][...] = np.nan  # poison the discriminator
    with pytest.raises(TrainingDiverged, match=r"diverged at step \d+ \(epoch 2\): loss_d = nan.*last good checkpoint"):
        trainer.run()
    assert (tmp_path / "run" / "checkpoints" / "last.npz").read_bytes() == good


def test_a_second_run_with_the_same_name_is_refused(tmp_path, tiny_idols):
    Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols).run()
    with pytest.raises(MiniganError, match="already holds a run: resume it"):
        Trainer(tiny_train_config(tmp_path), dataset=tiny_idols)
    again = Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols, force=True)  # on purpose: start over
    assert again.step == 0


def test_a_new_run_never_lands_in_a_folder_of_other_files(tmp_path, tiny_idols):
    """Without last.npz the folder is not a run, but its files are someone's: refused, untouched."""
    folder = tmp_path / "run"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "epoch_001.npz").write_bytes(b"precious")
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(MiniganError, match=r"holds other files \(checkpoints, notes.txt\)"):
        Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols)
    assert (folder / "checkpoints" / "epoch_001.npz").read_bytes() == b"precious"
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoints", "notes.txt"]
    (folder / "notes.txt").unlink()
    (folder / "checkpoints" / "epoch_001.npz").unlink()
    Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols)  # an empty folder is fine


def test_unwritable_output_is_an_error_before_training(tmp_path, tiny_idols):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MiniganError, match="cannot write the run folder"):
        Trainer(tiny_train_config(blocker), dataset=tiny_idols)


def test_bad_settings_are_reported_together(tmp_path):
    with pytest.raises(MiniganError, match=r"epochs cannot be negative.*noise must be one of"):
        TrainConfig(epochs=-1, noise="pink").validate()
    with pytest.raises(MiniganError, match="unknown DiffAugment"):
        TrainConfig(diffaugment="color,blur").validate()


def test_too_few_images_for_a_batch(tmp_path, tiny_idols):
    with pytest.raises(MiniganError, match="fewer than one batch of 64"):
        Trainer(tiny_train_config(tmp_path, batch_size=64), dataset=tiny_idols)


def test_checkpoint_of_another_model_or_damaged_file(tmp_path, tiny_idols):
    Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols).run()
    arrays, meta = load_checkpoint(tmp_path / "run")
    meta["models"]["G"]["ngf"] = meta["models"]["G_ema"]["ngf"] = 8  # claims another width than its arrays have
    save_checkpoint(tmp_path / "other.npz", arrays, {k: v for k, v in meta.items() if k not in ("format", "version")})
    with pytest.raises(CheckpointError, match=r"(?s)does not fit this Generator.*0\.W: expected shape \(8, 16, 4, 4\), got \(8, 8, 4, 4\)"):
        load_generator(tmp_path / "other.npz", raw=True)
    with pytest.raises(CheckpointError, match=r"(?s)does not fit this Generator.*G_ema/0\.W: expected shape"):
        load_generator(tmp_path / "other.npz")
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes((tmp_path / "run" / "checkpoints" / "last.npz").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_generator(damaged)
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a minigan checkpoint"):
        load_generator(tmp_path / "plain.npz")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_generator(tmp_path / "missing.npz")
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        Trainer(resume=tmp_path / "run" / "checkpoints" / "epoch_001.npz", dataset=tiny_idols)


def test_checkpoints_hold_no_pickle(tmp_path, tiny_idols):
    Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols).run()
    with np.load(tmp_path / "run" / "checkpoints" / "last.npz", allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)


@pytest.mark.usefixtures("cache")  # the folder's images are cached in a folder of the test's own
def test_command_line_train_and_sample(tmp_path, tiny_idols, capsys):
    """`python -m minigan train` and `sample` end to end (a folder of PNGs as the data)."""
    from PIL import Image

    from minigan.cli import main

    data = tmp_path / "icons"
    data.mkdir()
    for i, image in enumerate(tiny_idols.images[:16]):
        Image.fromarray(image).resize((64, 64)).save(data / f"{i}.png")
    args = ["--out", str(tmp_path / "runs"), "--name", "cli", "--data", str(data), "--epochs", "1",
            "--batch-size", "8", "--ngf", "4", "--ndf", "4", "--nz", "8", "--fooled-n", "8"]
    assert main(["train", *args]) == 0
    run = tmp_path / "runs" / "cli"
    assert (run / "checkpoints" / "last.npz").exists()
    assert main(["train", *args]) == 2  # refused: the run exists
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", *args, "--force", "--resume", str(run)]) == 2
    assert "give one of them" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--batch-size", "4"]) == 2
    assert "only --epochs and --device can change" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(run), "--n", "10", "--out", str(tmp_path / "grid.png"), "--numbered"]) == 0
    assert main(["sample", "--checkpoint", str(run), "--n", "5", "--out", str(tmp_path / "pngs")]) == 0
    assert len(list((tmp_path / "pngs").glob("idol_*.png"))) == 5
    assert main(["sample", "--checkpoint", str(run), "--n", "6", "--seed", "4", "--out", str(tmp_path / "s.npz")]) == 0
    assert main(["sample", "--checkpoint", str(run), "--n", "6", "--seed", "4", "--out", str(tmp_path / "t.npz")]) == 0
    with np.load(tmp_path / "s.npz") as s, np.load(tmp_path / "t.npz") as t:
        assert s["images"].shape == (6, 64, 64, 3) and s["images"].dtype == np.uint8
        np.testing.assert_array_equal(s["images"], t["images"])  # a seed names the same idols
    assert main(["fooled", "--checkpoint", str(run), "--n", "16", "--top", "4", "--out", str(tmp_path / "f.png")]) == 0
    assert main(["sample", "--checkpoint", str(tmp_path / "nothing.npz"), "--out", str(tmp_path / "x.png")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


@pytest.mark.skipif(__import__("minigan.backend", fromlist=["gpu_available"]).gpu_available(),
                    reason="a GPU is available here")
def test_device_gpu_without_cupy_is_a_clear_error_before_any_work(tmp_path, tiny_idols):
    with pytest.raises(MiniganError, match="needs a working CuPy.*pip install"):
        Trainer(tiny_train_config(tmp_path, device="gpu"), dataset=tiny_idols)
    assert not (tmp_path / "run").exists()


def test_resume_with_other_data_is_refused(tmp_path, tiny_idols):
    Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols).run()
    with pytest.raises(CheckpointError, match=r"trained on tiny idols \(32 images\), but the data now is tiny idols \(16 images\)"):
        Trainer(resume=tmp_path / "run", overrides={"epochs": 2}, dataset=tiny_idols.subset(range(16)))
