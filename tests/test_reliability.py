"""Never lose work, never save a bad model: settings, divergence, atomic writes, full disks,
crashes and resume, image folders that fight back."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from minigan import checkpoint as checkpoint_module
from minigan import train as train_module
from minigan.checkpoint import (load_checkpoint, load_generator, remove_stale_temp_files, save_checkpoint,
                                write_atomically, write_text_atomically)
from minigan.data import load_folder
from minigan.errors import CheckpointError, DatasetError, DiskFullError, MiniganError, TrainingDiverged
from minigan.config import FLOAT_RANGES, INT_RANGES, TrainConfig
from minigan.train import Trainer

from .cases import tiny_train_config
from .helpers import assert_same_weights, weights

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("MINIGAN_CACHE", str(path))
    return path


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def log_records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def assert_no_duplicates(records):
    keys = [(r["type"], r["step"]) for r in records]
    assert len(keys) == len(set(keys)), keys


def without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


# -- 1. settings, divergence, and never a non-finite checkpoint -----------------------------------

BAD_SETTINGS = [
    ("lr_g", float("inf"), r"lr_g must be a finite number in \(0, 1\], got inf"),
    ("lr_g", float("nan"), r"lr_g must be a finite number in \(0, 1\], got nan"),
    ("lr_d", 1e16, r"lr_d must be a finite number in \(0, 1\], got 1e\+16"),
    ("lr_d", 0.0, r"lr_d must be a finite number in \(0, 1\]"),
    ("lr_g", -2e-4, r"lr_g must be a finite number in \(0, 1\]"),
    ("beta1", 1.0, r"beta1 must be a finite number in \[0, 1\), got 1.0"),
    ("beta2", float("-inf"), r"beta2 must be a finite number in \[0, 1\)"),
    ("real_label", float("nan"), r"real_label must be a finite number in \(0, 1\]"),
    ("real_label", "0.9", r"real_label must be a finite number in \(0, 1\], got '0.9'"),
    ("batch_size", 10**7, r"batch_size must be an integer in \[1, 4096\], got 10000000"),
    ("batch_size", True, r"batch_size must be an integer in \[1, 4096\], got True"),
    ("nz", 0, r"nz must be an integer in \[1, 4096\]"),
    ("ngf", 10**6, r"ngf must be an integer in \[1, 1024\]"),
    ("ndf", 2.5, r"ndf must be an integer in \[1, 1024\], got 2.5"),
    ("epochs", -1, r"epochs cannot be negative"),
    ("epochs", 10**9, r"epochs must be an integer in \[0, 100000\]"),
    ("seed", -1, r"seed must be an integer in \[0, 9223372036854775807\]"),
    ("log_every", 0, r"log_every must be an integer in \[1, 1000000\]"),
    ("save_every", 0, r"save_every must be an integer in \[1, 100000\]"),
    ("keep_epochs", -3, r"keep_epochs must be an integer in \[0, 100000\]"),
    ("limit", -1, r"limit must be an integer in \[0, 1000000000\]"),
    ("fooled_n", 10**8, r"fooled_n must be an integer in \[1, 10000\]"),
    ("first_epoch_samples", -1, r"first_epoch_samples must be an integer in \[0, 1000\]"),
    ("name", "../elsewhere", r"name must be a plain folder name"),
    ("name", "", r"name must be a plain folder name"),
    ("device", 0, r"device must be a string"),
    ("lr_g", 10**400, r"lr_g must be a finite number in \(0, 1\]"),
]


def test_every_problem_is_reported_at_once():
    with pytest.raises(MiniganError, match=r"lr_g must be a finite number in \(0, 1\], got inf; diffaugment is not "
                                           r"valid: unknown DiffAugment") as info:
        TrainConfig(lr_g=float("inf"), diffaugment="color,blur").validate()
    assert info.value.for_command_line().startswith("bad training settings: --lr-g must be a finite number")
    assert "; --diffaugment is not valid" in info.value.for_command_line()


@pytest.mark.parametrize("field,value,message", BAD_SETTINGS)
def test_settings_out_of_range_are_refused_naming_the_field_and_its_range(field, value, message):
    with pytest.raises(MiniganError, match=message):
        TrainConfig(**{field: value}).validate()


def test_every_numeric_setting_has_a_range_and_the_defaults_are_inside():
    numeric = {f for f, v in vars(TrainConfig()).items() if isinstance(v, (int, float))}
    assert numeric == set(INT_RANGES) | set(FLOAT_RANGES)
    TrainConfig().validate()
    for name, (lo, hi) in INT_RANGES.items():  # both ends are allowed
        TrainConfig(**{name: lo}).validate()
        TrainConfig(**{name: hi}).validate()
    TrainConfig(lr_g=1.0, lr_d=1e-12, beta1=0.0, real_label=1.0).validate()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN arithmetic, on purpose
def test_an_infinite_learning_rate_that_slips_past_validation_never_reaches_a_checkpoint(tmp_path, tiny_idols):
    """A run of one step per epoch with Adam's lr = inf (set after validation): the step's losses
    were computed before its update (finite), the update made the generator NaN. Before, that
    generator was saved as the last good checkpoint and the run ended "done"."""
    trainer = Trainer(tiny_train_config(tmp_path, epochs=1, batch_size=32), dataset=tiny_idols)
    trainer.opt_g.lr = float("inf")
    with pytest.raises(TrainingDiverged, match=r"diverged at step 1 \(epoch 1\): NaN or infinity in G/0\.W.*"
                                               r"no checkpoint was saved yet"):
        trainer.run()
    assert not list((tmp_path / "run" / "checkpoints").iterdir())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN arithmetic, on purpose
def test_divergence_after_a_good_epoch_names_the_checkpoint_that_really_is_good(tmp_path, tiny_idols):
    trainer = Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols)
    trainer.run()
    last = tmp_path / "run" / "checkpoints" / "last.npz"
    good = last.read_bytes()
    trainer.config.epochs = 2
    trainer.opt_g.lr = float("inf")
    with pytest.raises(TrainingDiverged) as info:
        trainer.run()
    assert f"the last good checkpoint is {last} (epoch 1, step 4)" in str(info.value)
    assert last.read_bytes() == good and not (tmp_path / "run" / "checkpoints" / "epoch_002.npz").exists()
    arrays, meta = load_checkpoint(last)  # refuses NaN: this proves it is good
    assert meta["step"] == 4 and all(np.isfinite(v).all() for v in arrays.values() if v.dtype.kind == "f")


def test_divergence_is_seen_in_the_weights_even_when_the_losses_are_finite(tmp_path, tiny_idols, monkeypatch):
    """BatchNorm's running variance is used only in eval mode: training losses stay finite while
    the generator that would be saved (and sampled) is broken."""
    trainer = Trainer(tiny_train_config(tmp_path, epochs=2), dataset=tiny_idols)
    real_step, calls = train_module.train_step, []

    def step_then_poison(*args, **kwargs):
        result = real_step(*args, **kwargs)
        calls.append(1)
        if len(calls) == 5:  # during epoch 2, after epoch 1's checkpoint
            trainer.G.layers[1].running_var[0] = np.inf
        return result

    monkeypatch.setattr(train_module, "train_step", step_then_poison)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 6 \(epoch 2\): NaN or infinity in "
                                               r"G/1\.running_var, G_ema/1\.running_var; the last good checkpoint is .*last\.npz \(epoch 1, step 4\)"):
        trainer.run()
    assert all(np.isfinite(r["loss_d"]) for r in log_records(tmp_path / "run") if r["type"] == "step")
    assert load_checkpoint(tmp_path / "run")[1]["step"] == 4


def test_a_poisoned_adam_state_is_caught_before_it_is_saved(tmp_path, tiny_idols):
    trainer = Trainer(tiny_train_config(tmp_path, epochs=1, log_every=100), dataset=tiny_idols)
    trainer.run()
    trainer.opt_d.state["0.W"]["v"][...] = np.nan  # harms nothing until the next step reads it
    with pytest.raises(TrainingDiverged, match=r"NaN or infinity in opt_d/0\.W/v"):
        trainer.save()


def test_save_checkpoint_refuses_non_finite_arrays_and_load_refuses_them_too(tmp_path, tiny_idols):
    Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols).run()
    arrays, meta = load_checkpoint(tmp_path / "run")
    poisoned = {**arrays, "G/0.W": np.full_like(arrays["G/0.W"], np.nan)}
    with pytest.raises(CheckpointError, match=r"refusing to write .*bad\.npz: G/0\.W hold NaN"):
        save_checkpoint(tmp_path / "bad.npz", poisoned, meta)
    assert not (tmp_path / "bad.npz").exists() and not temp_files(tmp_path)
    # written behind minigan's back: refused on load, with a clear message
    np.savez(tmp_path / "bad.npz", **poisoned, __meta__=np.array(json.dumps(meta)))
    with pytest.raises(CheckpointError, match=r"bad\.npz holds NaN or infinite values in G/0\.W: it is not a usable model"):
        load_generator(tmp_path / "bad.npz")


# -- 2. atomic writes and full disks --------------------------------------------------------------


def test_write_atomically_replaces_whole_files_and_reports_a_full_disk(tmp_path, monkeypatch):
    target = tmp_path / "out" / "file.bin"
    write_atomically(target, lambda f: f.write(b"old content"))
    assert target.read_bytes() == b"old content"

    def fill_the_disk(f):
        f.write(b"new con")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(DiskFullError, match=rf"cannot write {target}: the disk is full"):
        write_atomically(target, fill_the_disk)
    assert target.read_bytes() == b"old content" and os.listdir(target.parent) == ["file.bin"]
    def quota_exceeded(fd):  # a full quota on a network file system: reported on fsync
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))

    monkeypatch.setattr(os, "fsync", quota_exceeded)
    with pytest.raises(DiskFullError, match=r"new\.txt: the disk is full"):
        write_text_atomically(tmp_path / "out" / "new.txt", "text")
    monkeypatch.undo()
    assert os.listdir(target.parent) == ["file.bin"]  # no empty new.txt, no temporary file
    with pytest.raises(ZeroDivisionError):  # a bug in the writer is not hidden, nor is its file kept
        write_atomically(target, lambda f: (f.write(b"x"), 1 / 0))
    assert target.read_bytes() == b"old content" and os.listdir(target.parent) == ["file.bin"]


def test_a_full_disk_while_saving_a_checkpoint_keeps_the_previous_one(tmp_path, tiny_idols, monkeypatch):
    trainer = Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols)
    trainer.run()
    run = tmp_path / "run"
    good = (run / "checkpoints" / "last.npz").read_bytes()
    real_savez = np.savez

    def savez_then_disk_full(f, **arrays):
        real_savez(f, **arrays)
        f.truncate(f.tell() // 2)  # half of it made it to the disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", savez_then_disk_full)
    trainer.config.epochs = 2
    with pytest.raises(DiskFullError, match=r"cannot write .*checkpoints/last\.npz: the disk is full"):
        trainer.run()
    assert (run / "checkpoints" / "last.npz").read_bytes() == good
    assert not temp_files(run) and not [p for p in run.rglob("*") if p.is_file() and p.stat().st_size == 0]


def test_a_full_disk_at_any_write_leaves_only_complete_files(tmp_path, tiny_idols, monkeypatch):
    """The disk fills up at the n-th file a one-epoch run writes, for every n: a DiskFullError
    naming that file, and every file in the run folder complete (pictures open, checkpoints
    load, the log parses), none empty but the fresh log, no temporary file left."""
    real_fsync = os.fsync
    written, fail_at = [], [0]

    def fsync(fd):
        if not stat.S_ISDIR(os.fstat(fd).st_mode):  # a file's data, not a folder's rename
            written.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd)
            if len(written) == fail_at[0]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    Trainer(tiny_train_config(tmp_path / "count", epochs=1), dataset=tiny_idols, stream=io.StringIO()).run()
    n_files = len(written)
    assert n_files >= 10  # log lines, config, pictures, two checkpoints...
    for n in range(1, n_files + 1):
        written.clear()
        fail_at[0] = n
        run = tmp_path / f"full{n}" / "run"
        trainer = Trainer(tiny_train_config(run.parent, epochs=1), dataset=tiny_idols, stream=io.StringIO())
        with pytest.raises(DiskFullError, match=rf"cannot write {run}/.*: the disk is full"):
            trainer.run()
        assert not temp_files(run), n
        for p in run.rglob("*"):
            if p.is_dir():
                continue
            assert p.stat().st_size > 0 or p.name == "log.jsonl", p
            if p.suffix in (".png", ".gif"):
                Image.open(p).load()
            elif p.suffix == ".npz":
                load_checkpoint(p)
            elif p.suffix == ".jsonl":
                for line in p.read_text().splitlines():
                    json.loads(line)
            elif p.suffix == ".json":
                json.loads(p.read_text())


def test_a_full_disk_while_writing_a_folder_cache_is_a_warning_not_a_failure(tmp_path, monkeypatch):
    d = tmp_path / "icons"
    d.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(d / f"{i}.png")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.warns(UserWarning, match=r"could not write the cache of .*the disk is full"):
        ds = load_folder(d)
    assert len(ds) == 3 and ds.cache_path is None and not temp_files(tmp_path / "cache")


# -- 3. crashes do not block resume -----------------------------------------------------------------


def test_resume_after_a_torn_log_line_and_stale_temporary_files(tmp_path, tiny_idols):
    straight = Trainer(tiny_train_config(tmp_path / "a"), dataset=tiny_idols)
    straight.run()
    first = Trainer(tiny_train_config(tmp_path / "b", epochs=1), dataset=tiny_idols)
    first.run()
    run = tmp_path / "b" / "run"
    with open(run / "log.jsonl", "a") as f:  # what a run killed in epoch 2 leaves: its records, a torn line
        f.write(json.dumps({"type": "step", "step": 6, "epoch": 2, "loss_d": 1.0}) + "\n")
        f.write('{"type": "step", "step": 8, "ep')
    stale = [run / "checkpoints" / ".last.npz.k2j3h4_x.tmp", run / "samples" / ".epoch_002.png.abcdefgh.tmp",
             run / ".log.jsonl.12345678.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    keep = run / "checkpoints" / "notes.tmp"  # not a name minigan writes: left alone
    keep.write_text("mine")
    out = io.StringIO()
    resumed = Trainer(resume=run, overrides={"epochs": 2}, dataset=tiny_idols, stream=out)
    assert not any(p.exists() for p in stale) and keep.exists()
    assert "dropped 1 damaged line(s) of" in out.getvalue()
    assert [r["step"] for r in log_records(run)] == [2, 4, 4]  # cut back to the checkpoint's step 4
    resumed.run()
    assert_same_weights(weights(straight), weights(resumed))
    records = log_records(run)
    assert_no_duplicates(records)
    assert without_seconds(records) == without_seconds(log_records(tmp_path / "a" / "run"))


def test_remove_stale_temp_files_removes_only_write_atomically_names(tmp_path):
    names = [".last.npz.abcd1234.tmp", ".x.png.A_b9zzzz.tmp", "last.npz", ".last.npz", "a.tmp", ".last.npz.toolongname.tmp"]
    for n in names:
        (tmp_path / n).write_text("x")
    removed = sorted(p.name for p in remove_stale_temp_files(tmp_path))
    assert removed == [".last.npz.abcd1234.tmp", ".x.png.A_b9zzzz.tmp"]
    assert sorted(os.listdir(tmp_path)) == sorted(set(names) - set(removed))


CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from minigan import checkpoint, train

    out, data, mode, at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    marker = Path(out) / "killed-here"
    steps = []
    real_step, real_replace = train.train_step, os.replace

    def hang():
        marker.write_text(str(len(steps)))
        time.sleep(120)  # the parent kills us here

    def step(*args, **kwargs):  # mode "step": killed in the middle of an epoch, after step `at`
        result = real_step(*args, **kwargs)
        steps.append(1)
        if mode == "step" and len(steps) == at:
            hang()
        return result

    def replace(src, dst):  # mode "save": killed while the checkpoint after step `at` is written
        if mode == "save" and str(dst).endswith("last.npz") and len(steps) == at:
            hang()
        return real_replace(src, dst)

    train.train_step = step
    checkpoint.os.replace = replace
    try:  # the BLAS on one thread, like the test session's (conftest.py): its results depend on the thread count
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        pass
    config = train.TrainConfig(out=out, name="run", data=data, epochs=2, batch_size=4, nz=8, ngf=4, ndf=4,
                               first_epoch_samples=1, log_every=1, fooled_n=8, seed=5, save_every=1)
    train.Trainer(config).run()
""")


