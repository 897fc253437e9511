"""The Idol Studio without a browser: batch norm folded into the transposed convolutions, the
link format, the exported model, the JavaScript generator against NumPy (in Node), ``sample
--link``, the bundled model, and the ``studio`` command. The page itself is driven in
tests/test_studio_browser.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from minigan import cli
from minigan.checkpoint import (PRETRAINED, PRETRAINED_FOLDER, load_checkpoint, load_generator, resolve_checkpoint,
                                save_compact_generator)
from minigan.data import to_images
from minigan.errors import CheckpointError, MiniganError
from minigan.latent import AttributeVector, bundled_vectors, load_vector, save_vector
from minigan.models import Generator
from minigan.nn import BatchNorm2d
from minigan.sampling import generate
from minigan.studio.link import IdolLink, decode_noise, edited_noise, encode_noise, parse_link
from minigan.studio.site import SITE_FILES, StudioServer, build_site
from minigan.studio.web import export_web_model, fold_generator, folded_generator, model_id

pytestmark = pytest.mark.usefixtures("cache")
NODE = shutil.which("node")
DRIVER = Path(__file__).parent / "js" / "generate.js"


def run_cli(*argv):
    return cli.main([str(a) for a in argv])


def lively_generator(nz=8, ngf=4, image_size=16, seed=0) -> Generator:
    """A randomly initialised G whose batch norms have statistics of their own (not 0 and 1) and
    scales and shifts off 1 and 0, so that folding them is tested; in eval mode."""
    rng = np.random.default_rng(seed)
    G = Generator(nz=nz, ngf=ngf, image_size=image_size, rng=seed).train()
    G.forward(rng.standard_normal((64, nz)).astype(np.float32) * 1.5)
    for layer in G.layers:
        if isinstance(layer, BatchNorm2d):
            layer.params["gamma"][...] = rng.uniform(0.5, 1.5, layer.params["gamma"].shape)
            layer.params["beta"][...] = rng.normal(0, 0.2, layer.params["beta"].shape)
    G.layers[-2].params["W"] *= 30  # an untrained G's output is nearly flat grey: make it say something
    return G.eval()


@pytest.fixture(scope="module")
def lively():
    return lively_generator()


def vector(name, nz=8, seed=1, **meta):
    v = np.random.default_rng(seed).standard_normal(nz).astype(np.float32)
    return AttributeVector(v, {"name": name, "method": "test", **meta})


# -- folding batch norm into the convolutions ------------------------------------------------------


def test_the_folded_network_computes_what_the_generator_computes(lively):
    folded = fold_generator(lively)
    assert [layer.activation for layer in folded] == ["relu"] * (len(folded) - 1) + ["tanh"]
    z = np.random.default_rng(3).standard_normal((16, 8)).astype(np.float32)
    ours, theirs = folded_generator(folded).forward(z[:, :, None, None]), generate(lively, z)
    assert np.abs(ours - theirs).max() < 1e-5  # float32 rounding: the fold itself is computed in float64
    assert np.abs(theirs).mean() > 0.05  # the images are not flat: the comparison says something


def test_folding_refuses_a_network_the_page_cannot_run():
    from minigan.nn import Linear, Sequential

    with pytest.raises(ValueError, match="ConvTranspose2d"):
        fold_generator(Sequential(Linear(4, 4)))


# -- the link ---------------------------------------------------------------------------------------


def test_the_noise_survives_the_link_bit_for_bit():
    z = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    z[:3] = [np.float32(1e-38), -0.0, np.float32(3.4e38)]
    text = encode_noise(z)
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    back = decode_noise(text)
    assert back.dtype == np.float32 and back.tobytes() == z.tobytes()


def test_a_link_round_trips_through_its_fragment_and_a_whole_url():
    link = IdolLink(np.arange(8, dtype=np.float32) / 7, {"blond": 1.5, "pink": -0.25, "red": 2.0}, "0123abcd4567")
    fragment = link.fragment()
    assert fragment.startswith("v=1&m=0123abcd4567&z=") and fragment.endswith("&e=blond:1.5,pink:-0.25,red:2")
    for text in (fragment, "#" + fragment, "http://127.0.0.1:8765/#" + fragment, f"  {fragment}\n"):
        back = parse_link(text)
        assert back.z.tobytes() == link.z.tobytes() and back.edits == link.edits and back.model == link.model
        assert list(back.edits) == ["blond", "pink", "red"]  # the order is part of the recipe


@pytest.mark.parametrize("text,message", [
    ("http://127.0.0.1:8765/", "no idol in it"),
    ("v=2&z=AAAAAA", "version '2'"),
    ("z=AA*A", "not base64url"),
    ("z=AAAAAAAA", "not a whole number"),  # 6 bytes
    ("z=AADAfw", "NaN or infinite"),  # 0x7fc00000: NaN
    ("z=AACAPw&e=blond", "name:strength"),
    ("z=AACAPw&e=blond:much", "not a number"),
    ("z=AACAPw&e=blond:inf", "finite number"),
    ("z=AACAPw&e=blond:1e9", "finite number"),
    ("z=AACAPw&m=xyz", "not hexadecimal"),
    ("z=AACAPw&oops", "without '='"),
])
def test_a_damaged_link_is_refused_with_what_is_wrong(text, message):
    with pytest.raises(MiniganError, match=message) as info:
        parse_link(text)
    assert info.value.argument == "link"


def test_edited_noise_sums_in_float64_in_the_links_order_then_rounds_once():
    z = np.float32([1.0, 1e8, -3.0])
    a, b = np.float32([1e-8, 1.0, 0.1]), np.float32([2.0, -1.0, 0.3])
    link = IdolLink(z, {"a": 0.5, "b": -1.25})
    expected = ((z.astype(np.float64) + 0.5 * a.astype(np.float64)) + -1.25 * b.astype(np.float64)).astype(np.float32)
    got = edited_noise(link, {"a": a, "b": AttributeVector(b, {"name": "b"})})
    assert got.shape == (1, 3) and got.dtype == np.float32 and got[0].tobytes() == expected.tobytes()
    with pytest.raises(MiniganError, match="--vector c.npz"):
        edited_noise(IdolLink(z, {"c": 1.0}), {"a": a})
    with pytest.raises(MiniganError, match="2-d but the link's noise is 3-d"):
        edited_noise(IdolLink(z, {"a": 1.0}), {"a": a[:2]})


# -- the exported model -----------------------------------------------------------------------------


def test_the_export_lays_out_every_weight_where_model_json_says(tmp_path, lively):
    v = vector("blond", attribute="hair_color", plus="blond", minus="black")
    model = export_web_model(lively, tmp_path, [v], {"epochs": 3}, precision="float32")
    assert json.loads((tmp_path / "model.json").read_text()) == model
    data = (tmp_path / "model.bin").read_bytes()
    assert len(data) == model["bytes"]
    assert (model["format"], model["version"], model["nz"], model["image_size"], model["channels"]) == \
        ("minigan-web-generator", 1, 8, 16, 3)
    for entry, layer in zip(model["layers"], fold_generator(lively)):
        w = entry["weight"]
        assert w["offset"] % 4 == 0 and w["dtype"] == "float32"
        stored = np.frombuffer(data, np.float32, w["length"], w["offset"]).reshape(
            entry["in"], entry["kernel"], entry["kernel"], entry["out"])
        np.testing.assert_array_equal(stored, layer.weight.transpose(0, 2, 3, 1))
        b = entry["bias"]
        np.testing.assert_array_equal(np.frombuffer(data, np.float32, b["length"], b["offset"]), layer.bias)
    (exported,) = model["vectors"]
    assert exported["name"] == "blond" and (exported["plus"], exported["minus"]) == ("blond", "black")
    assert np.float32(exported["values"]).tobytes() == v.vector.tobytes()  # exact: JSON holds the float32 values
    assert model["info"] == {"epochs": 3}


def test_float16_halves_the_weights_and_the_id_names_the_weights(tmp_path, lively):
    small = export_web_model(lively, tmp_path / "16", precision="float16")
    full = export_web_model(lively, tmp_path / "32", precision="float32")
    weights32 = sum(4 * L["weight"]["length"] for L in full["layers"])
    assert full["bytes"] - small["bytes"] == pytest.approx(weights32 / 2, abs=4 * len(full["layers"]))
    assert small["id"] == full["id"] == model_id(lively) and len(small["id"]) == 12
    other = lively_generator(seed=1)
    assert model_id(other) != model_id(lively)
    with pytest.raises(ValueError, match="two vectors share a name"):
        export_web_model(lively, tmp_path / "x", [vector("a"), vector("a", seed=2)])


# -- the JavaScript generator against NumPy ---------------------------------------------------------


def run_node(folder, z, edits=()):
    """Images (N, S, S, 3) in [-1, 1] from the studio's generator.js in Node, and its ms per idol."""
    if NODE is None:
        pytest.skip("Node.js is not installed: the JavaScript generator cannot be run")
    folder = Path(folder)
    (folder / "noise.f32").write_bytes(np.ascontiguousarray(z, "<f4").tobytes())
    (folder / "edits.json").write_text(json.dumps([list(e) for e in edits]))
    result = subprocess.run([NODE, str(DRIVER), str(folder), str(folder / "noise.f32"), str(folder / "out.f32"),
                             str(folder / "edits.json")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    model = json.loads((folder / "model.json").read_text())
    size = model["image_size"]
    images = np.fromfile(folder / "out.f32", "<f4").reshape(len(z), size, size, model["channels"])
    return images, json.loads(result.stdout)["ms_per_idol"]


def numpy_images(G, z):
    return generate(G, z).transpose(0, 2, 3, 1)  # (N, S, S, 3), as the page's (H, W, C) maps


@pytest.mark.parametrize("precision,tolerance", [("float32", 1e-5), ("float16", 2e-3)])
def test_the_javascript_generator_draws_what_numpy_draws(tmp_path, lively, precision, tolerance):
    """The tiny model (16x16, widths 4): float32 weights agree to float32 rounding (the sums run
    in another order); float16 weights differ by their rounding, far below 1/255."""
    export_web_model(lively, tmp_path, precision=precision)
    z = np.random.default_rng(5).standard_normal((6, 8)).astype(np.float32)
    ours, ms = run_node(tmp_path, z)
    error = np.abs(ours - numpy_images(lively, z))
    assert error.max() < tolerance, f"{precision}: max {error.max():.2e}, mean {error.mean():.2e}"
    assert np.abs(ours).mean() > 0.05


def test_the_javascript_edits_are_the_same_numbers_as_the_links(tmp_path, lively):
    vectors = [vector("a", seed=2), vector("b", seed=3)]
    export_web_model(lively, tmp_path, vectors, precision="float32")
    z = np.random.default_rng(6).standard_normal((3, 8)).astype(np.float32)
    edits = [("b", 1.35), ("a", -2.0)]
    ours, _ = run_node(tmp_path, z, edits)
    named = {v.name: v for v in vectors}
    edited = np.concatenate([edited_noise(IdolLink(zi, dict(edits)), named) for zi in z])
    assert np.abs(ours - numpy_images(lively, edited)).max() < 1e-5
    plain, _ = run_node(tmp_path, z)
    assert np.abs(ours - plain).max() > 0.01  # the edits changed the idols


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "float16"])
def test_the_javascript_generator_draws_the_bundled_model_as_numpy_does(tmp_path, precision):
    """The bundled 64x64 model, to the pixels the page shows. Measured when written (8 idols):
    float32 weights max 1.0e-6 of the [-1, 1] range, no pixel differs; float16 max 6.0e-4, mean
    3.7e-5, 0.5 % of the bytes one level off, none more."""
    G, _ = load_generator(PRETRAINED)
    export_web_model(G, tmp_path, precision=precision)
    z = np.random.default_rng(7).standard_normal((2, G.nz)).astype(np.float32)
    ours, ms = run_node(tmp_path, z)
    theirs = numpy_images(G, z)
    error = np.abs(ours - theirs)
    assert error.max() < (1e-5 if precision == "float32" else 1e-3), f"max {error.max():.2e}, mean {error.mean():.2e}"
    pixels = np.abs(to_images(ours.transpose(0, 3, 1, 2)).astype(int) - to_images(theirs.transpose(0, 3, 1, 2)))
    assert pixels.max() <= 1


