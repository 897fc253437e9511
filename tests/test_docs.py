"""The docs are code: every snippet in docs/ runs, every link and picture exists.

Each ```python block of a chapter is executed in order, in one fresh namespace per chapter (so a
later block can use the names of an earlier one), with the working directory set to a temporary
folder and ``MINIGAN_CACHE`` pointed at a session-wide temporary cache: nothing is written to the
repository or the user's home. A block fenced as ```output right after a ```python block is what
that block prints, and must match it line for line. Blocks fenced as ```bash or ```text are for
reading and are not run.

The figures under docs/img/ that ``docs/img/make_figures.py`` draws are redrawn and compared with
the committed files, so a picture cannot silently drift from the code that made it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_SRC = re.compile(r"""<(?:img|a)\b[^>]*?(?:src|href)=["']([^"']+)["']""", re.I)


def code_blocks(text: str):
    """``[(language, code, first line, last line), ...]`` for the fenced blocks of a Markdown
    text (lines numbered from 1; first and last are the fence lines)."""
    blocks, lines, k = [], text.split("\n"), 0
    while k < len(lines):
        m = re.match(r"^```([\w+-]*)", lines[k])
        if not m:
            k += 1
            continue
        start = k
        k += 1
        while k < len(lines) and not re.match(r"^```\s*$", lines[k]):
            k += 1
        body = lines[start + 1:k]
        blocks.append((m.group(1).lower(), "\n".join(body) + "\n" if body else "", start + 1, k + 1))
        k += 1
    return blocks


def snippets(text: str):
    """``[(code, line, expected output or None), ...]`` for the ```python blocks, in order.

    The expected output is the ```output block that follows a python block with nothing but
    blank lines between them."""
    blocks, lines, out = code_blocks(text), text.split("\n"), []
    for k, (lang, code, first, last) in enumerate(blocks):
        if lang != "python":
            continue
        expected = None
        if k + 1 < len(blocks) and blocks[k + 1][0] == "output":
            between = lines[last:blocks[k + 1][2] - 1]
            if not any(s.strip() for s in between):
                expected = blocks[k + 1][1]
        out.append((code, first + 1, expected))
    return out


def _normalise(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    return lines


@pytest.fixture(scope="session")
def docs_cache(tmp_path_factory):
    """One cache folder for every chapter: the small idol sets are drawn once per session."""
    return tmp_path_factory.mktemp("minigan-cache")


@pytest.fixture
def docs_env(tmp_path, monkeypatch, docs_cache):
    """A temporary working directory and cache; numba's parallel kernels on one thread.

    The snippets call kernels thousands of times on tiny arrays (gradient checks, toy games).
    A parallel kernel wakes its worker threads on every call, and on a busy machine a wake-up
    can cost milliseconds, which turned a 0.1 s snippet into 30 s; one thread avoids that and
    still runs the same compiled kernels.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINIGAN_CACHE", str(docs_cache))
    try:
        import numba
    except ImportError:
        yield tmp_path
        return
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield tmp_path
    finally:
        numba.set_num_threads(threads)


def test_chapters_are_numbered_in_order_and_indexed():
    """Chapters 01, 02, ... with no gap, each one linked from the index (docs/README.md)."""
    chapters = [p.name for p in PAGES if re.match(r"\d\d-", p.name)]
    assert [int(name[:2]) for name in chapters] == list(range(1, len(chapters) + 1))
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert not [name for name in chapters if f"]({name})" not in index], "chapters missing from docs/README.md"
    assert SLOW_PAGES <= set(chapters), "SLOW_PAGES names a chapter that does not exist"


#: Chapters whose snippets take over 1.5 s (08 trains a tiny GAN for three epochs): ``slow``.
SLOW_PAGES = {"08-the-gan-game.md"}


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_PAGES else p for p in PAGES],
                         ids=lambda p: p.name)
def test_snippets_run(page, docs_env):
    """Run a page's ```python blocks in order; check each ```output block."""
    text = page.read_text(encoding="utf-8")
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for code, line, expected in snippets(text):
        where = f"{page.name}, the block at line {line}"
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer):
                exec(compile(code, f"<{where}>", "exec"), namespace)  # noqa: S102 (the docs are ours)
        except Exception as exc:
            raise AssertionError(f"{where} failed: {exc.__class__.__name__}: {exc}\n--- output so far ---\n"
                                 f"{buffer.getvalue()}") from exc
        if expected is not None:
            got, want = _normalise(buffer.getvalue()), _normalise(expected)
            assert got == want, (f"{where} printed something else than the ```output block below it.\n"
                                 "--- printed ---\n" + "\n".join(got) + "\n--- documented ---\n" + "\n".join(want))


def test_snippet_extraction():
    text = ("intro\n```python\nx = 1\nprint(x)\n```\n\n```output\n1\n```\n"
            "```bash\nrm -rf /\n```\n```python\ny = x + 1\n```\ntext\n```output\n9\n```\n")
    got = snippets(text)
    assert [(c, e) for c, _, e in got] == [("x = 1\nprint(x)\n", "1\n"), ("y = x + 1\n", None)]
    assert got[0][1] == 3  # the first line of code


def _strip_code(text: str) -> str:
    lines = text.split("\n")
    for _, _, first, last in code_blocks(text):
        lines[first - 1:last] = [""] * (last - first + 1)
    return "\n".join(lines)


def _targets(text: str):
    without_code = _strip_code(text)
    without_code = re.sub(r"`[^`\n]*`", "", without_code)  # inline code is not a link
    return LINK.findall(without_code) + HTML_SRC.findall(without_code)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_and_pictures_exist(page):
    missing = []
    for target in _targets(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # http(s), mailto, or an anchor on the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            missing.append(target)
    assert not missing, f"{page.name} links to files that do not exist: {missing}"


def test_pictures_are_small():
    for picture in (DOCS / "img").glob("*"):
        if picture.suffix.lower() in (".png", ".gif", ".jpg", ".jpeg", ".webp"):
            assert picture.stat().st_size < 320_000, f"{picture.name} is {picture.stat().st_size} bytes"


@functools.cache
def _make_figures():
    """docs/img/make_figures.py as a module (loaded once)."""
    spec = importlib.util.spec_from_file_location("make_figures", DOCS / "img" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIGURES = list(_make_figures().FIGURES) if (DOCS / "img" / "make_figures.py").exists() else []


@pytest.mark.parametrize("name", FIGURES)
def test_figures_are_reproduced_by_their_command(name, docs_env):
    """Redraw each figure of make_figures.py and compare it with the committed file.

    Text is drawn with Pillow's built-in font, whose anti-aliasing may differ slightly between
    FreeType versions: the comparison allows a tiny mean difference, not a different picture.
    """
    from PIL import Image

    figures = _make_figures()
    written = figures.FIGURES[name](docs_env)
    for path in written:
        committed = DOCS / "img" / Path(path).name
        assert committed.exists(), f"{committed.name} is drawn by make_figures.py --only {name} but not committed"
        new = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
        old = np.asarray(Image.open(committed).convert("RGB"), dtype=np.float64)
        assert new.shape == old.shape, f"{committed.name}: {new.shape} now, {old.shape} committed"
        assert np.abs(new - old).mean() < 1.0, f"{committed.name} differs from what its command draws now"