@pytest.fixture
def icon_folder(tmp_path, tiny_idols):
    d = tmp_path / "icons"
    d.mkdir()
    for i, image in enumerate(tiny_idols.images[:16]):
        Image.fromarray(image).resize((64, 64), Image.NEAREST).save(d / f"{i:02d}.png")
    return d


@pytest.mark.slow
@pytest.mark.parametrize("mode,at", [("step", 6), ("save", 8)])
def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_result(tmp_path, icon_folder, mode, at):
    """A real crash: a training in a subprocess is SIGKILLed in the middle of epoch 2 (mode "step",
    after step 6 of 8) or while it writes epoch 2's (the last) checkpoint (mode "save": the log already has
    epoch 2's records, a temporary checkpoint lies next to last.npz). The resumed run's final
    checkpoint is bit-identical to an uninterrupted run's and its log has no duplicates."""
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(killed), str(icon_folder), mode, str(at)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marker = killed / "killed-here"
    deadline = time.monotonic() + 120
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    _, err = child.communicate()
    assert marker.exists(), err.decode()[-2000:]
    assert child.returncode == -signal.SIGKILL
    run = killed / "run"
    assert load_checkpoint(run)[1]["step"] == 4  # epoch 1's: the only checkpoint that was completed
    if mode == "save":
        assert len(temp_files(run / "checkpoints")) == 1
        assert max(r["step"] for r in log_records(run)) == 8  # epoch 2 was logged, but never saved

    resumed = Trainer(resume=run, stream=io.StringIO())
    assert (resumed.epoch, resumed.step) == (1, 4) and not temp_files(run)
    resumed.run()
    straight = Trainer(TrainConfig(out=str(tmp_path / "straight"), name="run", data=str(icon_folder), epochs=2,
                                   batch_size=4, nz=8, ngf=4, ndf=4, first_epoch_samples=1, log_every=1, fooled_n=8,
                                   seed=5, save_every=1), stream=io.StringIO())
    straight.run()
    a, meta_a = load_checkpoint(run)
    b, meta_b = load_checkpoint(tmp_path / "straight" / "run")
    assert a.keys() == b.keys() and meta_a["step"] == meta_b["step"] == 8
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert meta_a["rng"] == meta_b["rng"]
    records = log_records(run)
    assert_no_duplicates(records)
    assert without_seconds(records) == without_seconds(log_records(tmp_path / "straight" / "run"))