# -- sample --link ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lively_checkpoint(tmp_path_factory, lively):
    path = tmp_path_factory.mktemp("studio") / "lively.npz"
    save_compact_generator(path, lively, {"config": {"noise": "gaussian"}}, precision="float32")
    return path


def test_sample_link_draws_the_links_idol(tmp_path, lively, lively_checkpoint):
    v = vector("blond")
    save_vector(tmp_path / "blond.npz", v.vector, v.meta)
    z = np.random.default_rng(8).standard_normal(8).astype(np.float32)
    link = IdolLink(z, {"blond": 1.5}, model_id(lively))
    url = "http://127.0.0.1:8765/#" + link.fragment()
    assert run_cli("sample", "--checkpoint", lively_checkpoint, "--link", url, "--vector", tmp_path / "blond.npz",
                   "--out", tmp_path / "idol.png") == 0
    drawn = np.asarray(Image.open(tmp_path / "idol.png"))
    expected = to_images(generate(lively, edited_noise(link, {"blond": v})))[0]
    assert drawn.shape == (16, 16, 3) and np.array_equal(drawn, expected)
    # a PNG that keeps the link (as the studio's Save writes it) is a link too; --scale enlarges
    info = PngImagePlugin.PngInfo()
    info.add_text("minigan-link", url)
    Image.new("RGB", (64, 64)).save(tmp_path / "saved.png", pnginfo=info)
    assert run_cli("sample", "--checkpoint", lively_checkpoint, "--link", tmp_path / "saved.png", "--vector",
                   tmp_path / "blond.npz", "--out", tmp_path / "again.png", "--scale", 4) == 0
    again = np.asarray(Image.open(tmp_path / "again.png"))
    assert again.shape == (64, 64, 3) and np.array_equal(again[::4, ::4], expected)


