"""The built-in idol set: vocabulary, counts, determinism, caching, hair colour readability."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from minigan.data import ImageDataset, load_dataset, load_idols
from minigan.data import idols
from minigan.data.idols import ATTRIBUTES, IDOLS_VERSION, VOCAB, generate_idols, idols_cache_path, make_cast
from minigan.errors import DatasetError


pytestmark = pytest.mark.usefixtures("cache")  # a cache folder of its own for every test (conftest)


def sha(ds: ImageDataset) -> str:
    h = hashlib.sha256(ds.images.tobytes())
    for name in sorted(ds.labels):
        h.update(name.encode() + ds.labels[name].tobytes())
    return h.hexdigest()


def test_cast_has_the_required_attributes():
    cast = make_cast(0)
    assert len(cast) == 203
    assert len({c.name for c in cast}) == 203  # unique names
    hair = np.bincount([c.hair_color for c in cast], minlength=len(VOCAB["hair_color"]))
    assert len(VOCAB["hair_color"]) >= 8 and (hair > 0).all()
    assert hair[VOCAB["hair_color"].index("blond")] >= 20
    assert hair[VOCAB["hair_color"].index("black")] >= 20
    styles = {VOCAB["hair_style"][c.hair_style] for c in cast}
    assert len(styles) >= 6
    assert {"short", "bob", "long", "twin tails", "ponytail", "side tail", "buns"} <= styles
    assert len({c.eye_color for c in cast}) >= 5
    assert {"none", "ribbon", "hair clip", "headband", "hat"} <= {VOCAB["accessory"][c.accessory] for c in cast}
    assert len({c.skin_tone for c in cast}) >= 3
    assert len({c.costume_color for c in cast}) >= 6


def test_cast_depends_on_the_seed_only():
    a, b, c = make_cast(0), make_cast(0), make_cast(1)
    assert a == b
    assert [x.name for x in a] != [x.name for x in c]


def test_small_set_shapes_labels_and_vocab():
    ds = generate_idols(seed=0, characters=[0, 5], images_per_character=3, workers=1)
    assert ds.images.shape == (6, 64, 64, 3) and ds.images.dtype == np.uint8
    assert set(ATTRIBUTES) <= set(ds.labels)
    for name in ("character", "hair_color", "hair_style", "eye_color", "accessory", "skin_tone",
                 "costume_color", "expression"):
        assert ds.labels[name].dtype == np.int64 and ds.labels[name].shape == (6,)
        assert ds.labels[name].max() < len(ds.vocab[name])
    assert ds.labels["character"].tolist() == [0, 0, 0, 5, 5, 5]
    assert ds.names == ds.vocab["character"] and len(ds.names) == 203
    cast = make_cast(0)
    assert ds.vocab["hair_color"][ds.labels["hair_color"][3]] == VOCAB["hair_color"][cast[5].hair_color]
    assert ds.source == "idols(seed=0)"
    # not blank: icons of one character differ (pose, expression, background), characters differ
    assert not np.array_equal(ds.images[0], ds.images[1])
    assert ds.images.std() > 30


@pytest.mark.slow  # draws 108 icons, 96 of them in two worker processes
def test_same_seed_same_bytes_whatever_the_workers_and_subset():
    one = generate_idols(seed=3, characters=[0, 1], images_per_character=3, workers=1)
    again = generate_idols(seed=3, characters=[0, 1], images_per_character=3, workers=1)
    assert sha(one) == sha(again)
    parallel = generate_idols(seed=3, characters=[0, 1], images_per_character=48, workers=2)
    assert np.array_equal(parallel.images[np.r_[0:3, 48:51]], one.images)
    alone = generate_idols(seed=3, characters=[1], images_per_character=3, workers=1)
    assert np.array_equal(alone.images, one.images[3:])  # a subset draws the same icons
    other = generate_idols(seed=4, characters=[0, 1], images_per_character=3, workers=1)
    assert sha(other) != sha(one)


def test_load_idols_caches_and_reuses(cache):
    ds = load_idols(seed=0, characters=[2, 7], images_per_character=2)
    path = idols_cache_path(0, characters=[2, 7], images_per_character=2)
    assert ds.cache_path == path and path.exists() and path.parent == cache
    assert f"v{IDOLS_VERSION}" in path.name and "seed0" in path.name
    again = load_idols(seed=0, characters=[2, 7], images_per_character=2)
    assert sha(again) == sha(ds) == sha(generate_idols(0, [2, 7], 2, workers=1))
    with np.load(path, allow_pickle=False) as z:  # a plain npz: no pickle needed
        assert np.array_equal(z["images"], ds.images)


def test_damaged_cache_is_drawn_again(cache):
    ds = load_idols(seed=0, characters=[1], images_per_character=2)
    ds.cache_path.write_bytes(b"not a zip file")
    again = load_idols(seed=0, characters=[1], images_per_character=2)
    assert sha(again) == sha(ds)


def test_version_bump_invalidates_the_cache(monkeypatch, cache):
    old = load_idols(seed=0, characters=[0], images_per_character=1).cache_path
    keep = cache / "idols-v999-seed0-203x22.npz"  # a newer version (another install): left alone
    keep.write_bytes(b"x")
    monkeypatch.setattr(idols, "IDOLS_VERSION", IDOLS_VERSION + 1)
    new = load_idols(seed=0, characters=[0], images_per_character=1).cache_path
    assert new != old and new.exists()
    assert not old.exists() and keep.exists()  # the stale older version was removed


def test_load_dataset_names():
    ds = load_dataset("idols:2", characters=[0], images_per_character=2)
    assert ds.source == "idols(seed=2)" and len(ds) == 2
    with pytest.raises(DatasetError, match="integer"):
        load_dataset("idols:x")
    with pytest.raises(DatasetError, match="no such folder"):
        load_dataset("/no/such/folder/anywhere")


@pytest.mark.slow  # draws 204 icons
def test_hair_colour_is_readable_from_the_pixels():
    """A linear classifier on colour histograms tells the hair colour of unseen characters:
    hair is the salient attribute the attribute vectors and the classifier rely on."""
    chars = np.arange(0, 203, 2)  # 102 characters, 2 icons each
    ds = generate_idols(seed=0, characters=chars, images_per_character=2, workers=1)
    q = (ds.images.astype(np.int64) * 6) // 256  # (N, 64, 64, 3) in 0..5
    code = (q[..., 0] * 36 + q[..., 1] * 6 + q[..., 2]).reshape(len(ds), -1)  # (N, 4096)
    x = np.stack([np.bincount(c, minlength=216) for c in code]) / 4096.0  # (N, 216) colour histogram
    x = np.hstack([x, np.ones((len(x), 1))])
    y = ds.labels["hair_color"]
    train = ds.labels["character"] % 4 != 0  # test on characters never seen in training
    onehot = np.eye(len(ds.vocab["hair_color"]))[y]
    w = np.linalg.solve(x[train].T @ x[train] + 1e-2 * np.eye(x.shape[1]), x[train].T @ onehot[train])
    accuracy = ((x[~train] @ w).argmax(1) == y[~train]).mean()
    assert accuracy >= 0.9, accuracy


def test_several_casts_are_one_dataset_whose_characters_are_numbered_across_them(cache):
    from minigan.data.idols import load_casts

    one = [load_idols(seed, characters=range(3), images_per_character=2, workers=1) for seed in (4, 5)]
    both = load_casts([4, 5], characters=range(3), images_per_character=2, workers=1)
    assert len(both) == 12 and both.source == "idols(seeds=4,5)"
    np.testing.assert_array_equal(both.images, np.concatenate([d.images for d in one]))
    np.testing.assert_array_equal(both.labels["hair_color"], np.concatenate([d.labels["hair_color"] for d in one]))
    # characters 0-2 of cast 4, then 0-2 of cast 5 as 203-205 (each cast names all 203, drawn or not)
    assert sorted(set(both.labels["character"])) == [0, 1, 2, 203, 204, 205]
    assert both.vocab["character"][203] == one[1].vocab["character"][0] + " (cast 5)"
    assert both.vocab["hair_color"] == one[0].vocab["hair_color"]
    with pytest.raises(DatasetError, match="distinct seeds"):
        load_casts([4, 4])


def test_the_edit_ceiling_redraws_an_icon_with_one_label_changed_and_nothing_else():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "edit_ceiling.py"
    spec = importlib.util.spec_from_file_location("edit_ceiling", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    cast = make_cast(0)
    ch, pose = cast[5], idols.make_pose(0, 5, 3)
    data = np.asarray(idols.draw_idol(ch, pose), np.int16)
    same_style = example.with_label(ch, "hair_style", ch.hair_style)
    np.testing.assert_array_equal(np.asarray(idols.draw_idol(same_style, pose), np.int16), data)  # only the label moves
    same_colour = np.asarray(idols.draw_idol(example.with_label(ch, "hair_color", ch.hair_color), pose), np.int16)
    assert np.abs(same_colour - data).mean() < 1  # the character's own small colour jitter, no more
    other = (ch.hair_color + 1) % len(VOCAB["hair_color"])
    changed = example.with_label(ch, "hair_color", other)
    assert changed.hair_color == other and changed.hair_style == ch.hair_style and changed.eye == ch.eye
    assert np.abs(np.asarray(idols.draw_idol(changed, pose), np.int16) - data).mean() > 5  # the hair is redrawn
    eyes = example.with_label(ch, "eye_color", (ch.eye_color + 1) % len(VOCAB["eye_color"]))
    assert eyes.eye != ch.eye and eyes.hair == ch.hair
