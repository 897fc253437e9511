"""Noise-space walks: interpolation, attribute vectors and edits, on a tiny trained model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from minigan import cli
from minigan.checkpoint import load_generator
from minigan.data import to_images
from minigan.errors import MiniganError
from minigan.metrics import edit_success
from minigan.models.classifier import generate_and_classify, load_classifier
from minigan.latent import (edit_images, edit_noise, idol_noise, interpolate, interpolation_strips, learn_vector,
                            lerp, load_vector, save_vector, seed_noise, slerp, vector_from_exemplars,
                            vector_from_labels)
from minigan.sampling import generate, noise


def run_cli(*argv):
    return cli.main([str(a) for a in argv])


# -- interpolation --------------------------------------------------------------------------------


def test_lerp_and_slerp_meet_the_endpoints_and_slerp_stays_on_the_shell():
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal(100), rng.standard_normal(100)
    t = np.linspace(0, 1, 11)
    for path in (lerp(z0, z1, t), slerp(z0, z1, t)):
        assert path.shape == (11, 100) and path.dtype == np.float32
        np.testing.assert_allclose(path[0], z0, rtol=1e-6)
        np.testing.assert_allclose(path[-1], z1, rtol=1e-6)
    # the slerp norm moves linearly from |z0| to |z1|; the straight line's midpoint sinks inside
    np.testing.assert_allclose(np.linalg.norm(slerp(z0, z1, t), axis=1),
                               (1 - t) * np.linalg.norm(z0) + t * np.linalg.norm(z1), rtol=1e-5)
    mid_linear = np.linalg.norm(lerp(z0, z1, [0.5])[0])
    assert mid_linear < 0.8 * min(np.linalg.norm(z0), np.linalg.norm(z1))  # about 1/sqrt(2) of it
    # equal angular steps along the great circle
    u = slerp(z0, z1, t) / np.linalg.norm(slerp(z0, z1, t), axis=1, keepdims=True)
    angles = np.arccos(np.clip((u[:-1] * u[1:]).sum(axis=1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-3)


def test_slerp_of_parallel_vectors_falls_back_to_the_line():
    z = np.arange(1.0, 5.0)
    np.testing.assert_allclose(slerp(z, 2 * z, [0, 0.5, 1]), lerp(z, 2 * z, [0, 0.5, 1]), rtol=1e-6)
    with pytest.raises(ValueError, match="at least 2 steps"):
        interpolate(z, z, 1)
    with pytest.raises(ValueError, match="slerp' or 'linear"):
        interpolate(z, z, 3, "cubic")


def test_idols_are_named_as_on_the_numbered_sample_grid():
    grid = noise(np.random.default_rng(7), 64, 8)  # what `sample --numbered --seed 7 --n 64` draws
    np.testing.assert_array_equal(idol_noise(8, [3, 17, 0], seed=7), grid[[3, 17, 0]])
    np.testing.assert_array_equal(seed_noise(8, [7]), grid[:1])
    with pytest.raises(MiniganError, match="negative"):
        idol_noise(8, [-1])


@pytest.mark.parametrize("method", ["slerp", "linear"])
def test_interpolation_strips_change_smoothly(tiny_run, method):
    """No jumps: each step moves the image by a bounded share of the endpoints' distance, and
    twice the steps halve the largest step (the path is continuous). Measured on the generator's
    float output: the tiny model's idols differ by less than the uint8 rounding step."""
    G, _ = load_generator(tiny_run)
    z = noise(np.random.default_rng(0), 8, G.nz)
    largest_step = {}
    for steps in (12, 24):
        x = np.stack([generate(G, interpolate(a, b, steps, method)) for a, b in zip(z[0::2], z[1::2])])
        x = x.astype(np.float64)  # (4 pairs, steps, 3, S, S)
        neighbours = np.sqrt(((x[:, 1:] - x[:, :-1]) ** 2).mean(axis=(2, 3, 4)))  # (4, steps - 1)
        ends = np.sqrt(((x[:, -1] - x[:, 0]) ** 2).mean(axis=(1, 2, 3)))  # (4,)
        assert (ends > 0).all()
        assert (neighbours.max(axis=1) / ends).max() < 3.0 / (steps - 1)  # ~1/(steps-1) of the way per step
        largest_step[steps] = neighbours.max(axis=1)
    assert (largest_step[24] < 0.75 * largest_step[12]).all()
    # the strips are those images; their ends are the two idols themselves
    strips = interpolation_strips(G, z[0::2], z[1::2], 24, method)  # (4, 24, S, S, 3)
    assert strips.shape == (4, 24, 16, 16, 3)
    np.testing.assert_array_equal(strips[:, 0], to_images(generate(G, z[0::2])))
    np.testing.assert_array_equal(strips[:, -1], to_images(generate(G, z[1::2])))


