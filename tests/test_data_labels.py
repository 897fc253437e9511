"""Labels for a folder of images: a ``labels.csv`` beside them (file, then one column per label),
with a clear error for every way it can be wrong, and a conditional run trained on one."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from minigan.data import load_folder
from minigan.errors import DatasetError

pytestmark = pytest.mark.usefixtures("cache")  # a cache folder of its own for every test (conftest)

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def labelled_folder(root: Path, n: int = 6, csv: str | None = None) -> Path:
    """``n`` solid icons in two subfolders, red and blue alternately, with a labels.csv of their
    colour and a second label (``csv`` replaces the file's text)."""
    rows = ["file,colour,size"]
    for i in range(n):
        colour = "red" if i % 2 == 0 else "blue"
        path = root / ("a" if i < n // 2 else "b") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), COLOURS[colour]).save(path)
        rows.append(f"{path.relative_to(root).as_posix()},{colour},{'big' if i < 2 else 'small'}")
    (root / "labels.csv").write_text(csv if csv is not None else "\n".join(rows) + "\n", encoding="utf-8")
    return root


def test_the_columns_of_labels_csv_label_the_images(tmp_path):
    ds = load_folder(labelled_folder(tmp_path / "icons"))
    assert sorted(ds.labels) == ["colour", "folder", "size"]
    assert ds.vocab["colour"] == ["blue", "red"] and ds.vocab["size"] == ["big", "small"]
    read_as = [ds.vocab["colour"][k] for k in ds.labels["colour"]]
    assert read_as == ["red", "blue", "red", "blue", "red", "blue"]  # the images in sorted path order
    for image, colour in zip(ds.images, read_as):
        assert tuple(image[8, 8]) == COLOURS[colour]  # each row reached its own image
    assert list(ds.labels["size"]) == [0, 0, 1, 1, 1, 1]


def test_editing_labels_csv_reads_the_folder_again(tmp_path):
    root = labelled_folder(tmp_path / "icons")
    assert load_folder(root).vocab["size"] == ["big", "small"]
    text = (root / "labels.csv").read_text().replace(",big", ",huge")
    (root / "labels.csv").write_text(text)
    assert load_folder(root).vocab["size"] == ["huge", "small"]  # not the cached labels of before


def colours_of(ds):
    return [ds.vocab["colour"][k] for k in ds.labels["colour"]]


def test_a_byte_order_mark_windows_paths_blank_lines_and_trailing_commas_are_fine(tmp_path):
    root = labelled_folder(tmp_path / "icons")
    lines = (root / "labels.csv").read_text().splitlines()
    lines = [lines[0] + ","] + [("./" if i % 2 else "") + line.replace("/", "\\") + "," for i, line in enumerate(lines[1:])]
    (root / "labels.csv").write_text("\ufeff" + "\r\n\r\n".join(lines), encoding="utf-8")
    assert colours_of(load_folder(root)) == ["red", "blue", "red", "blue", "red", "blue"]


def test_names_and_values_match_in_either_unicode_form(tmp_path):
    import unicodedata

    root = tmp_path / "icons"
    root.mkdir()
    for i, name in enumerate(["rosé", "noir"]):
        Image.new("RGB", (8, 8), (10 * i, 0, 0)).save(root / f"{unicodedata.normalize('NFD', name)}.png")  # as macOS names files
    (root / "labels.csv").write_text("file,hair\nrosé.png,rosé\nnoir.png,rosé\n".replace("rosé,", unicodedata.normalize("NFD", "rosé") + ","),
                                     encoding="utf-8")
    ds = load_folder(root)
    assert ds.vocab["hair"] == ["rosé"]  # one class, not two spellings of it


def test_an_error_names_the_line_even_after_a_quoted_newline(tmp_path):
    root = labelled_folder(tmp_path / "icons")
    rows = (root / "labels.csv").read_text().splitlines()
    rows[1] = rows[1].replace(",big", ',"big\nand tall"')  # one record over two lines
    rows[3] = "a/2.png,,big"
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match="line 5: 'a/2.png' has no colour"):
        load_folder(root)


@pytest.mark.parametrize("edit,message", [
    (lambda rows: rows[:-1], r"no row for 1 of the 6 images: b/5\.png"),
    (lambda rows: rows + ["b/9.png,red,big"], r"line 8: 'b/9\.png' is not an image of the folder"),
    (lambda rows: rows + [rows[1]], r"line 8: 'a/0\.png' has a row already"),
    (lambda rows: rows[:2] + ["a/1.png,,big"] + rows[3:], r"line 3: 'a/1\.png' has no colour"),
    (lambda rows: rows[:2] + ["a/1.png,blue"] + rows[3:], r"line 3: 2 values for 3 columns \(file, colour, size\)"),
    (lambda rows: ["file,colour,colour"] + rows[1:], "line 1: label names must be distinct"),
    (lambda rows: ["file,folder,size"] + rows[1:], "'folder' is the subfolders' own label"),
    (lambda rows: ["file"] + [r.split(",")[0] for r in rows[1:]], "names no label"),
    (lambda rows: rows[1:], r"line 1: the first row must be the header, 'file' then"),
    (lambda rows: [], "is empty"),
])
def test_a_wrong_labels_csv_is_a_clear_error(tmp_path, edit, message):
    root = labelled_folder(tmp_path / "icons")
    rows = (root / "labels.csv").read_text().splitlines()
    (root / "labels.csv").write_text("\n".join(edit(rows)) + "\n")
    with pytest.raises(DatasetError, match=message):
        load_folder(root)


def test_rows_of_skipped_images_are_ignored(tmp_path):
    root = labelled_folder(tmp_path / "icons")
    (root / "a" / "1.png").write_bytes(b"not a png")  # skipped with a warning; its row stays
    with pytest.warns(UserWarning, match="unreadable"):
        ds = load_folder(root)
    assert len(ds) == 5 and [ds.vocab["colour"][k] for k in ds.labels["colour"]] == ["red", "red", "blue", "red", "blue"]


@pytest.mark.slow
def test_a_conditional_run_trains_on_a_labelled_folder_and_refuses_a_label_it_lacks(tmp_path):
    from minigan.checkpoint import load_generator
    from minigan.data import load_dataset
    from minigan.train import Trainer

    from .cases import tiny_train_config

    root = labelled_folder(tmp_path / "icons", n=16)
    ds = load_dataset(str(root), size=16)
    Trainer(tiny_train_config(tmp_path / "run", data=str(root), condition="colour", epochs=1), dataset=ds).run()
    G, _ = load_generator(tmp_path / "run" / "run")
    assert G.attributes == ["colour"] and G.vocab == {"colour": ["blue", "red"]}
    with pytest.raises(DatasetError, match=r"no label 'hair_color' to condition on \(its labels: colour, folder, size\)"):
        Trainer(tiny_train_config(tmp_path / "other", data=str(root), condition="hair_color"), dataset=ds)


def test_the_classifier_learns_a_folders_own_labels_and_names_them_when_asked_for_others(tmp_path, capsys):
    from minigan import cli
    from minigan.models.classifier import load_classifier

    root = labelled_folder(tmp_path / "icons", n=16)
    out = tmp_path / "clf.npz"
    assert cli.main(["classifier", "train", "--data", str(root), "--attributes", "colour,size", "--out", str(out),
                     "--epochs", "1", "--batch-size", "4", "--width", "2", "--features", "4", "--holdout", "0.25"]) == 0
    assert "held-out accuracy (4 images, split by image): colour" in capsys.readouterr().out
    clf, meta = load_classifier(out)
    assert clf.attributes == ["colour", "size"] and meta["vocab"]["colour"] == ["blue", "red"]
    assert cli.main(["classifier", "train", "--data", str(root), "--out", str(out), "--force"]) == 2  # idol labels
    assert "no hair_color, hair_style, eye_color labels (its labels: colour, folder, size)" in capsys.readouterr().err
    assert cli.main(["classifier", "train", "--data", str(root), "--attributes", "colour,colour", "--out", str(out),
                     "--force"]) == 2
    assert "give one or more different labels" in capsys.readouterr().err
