"""Pictures: image grids, captioned and labelled grids, contact sheets, GIFs, line plots and the
measurements' charts, all with Pillow.

A GAN is judged by looking at it, so minigan's outputs are PNGs and GIFs rather than numbers.
Images come in as the generator makes them (float ``(N, C, H, W)`` in [-1, 1], NumPy or CuPy)
or as stored (``uint8 (N, H, W, 3)``); :func:`as_uint8_images` turns either into the second.
Plots are drawn directly with Pillow (no plotting library is needed).
"""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .backend import to_numpy
from .data.dataset import to_images

__all__ = [
    "as_uint8_images",
    "image_grid",
    "save_grid",
    "captioned_grid",
    "save_gif",
    "line_plot",
    "labelled_grid",
    "contact_sheet",
    "attribute_chart",
    "nearest_pairs_picture",
    "load_font",
    "COLOURS",
]


def as_uint8_images(x) -> np.ndarray:
    """``uint8 (N, H, W, 3)`` from float ``(N, 3, H, W)`` in [-1, 1] (via
    :func:`minigan.data.to_images`) or from uint8 ``(N, H, W, 3)`` (returned as is)."""
    x = to_numpy(x)
    return x if x.dtype == np.uint8 else to_images(x)


def image_grid(x, nrow: int = 8, padding: int = 2, scale: int = 1, background=(24, 24, 28)) -> Image.Image:
    """Tile images into one picture, ``nrow`` per row, ``padding`` pixels apart.

    ``scale`` enlarges every pixel (nearest neighbour) so that 64x64 icons can be looked at.
    """
    images = as_uint8_images(x)
    n, h, w, _ = images.shape
    if n == 0:
        raise ValueError("no images to put in a grid")
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = np.empty((rows * (h + padding) + padding, cols * (w + padding) + padding, 3), np.uint8)
    grid[...] = background
    for i in range(n):
        r, c = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top:top + h, left:left + w] = images[i, :, :, :3]
    picture = Image.fromarray(grid)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    return picture


def save_grid(x, path, nrow: int = 8, padding: int = 2, scale: int = 1) -> str:
    """Save :func:`image_grid` as a PNG; returns the path."""
    image_grid(x, nrow=nrow, padding=padding, scale=scale).save(path)
    return str(path)