# -- 5. image folders: broken entries, content-keyed caches, changed data on resume ----------------


def make_icons(d: Path, n=4):
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (16, 16), (40 * i, 10, 200)).save(d / f"{i}.png")


def test_broken_links_loops_odd_names_and_unreadable_folders_are_skipped_with_one_warning(tmp_path, monkeypatch):
    from minigan.data import folder as folder_module

    monkeypatch.setattr(folder_module, "_NAMED", 10)  # name all seven (five and a count by default)
    d = tmp_path / "icons"
    make_icons(d, 3)
    os.symlink(d / "missing.png", d / "dangling.png")
    os.symlink(d / "loop_b.png", d / "loop_a.png")
    os.symlink(d / "loop_a.png", d / "loop_b.png")
    os.symlink(d / "0.png", d / "alias.png")  # a good link: read
    (d / "sub").mkdir()
    Image.new("RGB", (16, 16)).save(d / "sub" / "x.png")
    (d / "locked").mkdir()
    Image.new("RGB", (16, 16)).save(d / "locked" / "y.png")
    os.symlink(d, d / "sub" / "up")  # a folder loop
    with open(os.path.join(os.fsencode(d), b"caf\xe9.png"), "wb") as f:  # not UTF-8 (Latin-1)
        f.write((d / "1.png").read_bytes())
    os.mkdir(os.path.join(os.fsencode(d), b"d\xfcr"))  # a subfolder whose name is not UTF-8 either
    with open(os.path.join(os.fsencode(d), b"d\xfcr", b"z.png"), "wb") as f:
        f.write((d / "1.png").read_bytes())
    real_scandir = os.scandir

    def scandir(path="."):  # a subfolder the user cannot read (chmod means nothing to root)
        if os.fspath(path).endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_folder(d)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    message = messages[0]
    assert message.startswith(f"skipped 7 unusable entries in {d}")
    for part in ("dangling.png (broken symbolic link)", "loop_a.png (symbolic link loop)", "loop_b.png (symbolic link loop)",
                 "caf\\xe9.png (file name is not valid UTF-8)", "d\\xfcr/ (folder name is not valid UTF-8)", "locked/ (folder cannot be read: Permission denied)",
                 "sub/up/ (symbolic link to a folder, not followed)"):
        assert part in message, (part, message)
    assert len(ds) == 5  # 0, 1, 2, alias and sub/x
    assert ds.vocab["folder"] == [".", "sub"]