def test_interpolate_command_writes_the_strips_and_the_morph(tiny_run, tmp_path, capsys):
    out = tmp_path / "interp.png"
    assert run_cli("interpolate", "--checkpoint", tiny_run, "--idols", "0,1,2,3", "--steps", 5, "--out", out,
                   "--gif-frames", 4) == 0
    assert "2 slerp interpolation(s) of 5 steps" in capsys.readouterr().out
    assert Image.open(out).size[1] > 2 * 32  # two rows of 16x16 idols shown at scale 2
    gif = Image.open(out.with_suffix(".gif"))
    assert gif.n_frames == 6  # 4 frames there, 2 back
    assert run_cli("interpolate", "--checkpoint", tiny_run, "--seeds", "5,9", "--linear", "--out", out,
                   "--gif-frames", 0) == 0
    assert "linear" in capsys.readouterr().out
    assert run_cli("interpolate", "--checkpoint", tiny_run, "--idols", "0,1,2", "--out", out) == 2
    assert "pairs of idols" in capsys.readouterr().err


# -- attribute vectors --------------------------------------------------------------------------


def test_vector_from_exemplars_is_the_difference_of_means_with_provenance(tiny_run, tmp_path, capsys):
    out = tmp_path / "blond.npz"
    argv = ["vector", "--checkpoint", tiny_run, "--plus", "3,17,22", "--minus", "5,9,41", "--name", "blond",
            "--seed", 2, "--out", out]
    assert run_cli(*argv) == 0
    vec = load_vector(out)
    z = noise(np.random.default_rng(2), 42, 8)
    np.testing.assert_allclose(vec.vector, z[[3, 17, 22]].mean(0) - z[[5, 9, 41]].mean(0), rtol=1e-5, atol=1e-6)
    assert vec.name == "blond" and vec.meta["method"] == "exemplars"
    assert vec.meta["plus_indices"] == [3, 17, 22] and vec.meta["minus_indices"] == [5, 9, 41]
    assert vec.meta["seed"] == 2 and vec.meta["checkpoint"] == str(tiny_run) and vec.meta["nz"] == 8
    assert vec.meta["epoch"] == 2 and vec.meta["noise"] == "gaussian"
    with np.load(out, allow_pickle=False) as data:  # plain arrays and a JSON string
        assert sorted(data.files) == ["meta_json", "vector"]
        json.loads(str(data["meta_json"]))
    first = out.read_bytes()
    assert run_cli(*argv) == 0
    np.testing.assert_array_equal(load_vector(out).vector, vec.vector)  # deterministic
    assert out.read_bytes() == first
    capsys.readouterr()
    assert run_cli("vector", "--checkpoint", tiny_run, "--plus", "3,17", "--minus", "5,9,41", "--out", out) == 2
    assert "at least 3" in capsys.readouterr().err
    assert run_cli("vector", "--checkpoint", tiny_run, "--plus", "3,x", "--minus", "5,9,41", "--out", out) == 2
    assert "whole numbers" in capsys.readouterr().err