def load_font(size: int):
    """Pillow's built-in font at ``size`` pixels (a bitmap fallback on old Pillow)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def captioned_grid(x, captions, nrow: int = 8, scale: int = 2, caption_height: int = 16,
                   padding: int = 4) -> Image.Image:
    """A grid with a line of text under every image (its index, its score...)."""
    images = as_uint8_images(x)
    if len(captions) != len(images):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    n, h, w, _ = images.shape
    h, w = h * scale, w * scale
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    cell_h = h + caption_height
    picture = Image.new("RGB", (cols * (w + padding) + padding, rows * (cell_h + padding) + padding), (24, 24, 28))
    draw = ImageDraw.Draw(picture)
    font = load_font(max(10, caption_height - 4))
    for i in range(n):
        r, c = divmod(i, cols)
        left, top = padding + c * (w + padding), padding + r * (cell_h + padding)
        tile = Image.fromarray(images[i, :, :, :3])
        if scale > 1:
            tile = tile.resize((w, h), Image.NEAREST)
        picture.paste(tile, (left, top))
        text = str(captions[i])
        text_w = draw.textlength(text, font=font)
        draw.text((left + (w - text_w) / 2, top + h + 1), text, fill=(235, 235, 235), font=font)
    return picture


def save_gif(frames, path, duration_ms: int = 300, last_frame_ms: int = 1500, loop: int = 0) -> str:
    """Save PIL images (or paths of images) as an animated GIF; the last frame lingers."""
    frames = [Image.open(f).convert("RGB") if isinstance(f, (str, os.PathLike)) else f.convert("RGB")
              for f in frames]
    if not frames:
        raise ValueError("no frames for the GIF")
    durations = [duration_ms] * (len(frames) - 1) + [last_frame_ms]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=loop,
                   optimize=False, disposal=1)
    return str(path)


# -- line plots ---------------------------------------------------------------------------------

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round-numbered tick positions covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _format_tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-2:
        return f"{v:.0e}"
    return f"{v:g}"


def line_plot(panels, path, width: int = 900, panel_height: int = 300, title: str | None = None,
              xlabel: str = "step") -> str:
    """Draw one or more stacked line charts to a PNG.

    Args:
        panels: a list of ``(panel title, {series name: (xs, ys)})``; each panel has its own
            y axis and legend; all share the x axis range.
        path: where to save the PNG.
    """
    margin_l, margin_r, margin_t, margin_b = 70, 20, 36 if title else 12, 40
    gap = 30
    height = margin_t + len(panels) * panel_height + (len(panels) - 1) * gap + margin_b
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    font, small = load_font(14), load_font(12)
    if title:
        draw.text((width / 2 - draw.textlength(title, font=load_font(16)) / 2, 8), title, fill="black", font=load_font(16))
    all_x = [float(v) for _, series in panels for xs, _ in series.values() for v in xs]
    x_lo, x_hi = (min(all_x), max(all_x)) if all_x else (0.0, 1.0)
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    plot_w = width - margin_l - margin_r
    for p, (panel_title, series) in enumerate(panels):
        top = margin_t + p * (panel_height + gap)
        bottom = top + panel_height - 24
        ys_all = [float(v) for _, ys in series.values() for v in ys if math.isfinite(float(v))]
        y_lo, y_hi = (min(ys_all), max(ys_all)) if ys_all else (0.0, 1.0)
        if y_hi - y_lo < 1e-9:
            y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
        yticks = _nice_ticks(y_lo, y_hi)
        y_lo, y_hi = min(yticks[0], y_lo), max(yticks[-1], y_hi)

        def to_px(x, y, top=top, bottom=bottom, y_lo=y_lo, y_hi=y_hi):
            return (margin_l + (x - x_lo) / (x_hi - x_lo) * plot_w,
                    bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top - 20))

        draw.text((margin_l, top), panel_title, fill="black", font=font)
        for t in yticks:
            _, py = to_px(x_lo, t)
            draw.line([(margin_l, py), (margin_l + plot_w, py)], fill=(230, 230, 230))
            label = _format_tick(t)
            draw.text((margin_l - 6 - draw.textlength(label, font=small), py - 7), label, fill=(80, 80, 80), font=small)
        draw.rectangle([margin_l, top + 20, margin_l + plot_w, bottom], outline=(120, 120, 120))
        # legend, right-aligned, in the order of the series
        legend_x = margin_l + plot_w - sum(draw.textlength(name, font=small) + 30 for name in series)
        for i, (name, (xs, ys)) in enumerate(series.items()):
            colour = COLOURS[i % len(COLOURS)]
            points = [to_px(float(x), float(y)) for x, y in zip(xs, ys) if math.isfinite(float(y))]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            elif points:
                draw.ellipse([points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2], fill=colour)
            draw.line([(legend_x, top + 8), (legend_x + 16, top + 8)], fill=colour, width=3)
            draw.text((legend_x + 20, top + 1), name, fill="black", font=small)
            legend_x += draw.textlength(name, font=small) + 30
    bottom_axis = margin_t + len(panels) * (panel_height + gap) - gap - 24
    for t in _nice_ticks(x_lo, x_hi, 6):
        if x_lo <= t <= x_hi:
            px = margin_l + (t - x_lo) / (x_hi - x_lo) * plot_w
            label = _format_tick(t)
            draw.text((px - draw.textlength(label, font=small) / 2, bottom_axis + 4), label, fill=(80, 80, 80), font=small)
    draw.text((margin_l + plot_w / 2 - draw.textlength(xlabel, font=font) / 2, height - 22), xlabel, fill="black", font=font)
    picture.save(path)
    return str(path)


# -- tables of images ------------------------------------------------------------------------------


def labelled_grid(rows, row_labels=None, column_labels=None, scale: int = 2, padding: int = 4,
                  label_width: int | None = None):
    """A table of images: ``rows`` uint8 ``(R, C, S, S, 3)``, a label left of each row and above
    each column (either may be None). Returns a PIL image."""
    rows = np.asarray(rows)
    n_rows, n_cols, h, w = rows.shape[:4]
    h, w = h * scale, w * scale
    font = load_font(12)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    if label_width is None:
        widths = [probe.textlength(str(s), font=font) for s in row_labels or []]
        label_width = int(max(widths) + 10) if widths else 0
    top = 18 if column_labels else 0
    size = (label_width + n_cols * (w + padding) + padding, top + n_rows * (h + padding) + padding)
    picture = Image.new("RGB", size, (24, 24, 28))
    draw = ImageDraw.Draw(picture)
    for c, text in enumerate(column_labels or []):
        text = str(text)
        left = label_width + padding + c * (w + padding)
        draw.text((left + (w - draw.textlength(text, font=font)) / 2, 3), text, fill=(235, 235, 235), font=font)
    for r in range(n_rows):
        y = top + padding + r * (h + padding)
        if row_labels:
            draw.text((4, y + h / 2 - 7), str(row_labels[r]), fill=(235, 235, 235), font=font)
        for c in range(n_cols):
            tile = Image.fromarray(rows[r, c])
            picture.paste(tile.resize((w, h), Image.NEAREST) if scale > 1 else tile,
                          (label_width + padding + c * (w + padding), y))
    return picture


def contact_sheet(images: np.ndarray, captions=None, columns: int = 16, scale: int = 1, gap: int = 2,
                  title: str | None = None, background=(255, 255, 255)) -> Image.Image:
    """Tile ``images`` ((N, H, W, 3) uint8) in rows of ``columns``, each enlarged ``scale`` times
    (nearest neighbour, so pixels stay visible), with optional ``captions`` under the tiles and a
    ``title`` line on top. Returns an RGB ``PIL.Image``."""
    n, h, w, _ = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    th, tw = h * scale, w * scale
    cap_h = 11 if captions is not None else 0
    title_h = 16 if title else 0
    sheet = Image.new("RGB", (columns * (tw + gap) + gap, title_h + rows * (th + cap_h + gap) + gap), background)
    draw = ImageDraw.Draw(sheet)
    font = load_font(9)
    if title:
        draw.text((gap + 2, 2), title, fill=(40, 40, 40), font=load_font(11))
    for k in range(n):
        r, c = divmod(k, columns)
        x, y = gap + c * (tw + gap), title_h + gap + r * (th + cap_h + gap)
        tile = Image.fromarray(images[k])
        if scale != 1:
            tile = tile.resize((tw, th), Image.NEAREST)
        sheet.paste(tile, (x, y))
        if captions is not None:
            text = str(captions[k])
            while len(text) > 1 and draw.textlength(text, font=font) > tw:
                text = text[:-1]
            draw.text((x + (tw - draw.textlength(text, font=font)) / 2, y + th), text, fill=(60, 60, 60), font=font)
    return sheet


# -- the measurements' charts -------------------------------------------------------------------------


def attribute_chart(shares: dict, vocab: dict, path, title: str = "attributes: real vs generated") -> str:
    """A grouped bar chart, one panel per attribute: the share of each class among the real and
    the generated idols. ``shares``: ``{series name: {attribute: (K,) shares}}``. Saves a PNG."""
    attributes = list(vocab)
    series = list(shares)
    panel_h, margin_l, width = 190, 50, 960
    picture = Image.new("RGB", (width, 40 + panel_h * len(attributes)), "white")
    draw = ImageDraw.Draw(picture)
    font, small = load_font(14), load_font(11)
    draw.text((width / 2 - draw.textlength(title, font=load_font(16)) / 2, 8), title, fill="black", font=load_font(16))
    legend_x = width - 20 - sum(draw.textlength(s, font=small) + 34 for s in series)
    for i, name in enumerate(series):
        draw.rectangle([legend_x, 12, legend_x + 14, 24], fill=COLOURS[i % len(COLOURS)])
        draw.text((legend_x + 18, 11), name, fill="black", font=small)
        legend_x += draw.textlength(name, font=small) + 34
    for p, attribute in enumerate(attributes):
        top = 40 + p * panel_h
        bottom = top + panel_h - 40
        names = vocab[attribute]
        highest = max(max(float(np.max(shares[s][attribute])) for s in series), 1e-9)
        draw.text((margin_l, top), attribute.replace("_", " "), fill="black", font=font)
        group_w = (width - margin_l - 20) / len(names)
        bar_w = group_w * 0.8 / len(series)
        draw.line([(margin_l, bottom), (width - 20, bottom)], fill=(120, 120, 120))
        for k, label in enumerate(names):
            left = margin_l + k * group_w + group_w * 0.1
            for i, s in enumerate(series):
                value = float(shares[s][attribute][k])
                h = value / highest * (bottom - top - 24)
                draw.rectangle([left + i * bar_w, bottom - h, left + (i + 1) * bar_w - 1, bottom],
                               fill=COLOURS[i % len(COLOURS)])
            text_w = draw.textlength(label, font=small)
            draw.text((left + group_w * 0.4 - text_w / 2, bottom + 3), label, fill=(60, 60, 60), font=small)
        draw.text((6, top + 18), f"{highest:.0%}", fill=(90, 90, 90), font=small)
    picture.save(path)
    return str(path)


def nearest_pairs_picture(sample_images, real_images, distances, indices, path, count: int = 16,
                          threshold: float | None = None) -> str:
    """The ``count`` samples closest to a training image, each followed by that real image, with
    the distance under it (``*`` marks a near-copy below ``threshold``). Saves a PNG."""
    order = np.argsort(distances, kind="stable")[:count]  # closest first
    tiles, captions = [], []
    for i in order:
        tiles += [sample_images[i], real_images[indices[i]]]
        mark = "*" if threshold is not None and distances[i] < threshold else ""
        captions += [f"sample {i}", f"real {indices[i]} {distances[i]:.3f}{mark}"]
    captioned_grid(np.stack(tiles), captions, nrow=8, scale=2, caption_height=14).save(path)
    return str(path)
