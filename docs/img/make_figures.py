"""Draw the docs' figures from minigan itself.

    python docs/img/make_figures.py                  # every figure, into docs/img/
    python docs/img/make_figures.py --only im2col    # one figure
    python docs/img/make_figures.py --list           # the figure names

Each figure is one function below that takes the output folder and returns the paths it wrote.
The pictures are deterministic (fixed seeds, no timing), and ``tests/test_docs.py`` redraws
each one and compares it with the committed file. The idol icons for the DiffAugment figure
come from the built-in set (the first few characters, drawn once and cached in the usual cache
folder, see ``minigan.data.cache_dir``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # run from a checkout without installing

from minigan.viz import load_font  # noqa: E402 (after the path is set)

INK = (40, 40, 48)
GRID = (150, 150, 160)
PATCH_COLOURS = [(231, 76, 60), (52, 152, 219), (39, 174, 96), (243, 156, 18)]


def _centred(draw, xy, text, font, fill=INK):
    x, y = xy
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text((x - (right - left) / 2 - left, y - (bottom - top) / 2 - top), text, font=font, fill=fill)


def _tint(colour, t=0.75):
    return tuple(int(round(c + (255 - c) * t)) for c in colour)


def _save(image: Image.Image, path: Path, colors: int = 0) -> Path:
    if colors:
        image = image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    image.save(path, optimize=True)
    return path


# ---------------------------------------------------------------------------------------------


def im2col(out: Path) -> list[Path]:
    """im2col.png: a 4x4 input, a 3x3 kernel, the 9x4 column matrix and the one GEMM."""
    from minigan.kernels.reference import im2col as gather

    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)  # (N, C, H, W)
    cols = gather(x, 3, 3, 1, 0)  # (9, 4): one column per output pixel
    cell, pad = 38, 28
    font, small, title = load_font(15), load_font(13), load_font(16)
    width, height = 980, 470
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)

    # the input, with the four 3x3 patches outlined in their colours
    x0, y0 = pad, 90
    _centred(d, (x0 + 2 * cell, 40), "input x  (1 x 1 x 4 x 4)", title)
    patches = [(oh, ow) for oh in range(2) for ow in range(2)]
    for (oh, ow), colour in zip(patches, PATCH_COLOURS):
        inset = 3 + 3 * (2 * oh + ow)
        d.rectangle([x0 + ow * cell + inset, y0 + oh * cell + inset,
                     x0 + (ow + 3) * cell - inset, y0 + (oh + 3) * cell - inset], outline=colour, width=3)
    for i in range(4):
        for j in range(4):
            d.rectangle([x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell, y0 + (i + 1) * cell], outline=GRID)
            _centred(d, (x0 + j * cell + cell / 2, y0 + i * cell + cell / 2), f"{int(x[0, 0, i, j])}", font)
    _centred(d, (x0 + 2 * cell, y0 + 4 * cell + 24), "patch (oh, ow) starts at", small)
    _centred(d, (x0 + 2 * cell, y0 + 4 * cell + 42), "row oh*stride, column ow*stride", small)

    # the kernel
    kx, ky = 250, 110
    _centred(d, (kx + 1.5 * cell, 40), "kernel W  (1 x 1 x 3 x 3)", title)
    for i in range(3):
        for j in range(3):
            d.rectangle([kx + j * cell, ky + i * cell, kx + (j + 1) * cell, ky + (i + 1) * cell],
                        fill=(245, 245, 250), outline=GRID)
            _centred(d, (kx + j * cell + cell / 2, ky + i * cell + cell / 2), f"w{i}{j}", small)
    _centred(d, (kx + 1.5 * cell, ky + 3 * cell + 24), "flattened: one row", small)
    _centred(d, (kx + 1.5 * cell, ky + 3 * cell + 42), "W2 = W.reshape(F, C*KH*KW)", small)

    # the column matrix
    cx, cy = 520, 90
    col_w = 46
    _centred(d, (cx + 2 * col_w, 40), "cols = im2col(x)  (9 x 4)", title)
    for p, colour in enumerate(PATCH_COLOURS):
        d.rectangle([cx + p * col_w, cy, cx + (p + 1) * col_w, cy + 9 * cell], fill=_tint(colour))
        oh, ow = patches[p]
        _centred(d, (cx + p * col_w + col_w / 2, cy - 14), f"({oh},{ow})", small, fill=colour)
    for r in range(9):
        _centred(d, (cx - 26, cy + r * cell + cell / 2), f"{r // 3}{r % 3}", small, fill=(120, 120, 130))
        for p in range(4):
            d.rectangle([cx + p * col_w, cy + r * cell, cx + (p + 1) * col_w, cy + (r + 1) * cell], outline=GRID)
            _centred(d, (cx + p * col_w + col_w / 2, cy + r * cell + cell / 2), f"{int(cols[r, p])}", font)
    _centred(d, (cx - 26, cy - 14), "(i,j)", small, fill=(120, 120, 130))

    # the product
    px = 760
    lines = ["Y = W2 @ cols", "(F x 9) @ (9 x 4) = (F x 4)", "",
             "column p of cols is the", "patch under output pixel p;", "row (i, j) holds what kernel",
             "tap (i, j) sees, for every", "output pixel at once.", "",
             "Y reshaped: (N, F, OH, OW)", "= (1, F, 2, 2)"]
    for k, line in enumerate(lines):
        d.text((px, cy + 10 + k * 22), line, font=font if k < 2 else small, fill=INK)
    return [_save(img, out / "im2col.png", colors=64)]


def checkerboard(out: Path) -> list[Path]:
    """checkerboard.png: how often each output pixel is written by stacked transposed
    convolutions with all-ones weights, kernel 3 vs 4, stride 2."""
    from minigan.nn import ConvTranspose2d

    rows = [(3, "kernel 3, stride 2: uneven overlap"), (4, "kernel 4, stride 2: even overlap")]
    tile, gap, left, top = 200, 24, 20, 40
    font, small = load_font(15), load_font(13)
    width = left + 3 * (tile + gap)
    height = top + len(rows) * (tile + 70)
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    for r, (k, label) in enumerate(rows):
        y = top + r * (tile + 70)
        d.text((left, y - 28), label, font=font, fill=INK)
        h = np.ones((1, 1, 4, 4))  # a constant 4x4 input
        for layers in range(1, 4):
            up = ConvTranspose2d(1, 1, k, stride=2, padding=1, bias=False, dtype=np.float64)
            up.params["W"][...] = 1.0
            h = up.forward(h)  # (1, 1, S, S)
            m = h[0, 0]
            grey = (255 * (m - m.min()) / max(m.max() - m.min(), 1e-12)).astype(np.uint8)
            picture = Image.fromarray(grey).resize((tile, tile), Image.NEAREST)
            x = left + (layers - 1) * (tile + gap)
            img.paste(picture.convert("RGB"), (x, y))
            q = m.shape[0] // 4
            centre = m[q:-q, q:-q]  # the middle half, away from the borders
            d.text((x, y + tile + 6),
                   f"{layers} layer{'s' if layers > 1 else ''}: {m.shape[0]}x{m.shape[1]}, "
                   f"centre {centre.min():g}..{centre.max():g}", font=small, fill=INK)
    return [_save(img, out / "checkerboard.png", colors=64)]


def diffaugment(out: Path) -> list[Path]:
    """diffaugment.png: six idols, and what DiffAugment's three operations make of them."""
    from minigan.data import load_idols, to_images, to_model_input
    from minigan.nn import DiffAugment

    ds = load_idols(seed=0, characters=range(6), images_per_character=1, workers=1)
    x = to_model_input(ds.images)  # (6, 3, 64, 64) float32 in [-1, 1]
    rows = [("real", x)]
    for k, policy in enumerate(["color", "translation", "cutout", "color,translation,cutout"]):
        rows.append((policy.replace(",", " + "), DiffAugment(policy, rng=10 + k).forward(x)))
    scale, gap, label_w, top = 2, 6, 230, 10
    size = 64 * scale
    font = load_font(15)
    img = Image.new("RGB", (label_w + len(x) * (size + gap), top + len(rows) * (size + gap)), "white")
    d = ImageDraw.Draw(img)
    for r, (label, batch) in enumerate(rows):
        y = top + r * (size + gap)
        d.text((10, y + size / 2 - 9), label, font=font, fill=INK)
        for c, icon in enumerate(to_images(batch)):
            img.paste(Image.fromarray(icon).resize((size, size), Image.NEAREST), (label_w + c * (size + gap), y))
    return [_save(img, out / "diffaugment.png", colors=256)]


