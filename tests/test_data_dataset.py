"""The dataset object, conversions to model input and back, batches, and the dataset command."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from minigan import cli
from minigan.backend import to_numpy
from minigan.data import (ImageDataset, iterate_batches, load_dataset_npz, model_batches, save_dataset_npz,
                          to_images, to_model_input)
from minigan.cli import dataset as dataset_command
from minigan.data.summary import attribute_table
from minigan.errors import DatasetError

from .cases import DEVICES


pytestmark = pytest.mark.usefixtures("cache")  # a cache folder of its own for every test (conftest)


def small_dataset(rng, n=10):
    images = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    labels = {"hair_color": np.arange(n) % 3, "character": np.arange(n) // 2}
    vocab = {"hair_color": ["black", "blond", "red"], "character": [f"c{i}" for i in range((n + 1) // 2)]}
    return ImageDataset(images, labels, vocab, source="test")


def test_model_input_is_float32_nchw_in_range(rng):
    images = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    images[0, 0, 0] = (0, 128, 255)
    x = to_model_input(images)
    assert x.dtype == np.float32 and x.shape == (5, 3, 64, 64) and x.flags.c_contiguous
    assert x.min() >= -1 and x.max() <= 1
    assert x[0, 0, 0, 0] == -1 and x[0, 2, 0, 0] == 1
    np.testing.assert_allclose(x[0, :, 0, 0], [-1, 128 / 127.5 - 1, 1], atol=1e-7)
    assert to_model_input(images[0]).shape == (1, 3, 64, 64)


def test_to_images_inverts_and_clips(rng):
    images = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    back = to_images(to_model_input(images))
    assert back.dtype == np.uint8 and back.shape == images.shape
    np.testing.assert_array_equal(back, images)
    out = to_images(np.array([[[[-3.0]], [[0.0]], [[7.0]]]]))  # (1, 3, 1, 1)
    assert out.tolist() == [[[[0, 128, 255]]]]


@pytest.mark.parametrize("device", DEVICES)
def test_model_batches_dtype_range_shape_and_device(device, rng):
    ds = small_dataset(rng, 10)
    batches = list(model_batches(ds.images, 4, np.random.default_rng(0), device=device,
                                 augment={"zoom": (1.0, 1.2), "rotate": 10.0, "flip": True}))
    assert len(batches) == 2
    for x in batches:
        assert x.shape == (4, 3, 64, 64) and x.dtype == np.float32
        xn = to_numpy(x)
        assert xn.min() >= -1 and xn.max() <= 1
        assert (device == "gpu") == (type(x) is not np.ndarray)
    plain = next(model_batches(ds.images, 4, np.random.default_rng(0), device=device))
    idx = next(iterate_batches(10, 4, np.random.default_rng(0)))
    np.testing.assert_array_equal(to_numpy(plain), to_model_input(ds.images[idx]))


def test_iterate_batches_is_a_fresh_permutation_each_epoch():
    rng = np.random.default_rng(0)
    first = list(iterate_batches(10, 3, rng))
    assert [len(b) for b in first] == [3, 3, 3] and all(b.dtype == np.int64 for b in first)
    assert len(np.unique(np.concatenate(first))) == 9
    second = np.concatenate(list(iterate_batches(10, 3, rng)))
    assert not np.array_equal(np.concatenate(first), second)
    keep_all = list(iterate_batches(10, 3, rng, drop_last=False))
    assert [len(b) for b in keep_all] == [3, 3, 3, 1]
    assert sorted(np.concatenate(keep_all).tolist()) == list(range(10))
    with pytest.raises(DatasetError, match="fewer than one batch"):
        list(iterate_batches(5, 8, rng))
    assert [len(b) for b in iterate_batches(5, 8, rng, drop_last=False)] == [5]


def test_subset_counts_and_npz_roundtrip(rng, tmp_path):
    ds = small_dataset(rng, 10)
    sub = ds.subset(ds.labels["hair_color"] == 1)
    assert len(sub) == 3 and (sub.labels["hair_color"] == 1).all()
    assert sub.vocab == ds.vocab and sub.names == ds.names
    assert ds.counts("hair_color") == {"black": 4, "blond": 3, "red": 3}
    assert ds.subset([9, 0]).label_names("character") == ["c4", "c0"]
    path = save_dataset_npz(tmp_path / "d.npz", ds, meta={"note": "x"})
    back, meta = load_dataset_npz(path)
    assert meta == {"note": "x"} and back.source == "test" and back.vocab == ds.vocab
    np.testing.assert_array_equal(back.images, ds.images)
    for name in ds.labels:
        np.testing.assert_array_equal(back.labels[name], ds.labels[name])
    (tmp_path / "bad.npz").write_bytes(b"xx")
    with pytest.raises(DatasetError):
        load_dataset_npz(tmp_path / "bad.npz")


def test_dataset_rejects_inconsistent_input(rng):
    with pytest.raises(ValueError):
        ImageDataset(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(ValueError):
        ImageDataset(np.zeros((2, 64, 64, 3), np.uint8), {"a": np.array([0, 5])}, {"a": ["x"]})


def make_folder(root, n_per=3):
    for who, color in (("aoi", (200, 30, 30)), ("rin", (30, 30, 200))):
        (root / who).mkdir(parents=True)
        for i in range(n_per):
            Image.new("RGB", (40, 40), tuple(c + 10 * i for c in color)).save(root / who / f"{i}.png")
    return root


def test_preview_command_on_a_folder(tmp_path, capsys):
    folder = make_folder(tmp_path / "icons")
    out = tmp_path / "out" / "sheet.png"
    assert dataset_command.main(["preview", "--data", str(folder), "--out", str(out), "--character", "rin"]) == 0
    text = capsys.readouterr().out
    assert out.exists() and (tmp_path / "out" / "sheet_character.png").exists()
    assert "attribute" in text and "characters" in text
    with Image.open(out) as sheet:
        assert sheet.width >= 2 * 64
    with pytest.raises(DatasetError, match="no such folder"):
        dataset_command.main(["preview", "--data", str(folder), "--out", str(out), "--character", "nobody"])
    assert dataset_command.main(["preview", "--data", str(folder), "--out", str(out), "--character", "0",
                          "--augment", "light", "--colors", "64"]) == 0
    with Image.open(tmp_path / "out" / "sheet_augment.png") as page:
        assert page.mode == "P"  # --colors writes palette images
    with pytest.raises(DatasetError, match="augment 'sideways': use one of"):
        dataset_command.main(["preview", "--data", str(folder), "--out", str(out), "--augment", "sideways"])


def test_info_and_errors_through_the_cli(tmp_path, capsys):
    folder = make_folder(tmp_path / "icons")
    assert cli.main(["dataset", "info", "--data", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "6 x 64x64x3" in text and "folder" in text and "cache" in text
    assert cli.main(["dataset", "info", "--data", str(tmp_path / "missing")]) == 2
    assert "error" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        dataset_command.main(["--help"])
    assert "preview" in capsys.readouterr().out


def test_attribute_table_counts_characters_and_images(rng):
    ds = small_dataset(rng, 10)
    rows = attribute_table(ds)
    assert ("hair_color", "black", 4, 4) in rows  # images 0, 3, 6, 9 -> characters 0, 1, 3, 4