def test_sample_link_says_what_is_missing_or_wrong(tmp_path, lively_checkpoint, capsys):
    z = np.zeros(8, np.float32)
    cases = [
        (["--link", "http://x/#" + IdolLink(z, {"blond": 1.0}).fragment()], "give its vector with --vector blond.npz"),
        (["--link", "http://x/#" + IdolLink(np.zeros(5, np.float32)).fragment()], "5-d noise"),
        (["--link", "nothing here"], "no idol in it"),
        (["--link", tmp_path / "absent.png"], "no such PNG"),
        (["--link", "#" + IdolLink(z).fragment(), "--idols", "1,2"], "leave out --idols"),
        (["--vector", "v.npz"], "for the sliders of a --link"),
    ]
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    cases.append((["--link", tmp_path / "plain.png"], "holds no studio link"))
    for extra, message in cases:
        code = run_cli("sample", "--checkpoint", lively_checkpoint, "--out", tmp_path / "idol.png", *extra)
        err = capsys.readouterr().err
        assert code == 2 and message in err, (extra, err)
        assert not (tmp_path / "idol.png").exists()


def test_sample_link_warns_when_the_link_was_made_with_another_model(tmp_path, lively_checkpoint, capsys):
    link = IdolLink(np.zeros(8, np.float32), {}, "0123456789ab")
    assert run_cli("sample", "--checkpoint", lively_checkpoint, "--link", "#" + link.fragment(),
                   "--out", tmp_path / "idol.png") == 0
    assert "made with model 0123456789ab" in capsys.readouterr().err


