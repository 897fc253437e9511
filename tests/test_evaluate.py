"""The attribute classifier, its loss, and the metrics: Frechet distance, attribute histograms,
memorisation, edit success; the classifier and evaluate commands on a tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from minigan import cli
from minigan.checkpoint import load_generator
from minigan.data import ImageDataset
from minigan.errors import CheckpointError, DatasetError, MiniganError
from minigan.metrics import (attribute_histogram_distance, edit_success, feature_statistics, frechet_distance,
                             frechet_distance_of_features, histogram_distance, memorisation, nearest_neighbours)
from minigan.models.classifier import (AttributeClassifier, classifier_accuracy, classify, load_classifier,
                                       parse_target, save_classifier, split_indices, train_classifier)
from minigan.gradcheck import check_function
from minigan.latent import save_vector
from minigan.nn import SoftmaxCrossEntropyLoss, log_softmax


# -- softmax cross-entropy --------------------------------------------------------------------------


def test_softmax_cross_entropy_gradient_in_float64(rng):
    loss = SoftmaxCrossEntropyLoss()
    targets = rng.integers(0, 5, 6)
    result = check_function(lambda x: loss.forward(x, targets), loss.backward, rng.standard_normal((6, 5)) * 3)
    result.assert_ok()


@pytest.mark.torch
def test_softmax_cross_entropy_matches_pytorch_and_survives_huge_logits(rng):
    torch = pytest.importorskip("torch")
    logits = (rng.standard_normal((7, 4)) * 20).astype(np.float32)
    targets = rng.integers(0, 4, 7)
    loss = SoftmaxCrossEntropyLoss()
    value = loss.forward(logits, targets)
    t_logits = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(t_logits, torch.tensor(targets))
    expected.backward()
    assert value.dtype == np.float32
    np.testing.assert_allclose(float(value), expected.item(), rtol=1e-5)
    grad = loss.backward()
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, t_logits.grad.numpy(), rtol=1e-4, atol=1e-7)
    huge = np.array([[1e4, -1e4, 0], [-3e4, 3e4, 3e4]], np.float32)
    assert float(loss.forward(huge, np.array([1, 2]))) == pytest.approx((2e4 + np.log(2)) / 2, rel=1e-6)
    assert np.isfinite(loss.backward()).all()
    np.testing.assert_allclose(np.exp(log_softmax(huge)).sum(axis=1), 1, rtol=1e-6)


# -- the classifier ---------------------------------------------------------------------------------


def test_classifier_backward_adds_the_heads_gradients(rng):
    """Gradient check of the whole classifier (trunk + two heads) in float64, training mode."""
    clf = AttributeClassifier({"a": 3, "b": 2}, image_size=8, width=2, feature_dim=5, rng=0).astype(np.float64)
    upstream = {"a": rng.standard_normal((3, 3)), "b": rng.standard_normal((3, 2))}

    def forward(x):
        logits = clf.forward(x)
        return sum(float((logits[k] * upstream[k]).sum()) for k in upstream)

    def backward():
        clf.zero_grad()
        return clf.backward(upstream)

    check_function(forward, backward, rng.standard_normal((3, 3, 8, 8))).assert_ok()
    assert [name for name, _ in clf.children()] == ["trunk", "head_a", "head_b"]
    with pytest.raises(ValueError, match=r"\(N, 3, 8, 8\)"):
        clf.forward(np.zeros((1, 3, 16, 16)))


def test_splits_by_image_and_by_character(tiny_idols):
    train, held = split_indices(tiny_idols, 0.25, "image", seed=1)
    assert len(held) == 8 and len(train) == 24 and not set(train) & set(held)
    np.testing.assert_array_equal(split_indices(tiny_idols, 0.25, "image", seed=1)[1], held)  # deterministic
    train, held = split_indices(tiny_idols, 0.25, "character", seed=1)
    chars = tiny_idols.labels["character"]
    assert len(held) == 8 and not set(chars[train]) & set(chars[held])  # one whole character held out
    with pytest.raises(ValueError):
        split_indices(tiny_idols, 0.2, "pose")


def test_classifier_learns_saves_and_loads(tiny_idols, tiny_classifier, tmp_path):
    clf, meta = load_classifier(tiny_classifier)
    assert meta["kind"] == "classifier" and meta["vocab"]["hair_color"][2] == "blond"
    accuracy = classifier_accuracy(clf, tiny_idols.images, tiny_idols.labels)
    assert accuracy["hair_color"] == 1.0 and min(accuracy.values()) >= 0.9
    out = classify(clf, tiny_idols.images)
    assert out.features.shape == (32, 16) and out.probabilities["eye_color"].shape == (32, 7)
    np.testing.assert_allclose(out.probabilities["hair_style"].sum(axis=1), 1, rtol=1e-5)
    # the same predictions from float model input as from uint8 images
    from minigan.data import to_model_input

    np.testing.assert_allclose(classify(clf, to_model_input(tiny_idols.images)).features, out.features, rtol=1e-5)
    # the same weights after a round trip
    save_classifier(tmp_path / "again.npz", clf, meta["vocab"])
    again, _ = load_classifier(tmp_path / "again.npz")
    np.testing.assert_array_equal(classify(again, tiny_idols.images).features, out.features)


def test_classifier_loading_errors(tiny_run, tmp_path):
    with pytest.raises(CheckpointError, match="classifier train"):
        load_classifier(tmp_path / "missing.npz")
    with pytest.raises(CheckpointError, match="not an attribute classifier"):
        load_classifier(tiny_run)


def test_training_is_deterministic_and_needs_labels(tiny_idols):
    a, report = train_classifier(tiny_idols, epochs=2, batch_size=8, width=2, feature_dim=4, progress=False)
    b, _ = train_classifier(tiny_idols, epochs=2, batch_size=8, width=2, feature_dim=4, progress=False)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert set(report["held_out_accuracy"]) == {"hair_color", "hair_style", "eye_color"}
    assert report["held_out_images"] + report["train_images"] == 32
    unlabelled = ImageDataset(tiny_idols.images, source="a folder")
    with pytest.raises(DatasetError, match="no hair_color, hair_style, eye_color labels"):
        train_classifier(unlabelled, progress=False)


def test_classifier_command(tiny_idols, tmp_path, monkeypatch, capsys):
    import minigan.cli.classifier

    monkeypatch.setattr(minigan.cli.classifier, "load_dataset", lambda data: tiny_idols)
    out = tmp_path / "clf.npz"
    assert cli.main(["classifier", "train", "--out", str(out), "--epochs", "3", "--batch-size", "8",
                     "--width", "2", "--features", "8", "--holdout", "0.25"]) == 0
    printed = capsys.readouterr().out
    assert "held-out accuracy (8 images, split by image): hair_color" in printed
    assert cli.main(["classifier", "info", "--classifier", str(out)]) == 0
    assert '"held_out_accuracy"' in capsys.readouterr().out
    monkeypatch.setattr(minigan.cli.classifier, "load_dataset", lambda data: ImageDataset(tiny_idols.images, source="folder"))
    assert cli.main(["classifier", "train", "--out", str(out)]) == 2  # it would replace the classifier
    assert "add --force" in capsys.readouterr().err
    assert cli.main(["classifier", "train", "--out", str(out), "--force"]) == 2
    assert "no hair_color" in capsys.readouterr().err


# -- Frechet distance -------------------------------------------------------------------------------


def test_frechet_distance_known_values():
    # diagonal: sum (mu1 - mu2)^2 + sum (sqrt(s1) - sqrt(s2))^2
    mu1, mu2 = np.array([0.0, 0.0, 1.0]), np.array([1.0, 1.0, 1.0])
    s1, s2 = np.array([1.0, 4.0, 2.0]), np.array([4.0, 1.0, 2.0])
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(2 + 1 + 1 + 0, abs=1e-9)
    # rotated (full, commuting) covariances R diag(1, 4) R^T and R diag(9, 1) R^T: (1-3)^2 + (2-1)^2 = 5
    c, s = np.cos(0.7), np.sin(0.7)
    R = np.array([[c, -s], [s, c]])
    a, b = R @ np.diag([1.0, 4.0]) @ R.T, R @ np.diag([9.0, 1.0]) @ R.T
    assert frechet_distance(np.zeros(2), a, np.zeros(2), b) == pytest.approx(5.0, abs=1e-8)
    # non-commuting A = diag(4, 0), B = [[1, 1], [1, 1]]: A^(1/2) B A^(1/2) = diag(4, 0), so
    # tr((A B)^(1/2)) = 2 and FD = tr(A) + tr(B) - 2 * 2 = 2
    fd = frechet_distance(np.zeros(2), np.diag([4.0, 0.0]), np.zeros(2), np.ones((2, 2)))
    assert fd == pytest.approx(4 + 2 - 4, abs=1e-6)
    assert frechet_distance(mu1, np.diag(s1), mu1, np.diag(s1)) == pytest.approx(0, abs=1e-9)


def test_frechet_distance_of_gaussian_samples_matches_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    s1, s2 = rng.uniform(0.5, 3, 6), rng.uniform(0.5, 3, 6)
    x1 = mu1 + np.sqrt(s1) * rng.standard_normal((40000, 6))
    x2 = mu2 + np.sqrt(s2) * rng.standard_normal((40000, 6))
    exact = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    assert frechet_distance_of_features(x1, x2) == pytest.approx(exact, rel=0.03)
    assert frechet_distance_of_features(x1, x2) == pytest.approx(frechet_distance_of_features(x2, x1), rel=1e-6)
    mu, sigma = feature_statistics(x1)
    np.testing.assert_allclose(mu, mu1, atol=0.05)
    np.testing.assert_allclose(np.diag(sigma), s1, rtol=0.05)


def test_frechet_distance_survives_fewer_samples_than_features():
    rng = np.random.default_rng(0)
    fd = frechet_distance_of_features(rng.standard_normal((5, 20)), rng.standard_normal((5, 20)) + 1)
    assert np.isfinite(fd) and fd > 0


def _blur(images, passes):
    """A 3x3 box blur applied ``passes`` times (edges repeated)."""
    x = images.astype(np.float64)
    for _ in range(passes):
        p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        x = sum(p[:, i:i + x.shape[1], j:j + x.shape[2]] for i in range(3) for j in range(3)) / 9
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def test_metrics_order_controlled_degradations(tiny_idols, tiny_classifier):
    """Real idols, then blurred or noisier ones, then pure noise: the Frechet distance grows
    monotonically, the attribute histograms drift apart, and only exact copies count as copies.
    (The figures of an untrained, half- and fully trained generator must order the same way.)"""
    clf, meta = load_classifier(tiny_classifier)
    real = tiny_idols.images
    rng = np.random.default_rng(0)
    real_out = classify(clf, real)

    def fd(images):
        return frechet_distance_of_features(real_out.features, classify(clf, images).features)

    blurred = [fd(_blur(real, k)) for k in (1, 2, 4, 8)]
    noisy = [fd(np.clip(real + rng.normal(0, s, real.shape), 0, 255).astype(np.uint8)) for s in (10, 30, 60, 120)]
    pure_noise = fd(rng.integers(0, 256, real.shape, dtype=np.uint8))
    assert fd(real) == pytest.approx(0, abs=1e-6)
    assert all(a < b for a, b in zip(blurred, blurred[1:])), blurred
    assert all(a < b for a, b in zip(noisy, noisy[1:])), noisy
    assert max(blurred[0], noisy[0]) < pure_noise
    classes = {a: len(v) for a, v in meta["vocab"].items()}
    same = attribute_histogram_distance(real_out.predictions, real_out.predictions, classes)
    noise_out = classify(clf, rng.integers(0, 256, real.shape, dtype=np.uint8))
    noise_hist = attribute_histogram_distance(real_out.predictions, noise_out.predictions, classes)
    assert same["mean"] == 0 and noise_hist["mean"] > 0.3
    copies = memorisation(real[::2], real_out.features[::2], real, real_out.features, calibration=32)
    fresh = memorisation(_blur(real, 8)[::2], classify(clf, _blur(real, 8)).features[::2], real, real_out.features,
                         calibration=32)
    assert copies["pixel"]["share_below"] == 1 and copies["feature"]["share_below"] == 1
    np.testing.assert_array_equal(copies["pixel_indices"], np.arange(0, 32, 2))  # each found itself
    assert fresh["pixel"]["share_below"] < 0.2 and fresh["pixel"]["median"] > copies["pixel"]["median"]


# -- histograms and neighbours --------------------------------------------------------------------


def test_histogram_distance_is_total_variation():
    assert histogram_distance([0, 0, 1, 1], [0, 1, 0, 1], 3) == 0
    assert histogram_distance([0, 0], [2, 2], 3) == 1
    assert histogram_distance([0, 0, 0, 1], [0, 1, 1, 1], 2) == pytest.approx(0.5)


def test_nearest_neighbours_match_brute_force_and_leave_one_out(rng):
    q, r = rng.standard_normal((9, 5)), rng.standard_normal((30, 5))
    d, i = nearest_neighbours(q, r, chunk=4)
    full = np.linalg.norm(q[:, None] - r[None], axis=2)  # (9, 30)
    np.testing.assert_array_equal(i, full.argmin(axis=1))
    np.testing.assert_allclose(d, full.min(axis=1), rtol=1e-4)
    d, i = nearest_neighbours(r[:6], r, exclude=np.arange(6))
    assert (i != np.arange(6)).all() and (d > 0).all()


def test_parse_target_names_the_attribute():
    vocab = {"hair_color": ["black", "blond", "blue"], "eye_color": ["blue", "green"]}
    assert parse_target("blond", vocab) == ("hair_color", 1)
    assert parse_target("eye_color=blue", vocab) == ("eye_color", 0)
    with pytest.raises(MiniganError, match="hair_color and eye_color"):
        parse_target("blue", vocab)
    with pytest.raises(MiniganError, match="choose from"):
        parse_target("hair_color=green", vocab)


# -- edit success and the evaluate command --------------------------------------------------------


def test_edit_success_starts_from_the_base_rate(tiny_run, tiny_classifier):
    G, _ = load_generator(tiny_run)
    clf, _ = load_classifier(tiny_classifier)
    vector = np.linspace(-2, 2, G.nz).astype(np.float32)
    rows = edit_success(G, clf, vector, "hair_color", 0, [0, 1, 3], n=60, seed=4, progress=False)
    assert [r["strength"] for r in rows] == [0, 1, 3]
    assert rows[0]["keep_all"] == 1 and rows[0]["keep"] == {"hair_style": 1, "eye_color": 1}
    assert rows[0]["keep_random"] == rows[0]["keep"] and rows[0]["share_target_random"] == rows[0]["share_target"]
    assert set(rows[2]) == {"strength", "share_target", "keep", "keep_all", "share_target_random", "keep_random",
                            "keep_all_random"}
    assert rows[2]["keep_random"] != rows[2]["keep"]  # a different move
    plain = edit_success(G, clf, vector, "hair_color", 0, [1], n=60, seed=4, random_baseline=False, progress=False)
    assert plain[0] == {k: v for k, v in rows[1].items() if not k.endswith("_random")}
    again = edit_success(G, clf, vector, "hair_color", 0, [0, 1, 3], n=60, seed=4, progress=False)
    assert again == rows  # deterministic


def test_evaluate_command_prints_one_json_line_and_writes_pictures(tiny_run, tiny_classifier, tiny_idols,
                                                                   tmp_path, monkeypatch, capsys):
    import minigan.cli.evaluate

    monkeypatch.setattr(minigan.cli.evaluate, "load_dataset", lambda data: tiny_idols)
    vec = save_vector(tmp_path / "black.npz", np.linspace(-1, 1, 8), {"name": "black", "method": "exemplars"})
    out = tmp_path / "eval"
    assert cli.main(["evaluate", "--checkpoint", str(tiny_run), "--classifier", str(tiny_classifier), "--n", "40",
                     "--vector", str(vec), "--strengths", "0,2", "--edit-n", "20", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["fd"] > 0 and figures["fd_real"] >= 0 and figures["n"] == 40
    assert set(figures["attributes"]) == {"hair_color", "hair_style", "eye_color", "mean"}
    for space in ("pixel", "feature"):
        m = figures["memorisation"][space]
        assert 0 <= m["share_below"] <= 1 and m["threshold"] > 0 and m["expected_share"] == 0.05
    edit = figures["edit"]
    assert edit["attribute"] == "hair_color" and edit["target"] == "black"  # found from the vector's name
    assert [r["strength"] for r in edit["rows"]] == [0, 2]
    for name in ("samples.png", "attributes.png", "nearest_pixels.png", "nearest_features.png", "edit_success.png",
                 "figures.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "figures.json").read_text()) == figures
    # a classifier for other image sizes is refused with a clear message
    big = AttributeClassifier({"hair_color": 10}, image_size=32, width=2, feature_dim=4)
    save_classifier(tmp_path / "big.npz", big, {"hair_color": tiny_idols.vocab["hair_color"]})
    assert cli.main(["evaluate", "--checkpoint", str(tiny_run), "--classifier", str(tmp_path / "big.npz"),
                     "--out", str(out)]) == 2
    assert "32x32" in capsys.readouterr().err
