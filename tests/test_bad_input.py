"""Bad input gets a clear message and loses nothing: a table of wrong arguments, one per row,
against every command. Each must exit with status 2 and one error line that names the
argument, before any file is written, and leave what was there untouched."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from minigan import cli
from minigan.latent import save_vector

# (command line, words the error must contain). {run}: a tiny checkpoint, {vec}: a vector
# made for it, {out}: a fresh folder, {ckpt}: a copy of the checkpoint that must survive.
CASES = [
    ("sample --checkpoint {run} --out {out}/a.png --n 0", "--n"),
    ("sample --checkpoint {run} --out {out}/a.png --n 1e9", "--n"),
    ("sample --checkpoint {run} --out {out}/a.png --n 10000000", "--n"),
    ("sample --checkpoint {run} --out {out}/a.png --nrow 0", "--nrow"),
    ("sample --checkpoint {run} --out {out}/a.png --scale 0", "--scale"),
    ("sample --checkpoint {run} --out {out}/a.png --seed -1", "--seed"),
    ("sample --checkpoint {run} --out {out}/a.png --seed x", "--seed"),
    ("sample --checkpoint {run} --out {out}/a.png --idols 3,-4", "--idols"),
    ("sample --checkpoint {run} --out {out}/a.png --idols 99999999999", "--idols"),
    ("sample --checkpoint {run} --out {out}/a.png --seeds -5", "--seeds"),
    ("sample --checkpoint {run} --out {out}/a.txt", "--out"),
    ("sample --checkpoint {run} --out {ckpt}", "checkpoint"),
    ("sample --checkpoint {run} --out {out}/a.png --device tpu", "device"),
    ("sample --checkpoint {out}/missing.npz --out {out}/a.png", "no checkpoint"),
    ("fooled --checkpoint {run} --out {out}/f.png --top 0", "--top"),
    ("fooled --checkpoint {run} --out {out}/f.png --n 4 --top 8", "--top"),
    ("fooled --checkpoint {run} --out {ckpt}", "--out"),
    ("interpolate --checkpoint {run} --out {out}/i.png --steps 1", "--steps"),
    ("interpolate --checkpoint {run} --out {out}/i.png --gif-frames -3", "--gif-frames"),
    ("interpolate --checkpoint {run} --out {out}/i.png --idols 1,2,3", "pairs"),
    ("interpolate --checkpoint {run} --out {out}/i.png --scale 1000", "--scale"),
    ("edit --checkpoint {run} --vector {vec} --out {out}/e.png --strengths nan", "--strengths"),
    ("edit --checkpoint {run} --vector {vec} --out {out}/e.png --strengths 1,inf", "--strengths"),
    ("edit --checkpoint {run} --vector {vec} --out {out}/e.png --strengths 1,,x", "--strengths"),
    ("edit --checkpoint {run} --vector {out}/none.npz --out {out}/e.png", "no attribute vector"),
    ("edit --checkpoint {run} --vector {vec} --out {out}/e.png --scale 0", "--scale"),
    ("vector --checkpoint {run} --plus 1,2 --minus 3,4,5 --out {out}/v.npz", "--plus"),
    ("vector --checkpoint {run} --plus 1,2,3 --minus 3,4,5 --out {out}/v.npz", "both sides"),
    ("vector --checkpoint {run} --plus 1,2,3 --minus 4,5,6 --out {ckpt}", "checkpoint"),
    ("vector --checkpoint {run} --plus 1,2,3 --minus 4,5,6 --out {out}/v.png", "--out"),
    ("vector --checkpoint {run} --from-labels --plus blond --minus rest --n 3 --out {out}/v.npz", "--n"),
    ("vector --checkpoint {run} --from-labels --plus blond --minus rest --min-confidence 2 --out {out}/v.npz",
     "--min-confidence"),
    ("vector --checkpoint {run} --from-labels --plus blond --minus rest --min-confidence nan --out {out}/v.npz",
     "--min-confidence"),
    ("evaluate --checkpoint {run} --n 1 --out {out}/ev", "--n"),
    ("evaluate --checkpoint {run} --edit-n 0 --out {out}/ev", "--edit-n"),
    ("evaluate --checkpoint {run} --strengths 0,nan --out {out}/ev", "--strengths"),
    ("evaluate --checkpoint {run} --out {ckpt}", "--out"),
    ("classifier train --epochs 0 --out {out}/c.npz", "--epochs"),
    ("classifier train --lr inf --out {out}/c.npz", "--lr"),
    ("classifier train --lr 0 --out {out}/c.npz", "--lr"),
    ("classifier train --holdout 1 --out {out}/c.npz", "--holdout"),
    ("classifier train --width -2 --out {out}/c.npz", "--width"),
    ("classifier train --out {ckpt}", "checkpoint"),
    ("classifier info --classifier {out}/none.npz", "no classifier"),
    ("gradcheck --tol nan", "--tol"),
    ("gradcheck --tol -1", "--tol"),
    ("dataset preview --colors 999 --out {out}/p.png", "--colors"),
    ("dataset preview --scale 0 --out {out}/p.png", "--scale"),
    ("dataset preview --columns 0 --out {out}/p.png", "--columns"),
    ("dataset preview --out {out}/p.txt", "--out"),
    ("dataset info --data {out}/no/such", "--data"),
    ("dataset info --data idols:x", "--data"),
    ("nosuchcommand", "unknown command"),
]


def run(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's own errors exit with status 2
        return exc.code


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def vector_file(tiny_run, tmp_path_factory):
    return save_vector(tmp_path_factory.mktemp("vec") / "v.npz", np.linspace(-1, 1, 8).astype(np.float32),
                       {"name": "v", "method": "exemplars"})


@pytest.mark.parametrize("line, words", CASES, ids=[c[0].split(" --out")[0][:60] for c in CASES])
def test_bad_arguments_get_one_clear_line_and_write_nothing(line, words, tiny_run, vector_file, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    ckpt = tmp_path / "keep.npz"
    ckpt.write_bytes(tiny_run.read_bytes())
    before = digest(ckpt)
    argv = [part.format(run=tiny_run, vec=vector_file, out=out, ckpt=ckpt) for part in line.split()]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    if argv[0] != "nosuchcommand":  # an unknown command is one line too, followed by the list of commands
        assert len(lines) == 1, err
    assert "error: " in lines[0] and words in lines[0], lines[0]
    assert list(out.iterdir()) == [], "a failed command wrote files"
    assert digest(ckpt) == before


def test_force_replaces_a_checkpoint_on_purpose(tiny_run, tmp_path, capsys):
    target = tmp_path / "old.npz"
    target.write_bytes(tiny_run.read_bytes())
    assert run(["sample", "--checkpoint", str(tiny_run), "--n", "2", "--out", str(target), "--force"]) == 0
    with np.load(target) as data:
        assert set(data.files) == {"images", "z", "seed"}


def test_a_folder_of_other_files_is_not_filled_without_force(tiny_run, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"mine")
    assert run(["sample", "--checkpoint", str(tiny_run), "--n", "2", "--out", str(folder)]) == 2
    assert "holds other files (holiday.jpg)" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["holiday.jpg"]
    assert run(["sample", "--checkpoint", str(tiny_run), "--n", "2", "--out", str(folder), "--force"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["holiday.jpg", "idol_0.png", "idol_1.png"]
    assert run(["sample", "--checkpoint", str(tiny_run), "--n", "2", "--out", str(folder / "again")]) == 0
    assert run(["sample", "--checkpoint", str(tiny_run), "--n", "2", "--out", str(folder / "again")]) == 0  # its own
