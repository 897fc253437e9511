"""The conditional DCGAN's models (minigan.models.conditional): the packed generator input, the
projection discriminator's gradients in float64, and a conditional training step."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from minigan import optim
from minigan.gan import classification_loss, train_step
from minigan.gradcheck import WithLabels, check_function, check_layer
from minigan.models.conditional import ConditionalGenerator, ProjectionDiscriminator, conditional_input, one_hot
from minigan.models.dcgan import Discriminator

from .helpers import BothOutputs

VOCAB = {"hair_color": ["black", "blond", "pink"], "eye_color": ["blue", "red"]}
ATTRIBUTES = ["hair_color", "eye_color"]
LABELS = np.array([[0, 1], [2, 0], [1, 1], [0, 0]])


def test_the_generator_input_is_the_noise_then_one_hot_block_per_attribute():
    z = np.arange(8, dtype=np.float32).reshape(4, 2)
    packed = conditional_input(z, LABELS, (3, 2))
    assert packed.shape == (4, 7) and packed.dtype == np.float32
    np.testing.assert_array_equal(packed[:, :2], z)
    np.testing.assert_array_equal(packed[:, 2:], [[1, 0, 0, 0, 1], [0, 0, 1, 1, 0], [0, 1, 0, 0, 1], [1, 0, 0, 1, 0]])
    with pytest.raises(ValueError, match=r"label 0 must lie in \[0, 3\)"):
        one_hot([[3, 0]], (3, 2))
    G = ConditionalGenerator(ATTRIBUTES, VOCAB, nz=6, ngf=4, image_size=16, rng=0)
    assert (G.noise_size, G.input_size, G.nz) == (6, 11, 11)
    assert G.forward(G.inputs(np.zeros((4, 6), np.float32), LABELS)).shape == (4, 3, 16, 16)
    with pytest.raises(ValueError, match="6-d noise"):
        G.inputs(np.zeros((4, 5), np.float32), LABELS)


def test_the_labels_change_the_generators_images():
    G = ConditionalGenerator(ATTRIBUTES, VOCAB, nz=6, ngf=4, image_size=16, rng=0).eval()
    z = np.random.default_rng(0).standard_normal((1, 6)).astype(np.float32).repeat(3, axis=0)
    images = G.forward(G.inputs(z, [[0, 0], [1, 0], [2, 0]]))
    assert np.abs(images[0] - images[1]).max() > 1e-4 and np.abs(images[1] - images[2]).max() > 1e-4


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_projection_discriminators_backward_agrees_with_finite_differences(mode):
    D = ProjectionDiscriminator(ATTRIBUTES, VOCAB, ndf=4, image_size=16, rng=0)
    if mode == "eval":
        D.train().forward(np.random.default_rng(1).standard_normal((8, 3, 16, 16)).astype(np.float32),
                          np.tile(LABELS, (2, 1)))  # running statistics of their own
        D.eval()
    x = np.random.default_rng(10).standard_normal((4, 3, 16, 16))
    result = check_layer(WithLabels(D, LABELS), x)
    names = [c.name for c in result.checks]
    assert "layer.projection.E0" in names and "layer.projection.E1" in names and "x" in names
    result.assert_ok()


def test_without_its_tables_the_projection_discriminator_is_the_dcgan_discriminator():
    D = ProjectionDiscriminator(ATTRIBUTES, VOCAB, ndf=4, image_size=16, rng=0)
    plain = Discriminator(ndf=4, image_size=16)
    plain.load_state_dict({k: v for k, v in D.state_dict().items() if not k.startswith("projection.")})
    for a in range(2):
        D.projection.params[f"E{a}"][...] = 0
    x = np.random.default_rng(3).standard_normal((4, 3, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(D.forward(x, LABELS), plain.forward(x))
    with pytest.raises(ValueError, match="needs the labels"):
        D.forward(x)


def test_a_conditional_step_trains_the_tables_and_needs_both_label_sets():
    rng = np.random.default_rng(0)
    G = ConditionalGenerator(ATTRIBUTES, VOCAB, nz=6, ngf=4, image_size=16, rng=1)
    D = ProjectionDiscriminator(ATTRIBUTES, VOCAB, ndf=4, image_size=16, rng=2)
    opt_g, opt_d = optim.Adam(G, lr=2e-4, betas=(0.5, 0.999)), optim.Adam(D, lr=2e-4, betas=(0.5, 0.999))
    real = rng.uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)
    z = G.inputs(rng.standard_normal((4, 6)).astype(np.float32), LABELS[::-1])
    before = copy.deepcopy(D.projection.params)
    result = train_step(G, D, opt_g, opt_d, real, z, labels_real=LABELS, labels_fake=LABELS[::-1])
    assert all(np.isfinite(v) for v in result.as_floats().values())
    assert all(np.abs(D.projection.params[k] - before[k]).max() > 0 for k in before)
    with pytest.raises(ValueError, match="both labels_real and labels_fake"):
        train_step(G, D, opt_g, opt_d, real, z, labels_real=LABELS)


# -- the auxiliary classifier (AC-GAN) ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_auxiliary_classifiers_backward_agrees_with_finite_differences(mode):
    D = ProjectionDiscriminator(ATTRIBUTES, VOCAB, ndf=4, image_size=16, rng=0, auxiliary=True)
    if mode == "eval":
        D.train().forward(np.random.default_rng(1).standard_normal((8, 3, 16, 16)).astype(np.float32),
                          np.tile(LABELS, (2, 1)))
        D.eval()
    x = np.random.default_rng(10).standard_normal((4, 3, 16, 16))
    result = check_layer(BothOutputs(D, LABELS), x)
    names = [c.name for c in result.checks]
    assert {"layer.classifier.W", "layer.classifier.b", "layer.projection.E0", "x"} <= set(names)
    result.assert_ok()
    assert D.config()["auxiliary"] is True and "auxiliary" not in ProjectionDiscriminator(ATTRIBUTES, VOCAB).config()
    with pytest.raises(ValueError, match="no classifier"):
        ProjectionDiscriminator(ATTRIBUTES, VOCAB, ndf=4, image_size=16).backward(np.ones(4), np.ones((4, 5)))


def test_the_classification_loss_sums_a_cross_entropy_per_attribute():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 5))  # hair colour's 3 logits, then eye colour's 2

    def by_hand(z):
        total = 0.0
        for block, column in ((z[:, :3], LABELS[:, 0]), (z[:, 3:], LABELS[:, 1])):
            log_p = block - np.log(np.exp(block).sum(axis=1, keepdims=True))
            total += -log_p[np.arange(4), column].mean()
        return total

    loss, grad = classification_loss(logits, LABELS, (3, 2))
    assert float(loss) == pytest.approx(by_hand(logits), rel=1e-12)
    state = {}
    result = check_function(lambda z: state.update(out=classification_loss(z, LABELS, (3, 2))) or state["out"][0],
                            lambda: state["out"][1], logits)
    result.assert_ok()
    for block, column in ((slice(0, 3), LABELS[:, 0]), (slice(3, 5), LABELS[:, 1])):  # (softmax - one-hot) / N
        p = np.exp(logits[:, block]) / np.exp(logits[:, block]).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(grad[:, block], (p - np.eye(p.shape[1])[column]) / 4, rtol=1e-12)


def test_a_step_with_the_auxiliary_loss_teaches_the_classifier_and_needs_one():
    rng = np.random.default_rng(0)
    G = ConditionalGenerator(ATTRIBUTES, VOCAB, nz=6, ngf=4, image_size=16, rng=1)
    D = ProjectionDiscriminator(ATTRIBUTES, VOCAB, ndf=4, image_size=16, rng=2, auxiliary=True)
    opt_g, opt_d = optim.Adam(G, lr=1e-3, betas=(0.5, 0.999)), optim.Adam(D, lr=1e-3, betas=(0.5, 0.999))
    real = rng.uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)
    z = G.inputs(rng.standard_normal((4, 6)).astype(np.float32), LABELS[::-1])
    before = D.classifier.params["W"].copy()
    plain = copy.deepcopy((G, D, opt_g, opt_d))
    with_aux = train_step(G, D, opt_g, opt_d, real, z, labels_real=LABELS, labels_fake=LABELS[::-1], aux_weight=1.0)
    without = train_step(*plain, real, z, labels_real=LABELS, labels_fake=LABELS[::-1])
    assert np.abs(D.classifier.params["W"] - before).max() > 0  # taught in D's step
    np.testing.assert_array_equal(plain[1].classifier.params["W"], before)  # weight 0: left alone
    assert without.aux_d is None and without.aux_g is None and float(with_aux.aux_d) > 0
    # the G step's cross-entropy, from the logits that step left in D, its last forward pass
    assert float(with_aux.aux_g) == pytest.approx(float(classification_loss(D.aux_logits, LABELS[::-1], (3, 2))[0]))
    hair = np.ascontiguousarray(D.aux_logits[:, :3])
    np.testing.assert_array_equal(classification_loss(hair, LABELS[:, :1], (3,))[1],  # one attribute: (N,) labels too
                                  classification_loss(hair, LABELS[:, 0], (3,))[1])
    with pytest.raises(ValueError, match=r"expected \(N, 5\)"):
        classification_loss(hair, LABELS, (3, 2))
    with pytest.raises(ValueError, match="auxiliary=True"):
        train_step(G, ProjectionDiscriminator(ATTRIBUTES, VOCAB, ndf=4, image_size=16), opt_g, opt_d, real, z,
                   labels_real=LABELS, labels_fake=LABELS, aux_weight=1.0)


# -- a conditional run ------------------------------------------------------------------------------


@pytest.fixture
def conditional_run(tmp_path, tiny_idols):
    from minigan.train import Trainer

    from .cases import tiny_train_config

    config = tiny_train_config(tmp_path / "a", condition="hair_color,eye_color", epochs=1)
    trainer = Trainer(config, dataset=tiny_idols)
    trainer.run()
    return trainer, config


@pytest.mark.slow
def test_a_tiny_conditional_run_trains_resumes_bit_exactly_and_samples_by_label(tmp_path, tiny_idols, conditional_run):
    from PIL import Image

    from minigan.checkpoint import load_generator
    from minigan.sampling import generate
    from minigan.train import Trainer

    from .cases import tiny_train_config
    from .helpers import assert_same_weights, weights

    first, _ = conditional_run
    run = tmp_path / "a" / "run"
    colours = tiny_idols.vocab["hair_color"]
    grid = Image.open(run / "samples" / "epoch_001.png")  # one row per hair colour, eight idols a row
    assert grid.size[1] > grid.size[0] * (len(colours) / 8) * 0.9
    resumed = Trainer(resume=run, overrides={"epochs": 2}, dataset=tiny_idols)
    resumed.run()
    straight = Trainer(tiny_train_config(tmp_path / "b", condition="hair_color,eye_color"), dataset=tiny_idols)
    straight.run()
    assert_same_weights(weights(straight), weights(resumed))

    G, meta = load_generator(run)
    assert isinstance(G, ConditionalGenerator) and G.attributes == ["hair_color", "eye_color"]
    assert G.vocab["hair_color"] == colours and meta["config"]["condition"] == "hair_color,eye_color"
    z = np.zeros((2, G.noise_size), np.float32)
    images = generate(G, G.inputs(z, [[0, 0], [len(colours) - 1, 0]]))
    assert np.abs(images[0] - images[1]).max() > 0  # the label, not the noise, made them differ


def test_a_run_with_the_auxiliary_classifier_saves_it_and_resumes_bit_exactly(tmp_path, tiny_idols):
    from minigan.checkpoint import load_checkpoint, load_discriminator, save_checkpoint
    from minigan.errors import CheckpointError, SettingsError
    from minigan.train import Trainer

    from .cases import tiny_train_config
    from .helpers import assert_resume_is_exact, weights

    straight = assert_resume_is_exact(tmp_path, tiny_idols, condition="hair_color,eye_color", aux_weight=1.0)
    assert "D/classifier.W" in weights(straight)
    D, meta = load_discriminator(tmp_path / "b" / "run")
    assert D.auxiliary and meta["config"]["aux_weight"] == 1.0
    np.testing.assert_array_equal(D.classifier.params["W"], straight.D.classifier.params["W"])
    arrays, meta = load_checkpoint(tmp_path / "b" / "run")
    meta["models"]["D"]["auxiliary"] = "yes"
    save_checkpoint(tmp_path / "edited.npz", arrays, meta)
    with pytest.raises(CheckpointError, match="models.D.auxiliary should be true or false"):
        load_discriminator(tmp_path / "edited.npz")
    with pytest.raises(SettingsError, match="aux_weight is for a conditional model"):
        Trainer(tiny_train_config(tmp_path / "c", aux_weight=np.float32(1.0)), dataset=tiny_idols)
    with pytest.raises(SettingsError, match=r"aux_weight must be a finite number in \[0, 10\], got True$"):
        Trainer(tiny_train_config(tmp_path / "c", aux_weight=True), dataset=tiny_idols)
    logged = [json.loads(line) for line in (tmp_path / "b" / "run" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in logged if r.get("type") == "step"]
    assert steps and all(r["aux_d"] > 0 and r["aux_g"] > 0 for r in steps)  # the classifier's losses, logged apart


def test_a_condition_the_data_cannot_give_is_refused_before_any_work(tmp_path, tiny_idols):
    from minigan.errors import DatasetError, SettingsError
    from minigan.train import Trainer

    from .cases import tiny_train_config

    with pytest.raises(DatasetError, match=r"no label 'halo' to condition on \(its labels: accessory, bangs, "):
        Trainer(tiny_train_config(tmp_path, condition="hair_color,halo"), dataset=tiny_idols)
    with pytest.raises(SettingsError, match="names a label twice"):
        Trainer(tiny_train_config(tmp_path, condition="hair_color,hair_color"), dataset=tiny_idols)
    assert not (tmp_path / "run" / "checkpoints" / "last.npz").exists()


# -- the commands on a conditional model ------------------------------------------------------------


def test_the_commands_draw_by_label_and_say_what_a_conditional_model_needs(tmp_path, conditional_run, tiny_classifier,
                                                                         tiny_idols, capsys, monkeypatch):
    from PIL import Image

    import minigan.cli.evaluate
    from minigan import cli

    monkeypatch.setattr(minigan.cli.evaluate, "load_dataset", lambda data: tiny_idols)
    trainer, config = conditional_run
    run = str(tmp_path / "a" / "run")
    colours = trainer.dataset.vocab["hair_color"]

    def call(*argv):
        code = cli.main([str(a) for a in argv])
        return code, capsys.readouterr()

    code, _ = call("sample", "--checkpoint", run, "--n", 8, "--set", f"hair_color={colours[1]}", "--out", tmp_path / "s.npz")
    saved = np.load(tmp_path / "s.npz")
    assert code == 0 and (saved["labels"][:, 0] == 1).all() and list(saved["attributes"]) == ["hair_color", "eye_color"]
    assert len(np.unique(saved["labels"][:, 1])) >= 1
    code, out = call("edit", "--checkpoint", run, "--set", "hair_color=all", "--idols", "0,1,2", "--out", tmp_path / "e.png")
    assert code == 0 and "noise and other labels kept" in out.out
    assert Image.open(tmp_path / "e.png").size[1] > Image.open(tmp_path / "e.png").size[0]  # 1 + 10 rows of 3 idols
    for argv, message in [
        (("sample", "--set", "hair_color=green", "--out", tmp_path / "x.png"), "no hair_color 'green'; its values: "),
        (("sample", "--set", "accessory=bow", "--out", tmp_path / "x.png"), "conditioned on hair_color, eye_color, not accessory"),
        (("edit", "--vector", "blond", "--out", tmp_path / "x.png"), "change its labels with --set"),
        (("vector", "--plus", "1,2,3", "--minus", "4,5,6"), "needs no attribute vector"),
        (("interpolate", "--out", tmp_path / "x.png"), "--from label=value --to label=value"),
    ]:
        code, err = call(argv[0], "--checkpoint", run, *argv[1:])
        assert code == 2 and message in err.err, (argv, err.err)
    code, out = call("interpolate", "--checkpoint", run, "--from", f"hair_color={colours[0]}", "--to",
                     f"hair_color={colours[1]},eye_color={trainer.dataset.vocab['eye_color'][2]}", "--idols", "0,1,2",
                     "--steps", 5, "--gif-frames", 0, "--out", tmp_path / "walk.png")
    assert code == 0 and "noise fixed" in out.out, out.err
    code, out = call("fooled", "--checkpoint", run, "--n", 16, "--top", 4, "--out", tmp_path / "f.png")
    assert code == 0
    code, out = call("evaluate", "--checkpoint", run, "--classifier", tiny_classifier, "--n", 32, "--edit-n", 16,
                     "--set-min", 4, "--out", tmp_path / "eval")
    assert code == 0, out.err
    import json

    figures = json.loads(out.out.strip().splitlines()[-1])
    control, sets, summary = figures["control"], figures["label_sets"]["sets"], figures["label_sets"]["summary"]
    assert set(control) == {"hair_color", "eye_color"}
    row = control["hair_color"]
    assert 0 <= row["control"] <= 1 and set(row["values"]) == set(colours) and set(row["kept"]) == {"eye_color"}
    assert row["control_seen"] is not None and 0 <= row["unseen_share"] <= 1
    counts = trainer.dataset.counts("hair_color")
    measured = {v: r for v, r in sets["hair_color"].items()}
    assert set(measured) == {v for v, k in counts.items() if k >= 4}  # a set with too few real images is left out
    assert all(r["n_real"] == counts[v] and r["n"] == counts[v] // 2 for v, r in measured.items())  # the floor's size
    assert set(next(iter(measured.values()))["attributes"]) == {"hair_style", "eye_color", "mean"}  # all but hair colour
    every = [r["fd"] for a in ("hair_color", "eye_color") for r in sets[a].values()]
    assert summary["label_sets"] == len(every) and summary["mean_fd"] == pytest.approx(np.mean(every), abs=2e-3)
    assert summary["worst_fd"][0] == pytest.approx(max(every), abs=1e-3)


def test_an_unconditional_model_refuses_labels(tmp_path, lively_run_checkpoint, capsys):
    from minigan import cli

    code = cli.main(["sample", "--checkpoint", str(lively_run_checkpoint), "--set", "hair_color=blond",
                     "--out", str(tmp_path / "x.png")])
    assert code == 2 and "unconditional DCGAN" in capsys.readouterr().err
    code = cli.main(["interpolate", "--checkpoint", str(lively_run_checkpoint), "--from", "hair_color=blond",
                     "--to", "hair_color=black", "--out", str(tmp_path / "x.png")])
    assert code == 2 and "interpolate between idols with --idols" in capsys.readouterr().err


@pytest.fixture
def lively_run_checkpoint(tiny_run):
    return tiny_run


def test_fakes_labels_are_the_datas_rows_or_each_label_drawn_on_its_own():
    from minigan.conditioning import fake_labels

    rows = np.array([[0, 0], [1, 1], [2, 1], [2, 0]] * 25)  # 4 combinations of the 6 possible
    seen = {tuple(r) for r in rows}
    joint = fake_labels(np.random.default_rng(0), rows, 4000)
    assert {tuple(r) for r in joint} == seen  # only the data's own combinations
    independent = fake_labels(np.random.default_rng(0), rows, 4000, independent=True)
    assert {tuple(r) for r in independent} == {(a, b) for a in range(3) for b in range(2)}  # every one
    for column, shares in ((0, [0.25, 0.25, 0.5]), (1, [0.5, 0.5])):  # each label keeps its share in the data
        np.testing.assert_allclose(np.bincount(independent[:, column]) / 4000, shares, atol=0.03)
    pairs = np.mean([tuple(r) == (1, 0) for r in independent])
    assert abs(pairs - 0.25 * 0.5) < 0.03  # drawn independently: P(a, b) = P(a) P(b)


def test_the_label_probe_tells_a_discriminator_that_reads_a_label_from_one_that_ignores_it():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "probe_labels.py"
    spec = importlib.util.spec_from_file_location("probe_labels", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    class Judge:  # reads the first label from the "image" (its first number), ignores the second
        attributes, num_classes = ["hair_color", "eye_color"], (3, 2)

        def forward(self, x, labels):
            return -np.abs(x[:, 0] - labels[:, 0]).astype(np.float64)

    x = np.array([[0.0], [1.0], [2.0], [1.0]])
    labels = np.array([[0, 1], [1, 0], [2, 1], [1, 1]])
    assert example.label_preference(Judge(), x, labels) == {"hair_color": 1.0, "eye_color": 0.5}