def test_an_unreadable_top_folder_is_a_dataset_error(tmp_path, monkeypatch):
    d = tmp_path / "icons"
    make_icons(d, 2)
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(d):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DatasetError, match=rf"cannot read the image folder {d}: Permission denied"):
        load_folder(d)


def test_the_folder_cache_is_keyed_on_content(tmp_path):
    d = tmp_path / "icons"
    make_icons(d, 4)
    first = load_folder(d)
    st = (d / "2.png").stat()
    os.utime(d / "2.png", ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))  # touched, not changed
    assert load_folder(d).cache_path == first.cache_path
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    for p in d.iterdir():
        copy.joinpath(p.name).write_bytes(p.read_bytes())
    moved = load_folder(copy)
    assert moved.cache_path == first.cache_path and moved.source == str(copy)
    # the same size and mtime, other pixels: read again
    Image.new("RGB", (16, 16), (1, 2, 3)).save(d / "2.png")
    assert (d / "2.png").stat().st_size == st.st_size
    os.utime(d / "2.png", ns=(st.st_atime_ns, st.st_mtime_ns))
    changed = load_folder(d)
    assert changed.cache_path != first.cache_path and tuple(changed.images[2, 0, 0]) == (1, 2, 3)


@pytest.mark.parametrize("damage", ["truncate", "flip", "other_images", "no_checksum"])
def test_a_damaged_or_tampered_folder_cache_is_detected_and_rebuilt(tmp_path, damage):
    d = tmp_path / "icons"
    make_icons(d, 4)
    good = load_folder(d)
    path = good.cache_path
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "flip":
        i = data.index(b"images.npy") + 400  # inside the pixels
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1:])
    else:  # a well-formed file with other pixels: rewritten by hand, its checksum left as it was
        with np.load(path) as z:
            header = json.loads(str(z["meta_json"]))
            arrays = {k: z[k] for k in z.files}
        arrays["images"] = np.zeros_like(arrays["images"])
        if damage == "no_checksum":
            del header["sha256"]
        arrays["meta_json"] = np.array(json.dumps(header))
        np.savez(path, **arrays)
    with pytest.warns(UserWarning, match=r"the cache .* cannot be used .*reading the folder again"):
        again = load_folder(d)
    np.testing.assert_array_equal(again.images, good.images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load_folder(d).images, good.images)  # the rebuilt cache is good