# -- the compact checkpoint and the bundled model ---------------------------------------------------


def test_a_compact_generator_loads_as_float32_and_refuses_what_it_cannot_do(tmp_path, lively, capsys):
    path = save_compact_generator(tmp_path / "g.npz", lively, {"config": {"noise": "gaussian"}})
    arrays, meta = load_checkpoint(path)
    assert meta["kind"] == "generator" and {a.dtype for a in arrays.values()} == {np.dtype(np.float16)}
    G, _ = load_generator(path)
    z = np.random.default_rng(9).standard_normal((4, 8)).astype(np.float32)
    assert generate(G, z).dtype == np.float32
    assert np.abs(generate(G, z) - generate(lively, z)).max() < 0.01  # float16 weights
    assert run_cli("fooled", "--checkpoint", path, "--out", tmp_path / "f.png") == 2
    assert "generator only" in capsys.readouterr().err
    big = lively_generator()
    big.layers[0].params["W"][0, 0, 0, 0] = 1e6  # beyond float16's 65504
    with pytest.raises(CheckpointError, match="do not fit float16"):
        save_compact_generator(tmp_path / "big.npz", big, {})
    assert not (tmp_path / "big.npz").exists()


def test_the_bundled_model_ships_with_its_card_and_vectors():
    path = resolve_checkpoint(PRETRAINED)
    assert path == PRETRAINED_FOLDER / "idols.npz" and path.is_file()
    card = (PRETRAINED_FOLDER / "MODEL_CARD.md").read_text()
    G, meta = load_generator(PRETRAINED)
    assert (G.nz, G.image_size) == (100, 64) and meta["kind"] == "generator"
    assert f"`{model_id(G)}`" in card and meta["card"]["fd"] and str(meta["card"]["fd"]) in card
    vectors = bundled_vectors()
    assert "blond" in vectors and all(f"`{name}`" in card for name in vectors)
    for name in vectors:
        assert load_vector(name, nz=G.nz).name == name  # a bare name is the bundled vector
    size = sum(p.stat().st_size for p in PRETRAINED_FOLDER.iterdir() if p.suffix == ".npz")
    assert size <= 8e6