def test_vector_from_labels_classifies_samples_and_is_deterministic(tiny_run, tiny_classifier, tmp_path, capsys):
    G, _ = load_generator(tiny_run)
    clf, meta = load_classifier(tiny_classifier)
    vocab = meta["vocab"]
    # pick the class the tiny generator's idols are most often given, so both sides are populated
    z = noise(np.random.default_rng(0), 200, G.nz)
    predicted = generate_and_classify(G, clf, z)[0].predictions
    pred = predicted["hair_color"]
    common = vocab["hair_color"][np.bincount(pred).argmax()]
    vector, counts = vector_from_labels(G, clf, "hair_color", common, "rest", n=200, seed=0, vocab=vocab,
                                        progress=False)
    is_common = pred == vocab["hair_color"].index(common)
    np.testing.assert_allclose(vector, z[is_common].mean(0) - z[~is_common].mean(0), rtol=1e-5, atol=1e-6)
    assert counts == {"plus": int(is_common.sum()), "minus": int((~is_common).sum()), "n": 200}

    # balanced by hair style: the differences within each style, averaged
    balanced, bcounts = vector_from_labels(G, clf, "hair_color", common, "rest", n=200, seed=0, vocab=vocab,
                                           balance=["hair_style"], progress=False)
    style = predicted["hair_style"]
    parts, weights = [], []
    for k in np.unique(style):
        p, m = is_common & (style == k), ~is_common & (style == k)
        if p.any() and m.any():
            parts.append(z[p].mean(0) - z[m].mean(0))
            weights.append(p.sum() * m.sum() / (p.sum() + m.sum()))
    np.testing.assert_allclose(balanced, np.average(parts, axis=0, weights=weights), rtol=1e-4, atol=1e-6)
    assert bcounts["strata"] == len(parts) >= 2
    with pytest.raises(MiniganError, match="cannot balance hair_color"):
        vector_from_labels(G, clf, "hair_color", common, vocab=vocab, balance=["hair_color"], progress=False)

    out = tmp_path / "v.npz"
    argv = ["vector", "--checkpoint", tiny_run, "--from-labels", "--classifier", tiny_classifier,
            "--plus", common, "--minus", "rest", "--n", 200, "--out", out]
    assert run_cli(*argv) == 0
    vec = load_vector(out)
    np.testing.assert_allclose(vec.vector, vector, rtol=1e-6)
    assert vec.meta["method"] == "labels" and vec.meta["attribute"] == "hair_color" and vec.meta["plus"] == common
    assert vec.meta["counts"] == counts and vec.meta["classifier"] == str(tiny_classifier)
    assert vec.meta["balance"] == []
    assert run_cli(*argv, "--balance", "hair_style", "--out", tmp_path / "b.npz") == 0
    np.testing.assert_allclose(load_vector(tmp_path / "b.npz").vector, balanced, rtol=1e-6)
    assert load_vector(tmp_path / "b.npz").meta["balance"] == ["hair_style"]
    assert run_cli(*argv) == 0
    np.testing.assert_array_equal(load_vector(out).vector, vec.vector)
    capsys.readouterr()
    assert run_cli("vector", "--checkpoint", tiny_run, "--from-labels", "--classifier", tiny_classifier,
                   "--plus", "green", "--minus", "rest", "--out", out) == 2
    assert "hair_color has no class 'green'" in capsys.readouterr().err
    assert run_cli("vector", "--checkpoint", tiny_run, "--from-labels", "--classifier", tmp_path / "none.npz",
                   "--plus", common, "--minus", "rest", "--out", out) == 2
    assert "classifier train" in capsys.readouterr().err


def test_vector_files_are_checked(tmp_path):
    path = save_vector(tmp_path / "v.npz", np.ones(4), {"name": "ones", "method": "exemplars"})
    assert load_vector(path).vector.dtype == np.float32
    np.savez(tmp_path / "other.npz", images=np.zeros(3))
    with pytest.raises(MiniganError, match="not an attribute vector"):
        load_vector(tmp_path / "other.npz")
    with pytest.raises(MiniganError, match="no attribute vector"):
        load_vector(tmp_path / "missing.npz")
    with pytest.raises(MiniganError, match="both sides"):
        vector_from_exemplars(np.zeros((0, 4)), np.zeros((2, 4)))


# -- editing --------------------------------------------------------------------------------------


def test_edits_add_the_vector_and_strength_zero_is_the_original(tiny_run):
    G, _ = load_generator(tiny_run)
    z = noise(np.random.default_rng(1), 5, G.nz)
    v = np.linspace(-1, 1, G.nz).astype(np.float32)
    edited = edit_noise(z, v, [-1.5, 0, 2])
    assert edited.shape == (3, 5, G.nz)
    np.testing.assert_allclose(edited[2], z + 2 * v, rtol=1e-6)
    images = edit_images(G, z, v, [-1.5, 0, 1.5])  # (3, 5, 16, 16, 3)
    np.testing.assert_array_equal(images[1], to_images(generate(G, z)))
    np.testing.assert_array_equal(images, edit_images(G, z, v, [-1.5, 0, 1.5]))  # deterministic
    assert not np.array_equal(images[0], images[2])


