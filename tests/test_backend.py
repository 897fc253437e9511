"""Devices: NumPy by default; a clear error, with the install command, when CuPy is missing."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backend
from minigan.errors import DeviceError, MiniganError

from .cases import tiny_train_config


def test_numpy_is_the_default():
    x = np.zeros(3)
    assert backend.get_array_module(x) is np
    assert backend.get_array_module(1.0, None) is np
    assert backend.to_numpy(x) is x or np.shares_memory(backend.to_numpy(x), x)
    assert backend.to_device(x, "cpu") is x
    assert backend.device_of(x) == "cpu"


@pytest.mark.parametrize("name,expected", [("cpu", "cpu"), ("GPU", "gpu"), ("cuda", "gpu"), ("cuda:0", "gpu")])
def test_device_names(name, expected):
    assert backend.normalize_device(name) == expected


def test_unknown_device_name():
    with pytest.raises(ValueError, match="use 'cpu' or 'gpu'"):
        backend.normalize_device("tpu")


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is available here")
def test_gpu_without_cupy_says_how_to_install():
    with pytest.raises(DeviceError, match=r'pip install -e "\.\[cuda12\]"') as info:
        backend.to_device(np.zeros(2), "gpu")
    assert isinstance(info.value, MiniganError)
    assert "device gpu needs a working CuPy" in str(info.value)


# -- every command's --device gpu, on a machine without a usable GPU ------------------------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, tiny_idols):
    """A training checkpoint of a tiny untrained DCGAN (16x16 idols), written without training."""
    from minigan.train import Trainer

    out = tmp_path_factory.mktemp("runs")
    trainer = Trainer(tiny_train_config(out), dataset=tiny_idols)
    trainer.save()
    return out / "run"


COMMANDS = {
    "train": ["--epochs", "1"],
    "sample": ["--checkpoint", "{run}", "--out", "{tmp}/s.png"],
    "fooled": ["--checkpoint", "{run}", "--out", "{tmp}/f.png"],
    "interpolate": ["--checkpoint", "{run}", "--out", "{tmp}/i.png"],
    "vector": ["--checkpoint", "{run}", "--plus", "1,2,3", "--minus", "4,5,6", "--out", "{tmp}/v.npz"],
    "edit": ["--checkpoint", "{run}", "--vector", "{tmp}/v.npz", "--out", "{tmp}/e.png"],
    "evaluate": ["--checkpoint", "{run}", "--classifier", "{tmp}/c.npz", "--out", "{tmp}/eval"],
    "classifier": ["train", "--out", "{tmp}/c.npz"],
}


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is available here")
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_with_device_gpu_says_how_to_install_cupy(command, tiny_checkpoint, tmp_path, monkeypatch, capsys):
    """Without a usable CuPy, ``--device gpu`` is one clear line (what is missing, the pip
    command) and exit status 2, before any data is loaded or anything is written."""
    import minigan.data
    from minigan.cli import main

    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded before the device was checked")

    for loader in ("load_idols", "load_folder"):  # what load_dataset calls, wherever it was imported
        monkeypatch.setattr(minigan.data, loader, no_data)
    monkeypatch.chdir(tmp_path)  # train writes under ./runs if it gets that far
    argv = [a.format(run=tiny_checkpoint, tmp=tmp_path) for a in COMMANDS[command]]
    assert main([command, *argv, "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"minigan {command}: error: --device gpu needs a working CuPy")
    assert 'pip install -e ".[cuda12]"' in err and 'pip install -e ".[cuda13]"' in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written