def test_commands_take_the_bundled_model_by_name(tmp_path):
    assert run_cli("sample", "--checkpoint", PRETRAINED, "--n", 4, "--out", tmp_path / "grid.png") == 0
    assert run_cli("edit", "--checkpoint", PRETRAINED, "--vector", "blond", "--idols", "0,1",
                   "--out", tmp_path / "edit.png") == 0
    assert Image.open(tmp_path / "edit.png").size[0] > 64


def test_a_missing_bundle_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr("minigan.checkpoint.PRETRAINED_FOLDER", tmp_path)
    with pytest.raises(CheckpointError, match="no bundled model"):
        resolve_checkpoint(PRETRAINED)


# -- the studio command and its server --------------------------------------------------------------


def test_studio_export_writes_a_site_that_needs_nothing_from_elsewhere(tmp_path, lively_checkpoint, capsys):
    v = vector("blond")
    save_vector(tmp_path / "blond.npz", v.vector, v.meta)
    site = tmp_path / "site"
    assert run_cli("studio", "--checkpoint", lively_checkpoint, "--vector", tmp_path / "blond.npz",
                   "--export", site) == 0
    assert "1 sliders" in capsys.readouterr().out
    assert sorted(p.name for p in site.iterdir()) == sorted(SITE_FILES + ("model.json", "model.bin"))
    model = json.loads((site / "model.json").read_text())
    assert [v["name"] for v in model["vectors"]] == ["blond"] and model["precision"] == "float16"
    for name in ("index.html", "studio.js", "worker.js", "studio.css"):
        text = (site / name).read_text()
        assert "http://" not in text.replace("http://127.0.0.1", "") and "https://" not in text, name
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert run_cli("studio", "--checkpoint", lively_checkpoint, "--export", tmp_path / "mine") == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert run_cli("studio", "--checkpoint", lively_checkpoint, "--export", site) == 0  # its own files: replaced


def test_the_server_serves_the_site_uncached_and_a_busy_port_is_one_clear_error(tmp_path, lively):
    build_site(tmp_path, lively)
    with StudioServer(tmp_path, port=0) as server:
        with urllib.request.urlopen(server.url + "model.json") as response:
            assert response.headers["Cache-Control"] == "no-store"
            assert json.loads(response.read())["id"] == model_id(lively)
        with urllib.request.urlopen(server.url + "generator.js") as response:
            assert response.headers["Content-Type"].startswith("text/javascript")
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        with pytest.raises(MiniganError, match=f"port {port} is in use"):
            StudioServer(tmp_path, port=port)


def test_two_vectors_with_one_name_are_refused(tmp_path, lively_checkpoint, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        save_vector(tmp_path / folder / "blond.npz", vector("blond").vector, {"name": "blond"})
    assert run_cli("studio", "--checkpoint", lively_checkpoint, "--vector", tmp_path / "a" / "blond.npz",
                   "--vector", tmp_path / "b" / "blond.npz", "--export", tmp_path / "site") == 2
    assert "two vectors are named 'blond'" in capsys.readouterr().err