def gradcheck_h(out: Path) -> list[Path]:
    """gradcheck_h.png: the worst relative error of a central difference against the step h,
    for tanh in float64 and float32."""
    from minigan.gradcheck import numerical_gradient, relative_error
    from minigan.viz import line_plot

    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal(20), rng.standard_normal(20)
    exact = (1 - np.tanh(x) ** 2) * dy
    exponents = np.arange(-12.0, -0.5, 0.5)
    series = {}
    for dtype in (np.float64, np.float32):
        errors = []
        for e in exponents:
            xx = x.astype(dtype)
            loss = lambda: float(np.sum(np.tanh(xx) * dy.astype(dtype), dtype=dtype))  # noqa: E731
            numerical = numerical_gradient(loss, xx, h=dtype(10.0 ** e))
            errors.append(np.log10(max(float(relative_error(exact, numerical).max()), 1e-16)))
        series[np.dtype(dtype).name] = (exponents, errors)
    path = out / "gradcheck_h.png"
    line_plot([("log10 of the worst relative error, d/dx sum(tanh(x) * dy)", series)], path,
              width=760, panel_height=320, xlabel="log10 of the step h")
    return [path]


def dirac_gan(out: Path) -> list[Path]:
    """dirac_gan.png: the Dirac-GAN toy game under Adam with beta1 = 0, 0.5, 0.9."""
    from minigan.viz import line_plot

    series = {}
    for beta1 in (0.9, 0.5, 0.0):
        distance = dirac_gan_distances(beta1)
        series[f"beta1 = {beta1:g}"] = (np.arange(1, len(distance) + 1), distance)
    path = out / "dirac_gan.png"
    line_plot([("distance from the equilibrium (theta, psi) = (0, 0)", series)], path, width=760,
              panel_height=300, xlabel="step")
    return [path]


