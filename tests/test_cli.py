"""The commands agree with each other: one help style, one meaning of --out, --idols/--seeds
wherever idols are drawn."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from minigan import cli
from minigan.checkpoint import load_generator
from minigan.data import to_images
from minigan.latent import idol_noise, seed_noise
from minigan.sampling import generate


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_help_states_defaults_one_way(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    flat = re.sub(r"\s+", " ", text)
    assert not re.search(r"\(default [^:]", flat), "defaults are written '(default: X)'"
    assert flat.count("(default: ") >= 1 or command in ("classifier", "dataset")


def test_an_option_states_its_default_once():
    """A help text that names its default in words gets no second, generated one."""
    from minigan.cli.args import make_parser

    parser = make_parser("x", "")
    parser.add_argument("--a", default=3, help="a number")
    parser.add_argument("--b", default=None, help="a file (default: NAME.png)")
    parser.add_argument("--c", action="store_true", help="a switch")
    flat = re.sub(r"\s+", " ", parser.format_help())
    assert "a number (default: 3)" in flat and "a file (default: NAME.png)" in flat
    assert flat.count("(default:") == 2


def test_subcommand_helps_state_defaults_one_way(capsys):
    for argv in (["classifier", "train", "--help"], ["dataset", "preview", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        flat = re.sub(r"\s+", " ", capsys.readouterr().out)
        assert "(default: 8)" in flat or "(default: 16)" in flat
        assert not re.search(r"\(default [^:]", flat)


def test_sample_names_idols_like_every_other_command(tiny_run, tmp_path, capsys):
    """``sample --idols 2,5`` draws idols 2 and 5 of the numbered grid, ``--seeds`` one per seed:
    the same idols as interpolate and edit name."""
    G, _ = load_generator(tiny_run)
    assert cli.main(["sample", "--checkpoint", str(tiny_run), "--idols", "2,5", "--seed", "3",
                     "--out", str(tmp_path / "picked.npz")]) == 0
    with np.load(tmp_path / "picked.npz") as data:
        np.testing.assert_array_equal(data["z"], idol_noise(G.nz, [2, 5], seed=3))
        np.testing.assert_array_equal(data["images"], to_images(generate(G, idol_noise(G.nz, [2, 5], seed=3))))
    assert cli.main(["sample", "--checkpoint", str(tiny_run), "--seeds", "7,9", "--out", str(tmp_path / "seeds")]) == 0
    assert sorted(p.name for p in (tmp_path / "seeds").iterdir()) == ["seed_7.png", "seed_9.png"]
    first = np.asarray(Image.open(tmp_path / "seeds" / "seed_7.png"))
    np.testing.assert_array_equal(first, to_images(generate(G, seed_noise(G.nz, [7])))[0])
    assert "seed 7, seed 9" in capsys.readouterr().out
    assert cli.main(["sample", "--checkpoint", str(tiny_run), "--idols", "1", "--seeds", "2",
                     "--out", str(tmp_path / "x.png")]) == 2
    assert "not both" in capsys.readouterr().err


def test_fooled_rates_the_named_idols(tiny_run, tmp_path, capsys):
    assert cli.main(["fooled", "--checkpoint", str(tiny_run), "--idols", "0,1,2", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "fooled.png").exists()  # --out a folder: the usual name inside it
    assert "the 3 of 3 idols" in capsys.readouterr().out


@pytest.mark.parametrize("command, extra, name", [
    ("interpolate", ["--idols", "0,1", "--steps", "3", "--gif-frames", "0"], "interpolation.png"),
    ("fooled", ["--n", "8", "--top", "4"], "fooled.png"),
    ("vector", ["--plus", "0,1,2", "--minus", "3,4,5", "--name", "mine"], "mine.npz"),
])
def test_out_is_a_file_by_its_suffix_or_a_folder(command, extra, name, tiny_run, tmp_path, capsys):
    folder = tmp_path / "made" / "here"
    assert cli.main([command, "--checkpoint", str(tiny_run), *extra, "--out", str(folder)]) == 0
    assert (folder / name).is_file()
    assert cli.main([command, "--checkpoint", str(tiny_run), *extra, "--out", str(tmp_path / "wrong.txt")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "or a folder" in err and not (tmp_path / "wrong.txt").exists()


def test_library_errors_name_arguments_and_the_command_line_shows_options(capsys):
    from minigan.data import load_dataset
    from minigan.errors import DatasetError

    with pytest.raises(DatasetError) as info:
        load_dataset("no/such/folder")
    assert str(info.value).startswith("data 'no/such/folder'")
    assert cli.main(["dataset", "info", "--data", "no/such/folder"]) == 2
    assert "error: --data 'no/such/folder': not 'idols' and no such folder" in capsys.readouterr().err


@pytest.mark.usefixtures("cache")
def test_warnings_are_one_line_naming_the_command(tmp_path, capsys):
    folder = tmp_path / "icons"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    (folder / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    assert cli.main(["dataset", "info", "--data", str(folder)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minigan dataset: warning: skipped 1 unusable entry")
    assert "dangling.png" in err[0]


def test_classifier_casts_are_for_the_built_in_set(tmp_path, capsys):
    code = cli.main(["classifier", "train", "--data", str(tmp_path), "--casts", "2", "--out", str(tmp_path / "c.npz")])
    assert code == 2 and "--casts is for the built-in set" in capsys.readouterr().err


def test_classifier_casts_name_a_bad_seed(tmp_path, capsys):
    code = cli.main(["classifier", "train", "--data", "idols:x", "--casts", "2", "--out", str(tmp_path / "c.npz")])
    assert code == 2 and "the seed after 'idols:' must be an integer" in capsys.readouterr().err
