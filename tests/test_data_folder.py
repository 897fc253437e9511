"""Loading a user's folder of images: formats, modes, crops, nesting, bad files, the cache."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from minigan.data import cache_dir, load_dataset, load_folder
from minigan.data import folder as folder_module
from minigan.errors import DatasetError


pytestmark = pytest.mark.usefixtures("cache")  # a cache folder of its own for every test (conftest)


def solid(color, size=(32, 32), mode="RGB"):
    return Image.new(mode, size, color)


def snapshot(root: Path):
    return sorted((p.relative_to(root).as_posix(), p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_reads_rgb_and_resizes_to_64(tmp_path):
    d = tmp_path / "icons"
    d.mkdir()
    solid((200, 10, 20), (128, 128)).save(d / "a.png")
    solid((10, 200, 20), (40, 40)).save(d / "b.bmp")
    solid((10, 20, 200), (100, 100)).save(d / "c.jpg", quality=95)
    ds = load_folder(d)
    assert ds.images.shape == (3, 64, 64, 3) and ds.images.dtype == np.uint8
    assert tuple(ds.images[0, 32, 32]) == (200, 10, 20)
    assert tuple(ds.images[1, 32, 32]) == (10, 200, 20)
    assert np.abs(ds.images[2, 32, 32].astype(int) - (10, 20, 200)).max() <= 6  # JPEG
    assert ds.labels == {} and ds.source == str(d)


def test_transparency_greyscale_palette_and_16bit(tmp_path):
    d = tmp_path / "modes"
    d.mkdir()
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 0))  # fully transparent red
    rgba.paste((0, 0, 255, 255), (8, 8, 24, 24))  # an opaque blue square in the middle
    rgba.save(d / "1_rgba.png")
    solid(90, mode="L").save(d / "2_grey.png")
    Image.new("LA", (32, 32), (50, 0)).save(d / "3_la.png")
    pal = solid((0, 160, 0)).convert("P", palette=Image.ADAPTIVE, colors=4)
    pal.save(d / "4_palette.png")
    pal_t = Image.new("P", (32, 32), 0)
    pal_t.putpalette([10, 20, 30] * 256)
    pal_t.save(d / "5_palette_transparent.gif", transparency=0)
    Image.fromarray(np.full((32, 32), 65535, dtype=np.uint16)).save(d / "6_grey16.png")
    ds = load_folder(d)
    assert len(ds) == 6
    assert tuple(ds.images[0, 0, 0]) == (255, 255, 255)  # transparent -> white background
    assert tuple(ds.images[0, 32, 32]) == (0, 0, 255)
    assert tuple(ds.images[1, 10, 10]) == (90, 90, 90)
    assert tuple(ds.images[2, 10, 10]) == (255, 255, 255)
    assert tuple(ds.images[3, 10, 10]) == (0, 160, 0)
    assert tuple(ds.images[4, 10, 10]) == (255, 255, 255)
    assert tuple(ds.images[5, 10, 10]) == (255, 255, 255)
    black_bg = load_folder(d, background=(0, 0, 0))
    assert tuple(black_bg.images[0, 0, 0]) == (0, 0, 0)


def test_non_square_images_are_centre_cropped(tmp_path):
    d = tmp_path / "wide"
    d.mkdir()
    wide = Image.new("RGB", (300, 100), (255, 0, 0))
    wide.paste((0, 255, 0), (100, 0, 200, 100))  # the middle third is green
    wide.save(d / "wide.png")
    tall = Image.new("RGB", (50, 150), (255, 0, 0))
    tall.paste((0, 0, 255), (0, 50, 50, 100))
    tall.save(d / "tall.png")
    ds = load_folder(d)
    assert (ds.images[1] == (0, 255, 0)).all()  # "wide.png" sorts after "tall.png"
    assert (ds.images[0] == (0, 0, 255)).all()


def test_gif_first_frame_and_webp(tmp_path):
    d = tmp_path / "anim"
    d.mkdir()
    frames = [solid((255, 0, 0)), solid((0, 0, 255))]
    frames[0].save(d / "a.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    if features.check("webp"):
        solid((0, 255, 0)).save(d / "b.webp", lossless=True)
    ds = load_folder(d)
    assert tuple(ds.images[0, 5, 5]) == (255, 0, 0)
    if features.check("webp"):
        assert tuple(ds.images[1, 5, 5]) == (0, 255, 0)


def test_nested_folders_become_labels(tmp_path):
    d = tmp_path / "cast"
    for rel in ("haruka/1.png", "haruka/2.PNG", "chihaya/1.png", "deep/er/1.png", "top.png"):
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        solid((len(rel) * 10, 0, 0)).save(d / rel, format="PNG")
    (d / "notes.txt").write_text("not an image")
    (d / ".hidden").mkdir()
    solid((1, 2, 3)).save(d / ".hidden" / "x.png")
    ds = load_folder(d)
    assert len(ds) == 5
    assert ds.vocab["folder"] == [".", "chihaya", "deep/er", "haruka"]
    assert ds.label_names("folder") == ["chihaya", "deep/er", "haruka", "haruka", "."]


def test_corrupt_files_are_skipped_with_one_warning(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    solid((1, 2, 3)).save(d / "good.png")
    (d / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (d / "empty.jpg").write_bytes(b"")
    data = (d / "good.png").read_bytes()
    (d / "truncated.png").write_bytes(data[: len(data) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_folder(d)
    assert len(ds) == 1
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert "skipped 3 unreadable files" in messages[0]
    assert "bad.png" in messages[0] and "empty.jpg" in messages[0]


def test_oversized_images_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_module, "MAX_PIXELS", 1000)
    d = tmp_path / "big"
    d.mkdir()
    solid((0, 0, 0), (20, 20)).save(d / "small.png")
    solid((0, 0, 0), (40, 40)).save(d / "huge.png")
    with pytest.warns(UserWarning, match=r"skipped 1 oversized .*huge\.png"):
        ds = load_folder(d, cache=False)
    assert len(ds) == 1


@pytest.mark.parametrize("make", ["empty", "no_images", "all_corrupt", "missing", "file"])
def test_unusable_folders_raise_dataset_error(tmp_path, make):
    d = tmp_path / "d"
    if make != "missing":
        d.mkdir()
    if make == "no_images":
        (d / "readme.txt").write_text("hello")
    if make == "all_corrupt":
        (d / "x.png").write_bytes(b"nope")
    if make == "file":
        d.rmdir()
        d.write_text("x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DatasetError) as info:
            load_folder(d)
    assert str(d) in str(info.value)
    if make in ("empty", "no_images", "all_corrupt"):
        assert ".png" in str(info.value) and ".jpg" in str(info.value)


def test_cache_is_used_and_invalidated_and_the_folder_untouched(tmp_path, cache):
    d = tmp_path / "icons"
    d.mkdir()
    solid((255, 0, 0)).save(d / "a.png")
    solid((0, 255, 0)).save(d / "b.png")
    before = snapshot(d)
    first = load_folder(d)
    assert first.cache_path is not None and first.cache_path.parent == cache and first.cache_path.exists()
    assert snapshot(d) == before  # nothing written into the user's folder
    second = load_folder(d)
    assert second.cache_path == first.cache_path and np.array_equal(second.images, first.images)
    # change a file (content and mtime): read again
    solid((0, 0, 255)).save(d / "a.png")
    st = (d / "a.png").stat()
    os.utime(d / "a.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = load_folder(d)
    assert changed.cache_path != first.cache_path
    assert tuple(changed.images[0, 0, 0]) == (0, 0, 255)
    # add a file: read again
    solid((9, 9, 9)).save(d / "c.png")
    assert len(load_folder(d)) == 3
    # a damaged cache file is read around
    changed.cache_path.write_bytes(b"junk")
    os.remove(d / "c.png")
    with pytest.warns(UserWarning, match="cannot be used"):
        assert tuple(load_folder(d).images[0, 0, 0]) == (0, 0, 255)


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine" and (tmp_path / "mine").is_dir()
    monkeypatch.delenv("MINIGAN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "minigan"


def test_load_dataset_takes_a_folder(tmp_path):
    d = tmp_path / "icons"
    d.mkdir()
    solid((5, 6, 7)).save(d / "a.png")
    assert len(load_dataset(str(d))) == 1


def test_the_emoji_set_example_reads_unicodes_groups_and_labels_its_icons(tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "make_emoji_set.py"
    spec = importlib.util.spec_from_file_location("make_emoji_set", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    listing = tmp_path / "emoji-test.txt"
    listing.write_text("# group: Smileys & Emotion\n# subgroup: face-smiling\n"
                       "1F600 ; fully-qualified # 😀 E1.0 grinning face\n"
                       "263A ; unqualified # ☺ E0.6 smiling face\n"
                       "# group: Flags\n# subgroup: country-flag\n"
                       "1F1EF 1F1F5 ; fully-qualified # 🇯🇵 E0.6 flag: Japan\n", encoding="utf-8")
    assert example.read_emoji_test(listing) == [("😀", "grinning face", "Smileys & Emotion", "face-smiling"),
                                                ("🇯🇵", "flag: Japan", "Flags", "country-flag")]
    if not Path(example.FONT).is_file():
        pytest.skip("no Noto Color Emoji (apt-get install fonts-noto-color-emoji) to draw with")
    assert example.main(["--out", str(tmp_path / "set"), "--emoji-test", str(listing)]) == 0
    ds = load_folder(tmp_path / "set")
    assert len(ds) == 2 and ds.vocab["group"] == ["Flags", "Smileys & Emotion"]
    assert ds.images[1].astype(int).std() > 20  # a drawn face, not a blank square