def dirac_gan_distances(beta1: float, steps: int = 2000, lr: float = 0.01) -> np.ndarray:
    """The Dirac GAN (Mescheder et al. 2018): real data is the point 0, the generator outputs
    the point theta, the discriminator is D(x) = sigmoid(psi * x). Alternating Adam steps
    (D first, then G with the non-saturating loss) from (theta, psi) = (1, 0); returns the
    distance from (0, 0) after every step."""
    from minigan import nn, optim

    class Scalar(nn.Layer):  # a "model" with one parameter, so that optim.Adam can drive it
        def __init__(self, value):
            super().__init__()
            self.add_param("w", np.array([value]))

    G, D = Scalar(1.0), Scalar(0.0)
    opt_g = optim.Adam(G, lr=lr, betas=(beta1, 0.999))
    opt_d = optim.Adam(D, lr=lr, betas=(beta1, 0.999))
    sigmoid = nn.sigmoid
    distances = np.empty(steps)
    for t in range(steps):
        theta, psi = G.params["w"], D.params["w"]
        # D minimises -log(1 - sigmoid(psi * theta))  (the real point 0 adds a constant)
        D.grads["w"][...] = sigmoid(psi * theta) * theta
        opt_d.step()
        # G minimises -log sigmoid(psi * theta)
        G.grads["w"][...] = -(1 - sigmoid(psi * theta)) * psi
        opt_g.step()
        distances[t] = np.hypot(theta[0], psi[0])
    return distances


FIGURES = {
    "im2col": im2col,
    "checkerboard": checkerboard,
    "diffaugment": diffaugment,
    "gradcheck_h": gradcheck_h,
    "dirac_gan": dirac_gan,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Draw the figures of minigan's docs.")
    parser.add_argument("--only", choices=sorted(FIGURES), action="append",
                        help="draw only this figure (may be repeated)")
    parser.add_argument("--out", default=str(HERE), help="output folder (default: docs/img)")
    parser.add_argument("--list", action="store_true", help="list the figure names and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(FIGURES))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.only or FIGURES:
        for path in FIGURES[name](out):
            print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