def test_resume_on_a_folder_whose_images_changed_is_refused(tmp_path, icon_folder):
    config = TrainConfig(out=str(tmp_path / "runs"), name="run", data=str(icon_folder), epochs=1, batch_size=8,
                         nz=8, ngf=4, ndf=4, first_epoch_samples=0, fooled_n=8)
    Trainer(config, stream=io.StringIO()).run()
    run = tmp_path / "runs" / "run"
    Trainer(resume=run, overrides={"epochs": 2}, stream=io.StringIO())  # unchanged: fine
    Image.new("RGB", (64, 64), (0, 0, 0)).save(icon_folder / "03.png")  # the same 16 files, one redrawn
    with pytest.raises(CheckpointError, match=r"the images of .*icons changed since this run started \(the same "
                                              r"16 images in number, but other pixels"):
        Trainer(resume=run, overrides={"epochs": 2}, stream=io.StringIO())


def test_checkpoints_record_what_the_data_was(tmp_path, tiny_idols):
    trainer = Trainer(tiny_train_config(tmp_path, epochs=1), dataset=tiny_idols)
    trainer.run()
    _, meta = load_checkpoint(tmp_path / "run")
    assert meta["dataset"] == {"source": "tiny idols", "images": 32,
                               "images_sha256": hashlib.sha256(tiny_idols.images.tobytes()).hexdigest()}
    assert json.loads((tmp_path / "run" / "config.json").read_text())["dataset"] == meta["dataset"]
    assert checkpoint_module.non_finite_arrays({"a": np.zeros(2), "b": np.array([1.0, np.inf]), "i": np.arange(3)}) == ["b"]