def test_edit_command_writes_the_blog_figure_deterministically(tiny_run, tmp_path, capsys):
    vec = tmp_path / "blond.npz"
    assert run_cli("vector", "--checkpoint", tiny_run, "--plus", "0,1,2", "--minus", "3,4,5", "--name", "blond",
                   "--out", vec) == 0
    out = tmp_path / "edit.png"
    argv = ["edit", "--checkpoint", tiny_run, "--vector", vec, "--strengths", "1.5,-1.5,0", "--idols", "0,6,7",
            "--out", out]
    assert run_cli(*argv) == 0
    assert "strengths -1.5, 0, 1.5 of blond" in capsys.readouterr().out
    first = np.asarray(Image.open(out))
    assert run_cli(*argv) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out)), first)
    width, height = Image.open(out).size
    assert width > 3 * 32 and height > 3 * 32  # 3 columns of idols, 3 rows of strengths
    assert run_cli("edit", "--checkpoint", tiny_run, "--vector", vec, "--sweep", "--out", out, "--seeds", "1,2") == 0
    assert Image.open(out.with_suffix(".gif")).n_frames == 13 + 11  # -3..3 by 0.5, and back
    # a list that starts with a minus sign right after --strengths (not taken for an option)
    assert run_cli("edit", "--checkpoint", tiny_run, "--vector", vec, "--strengths", "-1.5,0,1.5", "--idols", "0,6,7",
                   "--out", out) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out)), first)
    capsys.readouterr()
    wrong = save_vector(tmp_path / "wrong.npz", np.ones(5), {"name": "w"})
    assert run_cli("edit", "--checkpoint", tiny_run, "--vector", wrong, "--out", out) == 2
    assert "5-d vector" in capsys.readouterr().err


# -- learned vectors ------------------------------------------------------------------------------


def test_learn_vector_raises_the_target_share_keeps_when_asked_and_is_deterministic(tiny_run, tiny_classifier):
    G, _ = load_generator(tiny_run)
    clf, meta = load_classifier(tiny_classifier)
    pred = generate_and_classify(G, clf, noise(np.random.default_rng(1), 200, G.nz))[0].predictions["hair_color"]
    counts = np.bincount(pred, minlength=len(meta["vocab"]["hair_color"]))
    target = int(np.argsort(counts)[-2])  # the second most common class: room to grow, and reachable
    G.train()  # learn_vector must work on a model in either mode and give it back as it was
    kw = dict(steps=60, lr=0.1, n=256, batch_size=32, max_length=3.0, progress=False)
    v, history = learn_vector(G, clf, "hair_color", target, **kw)
    assert v.shape == (G.nz,) and v.dtype == np.float32 and np.linalg.norm(v) <= 3.0 + 1e-4
    assert history[-1]["target"] < history[0]["target"]  # the loss it descends went down
    assert G.layers[1].training and all(layer.requires_grad for _, layer in G.named_layers())
    np.testing.assert_array_equal(v, learn_vector(G, clf, "hair_color", target, **kw)[0])
    G.eval()
    z = noise(np.random.default_rng(7), 200, G.nz)  # idols it was not trained on

    def held_out(vector):  # mean cross-entropy towards the target, and the share classified target
        p = generate_and_classify(G, clf, z + vector)[0].probabilities["hair_color"]
        return float(-np.log(p[:, target]).mean()), float((p.argmax(1) == target).mean())

    (loss0, share0), (loss1, share1) = held_out(0 * v), held_out(v)
    assert loss1 < loss0 - 0.05 and share1 > share0

    # asking to keep the hair style: the same target term, and the style changes less often
    kept, _ = learn_vector(G, clf, "hair_color", target, keep=("hair_style",), keep_weight=5.0, **kw)
    loose_keep = edit_success(G, clf, v, "hair_color", target, [1], n=200, seed=1, progress=False)[0]
    firm_keep = edit_success(G, clf, kept, "hair_color", target, [1], n=200, seed=1, progress=False)[0]
    assert firm_keep["keep"]["hair_style"] > loose_keep["keep"]["hair_style"]

    with pytest.raises(MiniganError, match="cannot keep hair_color"):
        learn_vector(G, clf, "hair_color", target, keep=("hair_color",), **kw)
    with pytest.raises(MiniganError, match="no 'smile' head"):
        learn_vector(G, clf, "smile", 0, **kw)
    with pytest.raises(MiniganError, match="a pool of at least one batch"):
        learn_vector(G, clf, "hair_color", target, **{**kw, "n": 16})


def test_learn_direction_example_saves_a_vector_edit_can_use(tiny_run, tiny_classifier, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "learn_direction.py"
    spec = importlib.util.spec_from_file_location("learn_direction", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "learned.npz"
    assert example.main(["--checkpoint", str(tiny_run), "--classifier", str(tiny_classifier), "--target", "black",
                         "--steps", "10", "--n", "128", "--strengths", "0,1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "learned s=1" in printed
    vec = load_vector(out)
    assert vec.meta["method"] == "learned" and vec.meta["keep"] == ["hair_style", "eye_color"]
    assert run_cli("edit", "--checkpoint", tiny_run, "--vector", out, "--strengths", "-1,0,1", "--idols", "0,1",
                   "--out", tmp_path / "edit.png") == 0