@pytest.mark.usefixtures("cache")
def test_a_full_disk_while_caching_the_idol_set_is_a_warning(monkeypatch):
    """The cache is a convenience: the idols are drawn and returned all the same."""
    from minigan.data import idols

    def full(path, *args, **kwargs):
        raise DiskFullError(f"cannot write {path}: the disk is full")

    monkeypatch.setattr(idols, "save_dataset_npz", full)
    with pytest.warns(UserWarning, match="could not write the cache of the idol set: .*the disk is full"):
        ds = idols.load_idols(seed=0, characters=[0, 1], images_per_character=2, workers=1)
    assert len(ds) == 4 and ds.cache_path is None


def test_losses_that_explode_while_finite_stop_the_run(tmp_path, tiny_idols, monkeypatch):
    """D's logits blown up a millionfold: every number stays finite, the losses are absurd."""
    trainer = Trainer(tiny_train_config(tmp_path, epochs=2), dataset=tiny_idols)
    real_step, calls = train_module.train_step, []

    def step_then_explode(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # during epoch 2, after epoch 1's checkpoint
            trainer.D.layers[-1].params["W"] *= 1e6
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_step", step_then_explode)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 6 \(epoch 2\): loss_d = .* exploded.*last good "
                                               r"checkpoint is .*last\.npz \(epoch 1, step 4\)"):
        trainer.run()
    assert load_checkpoint(tmp_path / "run")[1]["step"] == 4
