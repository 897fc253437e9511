"""The built-in idol set: 203 procedurally drawn anime idols, about 22 icons each.

The blog trained on 4,500 icons of a game's idols, which cannot be shipped. This module draws a
stand-in cast with Pillow: head-and-shoulders icons at 4x size (256x256) downsampled with
LANCZOS to 64x64. Every character has a name and fixed attributes (hair colour and style, eye
colour, accessory, skin tone, costume colour and cut, bangs); every icon varies the expression,
a small head tilt, zoom and offset, and the background::

    ds = load_idols(seed=0)     # 203 x 22 = 4,466 icons, drawn once, then read from the cache
    ds.images                   # (4466, 64, 64, 3) uint8
    ds.vocab["hair_color"][ds.labels["hair_color"][0]]   # e.g. "blond"

Determinism: the cast (who has which attributes) comes from ``seed`` alone, and every icon from
its own generator seeded by ``(seed, character, image)``, so the same seed gives the same bytes
whatever the number of worker processes and whichever subset is drawn. The result is cached as
``idols-v<IDOLS_VERSION>-seed<seed>-<characters>x<images>.npz``; bump :data:`IDOLS_VERSION`
whenever the drawing changes so that old caches are not reused.

Drawing coordinates: a 256x256 "design" frame, y down, the face centred on x = 128. The head
(hair, face, eyes, accessories) is drawn through a transform that tilts it about the chin; the
whole figure through one that zooms and offsets it; the background is drawn untransformed.

The module is long (about 900 lines) but one idea, the drawing of an idol: the palettes and the
cast first, then the pen, then hair, face, body and accessories in the order they are painted,
then drawing the whole set and caching it. Splitting it would scatter one picture over files.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing as mp
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .dataset import ImageDataset, cache_dir, load_dataset_npz, save_dataset_npz
from ..errors import DatasetError, MiniganError

__all__ = [
    "IDOLS_VERSION",
    "N_CHARACTERS",
    "IMAGES_PER_CHARACTER",
    "ATTRIBUTES",
    "VOCAB",
    "Character",
    "make_cast",
    "draw_idol",
    "generate_idols",
    "load_idols",
    "idols_cache_path",
]

#: Bump whenever the drawing changes: it is part of the cache file name.
IDOLS_VERSION = 3
N_CHARACTERS = 203
IMAGES_PER_CHARACTER = 22
SIZE = 64  # output icons are SIZE x SIZE
SCALE = 4  # drawn at SCALE * SIZE, then downsampled with LANCZOS
CANVAS = SIZE * SCALE  # 256: the design frame is drawn at this size

# ---------------------------------------------------------------------------------------------
# Vocabularies and palettes. The order of each list is the label index.

HAIR_COLORS = {  # name: (base, shade)  -- highlight and outline are derived from these
    "black": ((52, 50, 70), (28, 27, 42)),
    "brown": ((128, 78, 48), (88, 50, 32)),
    "blond": ((250, 222, 118), (222, 170, 72)),
    "orange": ((244, 140, 56), (204, 92, 36)),
    "red": ((206, 44, 56), (146, 24, 42)),
    "pink": ((248, 156, 196), (222, 106, 156)),
    "purple": ((148, 96, 204), (100, 60, 156)),
    "blue": ((52, 92, 200), (32, 56, 146)),
    "aqua": ((116, 212, 228), (66, 160, 190)),
    "silver": ((218, 222, 236), (164, 170, 196)),
}
#: How many of the 203 characters get each hair colour (blond and black on 26 each).
HAIR_COLOR_COUNTS = {"black": 26, "brown": 24, "blond": 26, "orange": 16, "red": 17,
                     "pink": 22, "purple": 18, "blue": 18, "aqua": 18, "silver": 18}

HAIR_STYLES = ["short", "bob", "long", "twin tails", "ponytail", "side tail", "buns", "hime cut"]
BANGS = ["spiky", "blunt", "parted", "swept"]

EYE_COLORS = {
    "blue": (56, 110, 226),
    "green": (52, 164, 96),
    "amber": (196, 122, 40),
    "red": (214, 48, 64),
    "purple": (146, 82, 212),
    "teal": (30, 170, 180),
    "pink": (236, 96, 160),
}

ACCESSORIES = ["none", "ribbon", "hair clip", "headband", "hat", "flower"]
ACCESSORY_WEIGHTS = [0.28, 0.2, 0.13, 0.13, 0.12, 0.14]

SKIN_TONES = {  # name: (skin, shadow)
    "fair": ((255, 236, 226), (244, 200, 192)),
    "light": ((252, 222, 198), (236, 182, 160)),
    "warm": ((238, 198, 160), (214, 158, 124)),
    "tan": ((200, 146, 104), (164, 108, 76)),
}
SKIN_WEIGHTS = [0.34, 0.34, 0.2, 0.12]

COSTUME_COLORS = {
    "red": (214, 52, 70),
    "navy": (44, 56, 112),
    "pink": (246, 146, 184),
    "sky blue": (120, 182, 240),
    "yellow": (250, 206, 70),
    "green": (70, 160, 110),
    "purple": (134, 90, 188),
    "white": (246, 246, 250),
    "black": (42, 40, 48),
}
COSTUME_STYLES = ["sailor", "blazer", "frill dress", "stage jacket"]

EXPRESSIONS = ["smile", "open smile", "wink", "neutral", "closed-eye smile", "surprised"]
EXPRESSION_WEIGHTS = [0.28, 0.26, 0.12, 0.14, 0.1, 0.1]

ACCENTS = [(232, 50, 80), (250, 250, 252), (255, 206, 60), (80, 140, 240), (250, 130, 180),
           (150, 90, 210), (60, 180, 140), (250, 140, 60)]

BACKGROUNDS = [(255, 214, 226), (214, 232, 255), (222, 248, 220), (255, 244, 200), (236, 222, 255),
               (206, 244, 244), (255, 226, 206), (238, 238, 244), (250, 210, 240), (200, 222, 246)]
PATTERNS = ["plain", "dots", "stripes", "sparkles", "bokeh"]

#: The label names, in the order the dataset stores them.
ATTRIBUTES = ["character", "hair_color", "hair_style", "eye_color", "accessory", "skin_tone",
              "costume_color", "costume_style", "bangs", "expression"]

VOCAB = {
    "hair_color": list(HAIR_COLORS),
    "hair_style": list(HAIR_STYLES),
    "eye_color": list(EYE_COLORS),
    "accessory": list(ACCESSORIES),
    "skin_tone": list(SKIN_TONES),
    "costume_color": list(COSTUME_COLORS),
    "costume_style": list(COSTUME_STYLES),
    "bangs": list(BANGS),
    "expression": list(EXPRESSIONS),
}

#: Japanese-style given names; the cast takes 203 of them in a seeded order.
GIVEN_NAMES = """
Aoi Akane Akari Akiko Asuka Ayaka Ayame Ayane Ayumi Azusa Chiaki Chieri Chika Chinatsu Chisato
Chitose Chiyo Emi Ema Eri Erika Fumika Fuka Hana Hanako Haruka Haruna Haruhi Hazuki Hikari
Hikaru Himari Hina Hinata Hinako Hiromi Hitomi Honoka Hotaru Ibuki Ichika Iori Izumi Kaede
Kahoko Kana Kanade Kanako Kanon Kaori Karen Karin Kasumi Kayo Kazuha Keiko Kiko Kirara Kiyomi
Koharu Kokoro Kotoha Kotone Kozue Kurumi Kyoko Madoka Maho Mai Maika Makoto Mana Manami Mao
Mari Marika Mariko Masami Mayu Mayumi Megumi Mei Miharu Miho Miki Miku Minami Minori Mio
Misaki Misora Mitsuki Miu Miyabi Miyu Miyuki Mizuki Moe Momo Momoka Motoko Nagisa Nana
Nanami Nao Naoko Natsuki Natsumi Nene Nodoka Noa Nonoka Rei Reika Rena Rika Riko Rin Rina
Rinka Rio Risa Ritsuko Rumi Runa Ruri Sachiko Saki Sakura Sana Sanae Saori Sara Satomi
Sayaka Sayuri Seira Shiho Shiori Shizuka Shizuku Sora Subaru Sumire Suzu Suzuka Takane
Tamaki Tomoe Tomoka Tomomi Tsubasa Tsugumi Tsukasa Tsumugi Umi Wakana Yayoi Yoko Yoshino
Yui Yuika Yuina Yuki Yukiko Yuko Yuma Yumi Yumiko Yuna Yuri Yurika Yuzu Yuzuha Airi Aina
Akemi Amane Anzu Arisa Asami Chiharu Chiyuki Fuyuko Haru Hinami Homura Ikue Junko Kaho
Kiriko Koyuki Kumiko Mahiru Mako Mamiko Michiru Midori Mifuyu Minato Mirai Miria Nozomi
Otoha Ran Reina Remi Sae Sanae Serika Shino Sonoko Touka Uzuki Wakaba Yoru Yuuka Yuzuki
Akiho Hanami Kokona Kaguya Sakuya
""".split()


def _unique(seq):
    seen = set()
    return [s for s in seq if not (s in seen or seen.add(s))]


GIVEN_NAMES = _unique(GIVEN_NAMES)


# ---------------------------------------------------------------------------------------------
# Colours


def _mix(a, b, t):
    """Blend colours ``a`` and ``b`` (RGB tuples): ``(1 - t) * a + t * b``, rounded."""
    return tuple(int(round((1 - t) * x + t * y)) for x, y in zip(a, b))


def _scale(c, f):
    return tuple(int(max(0, min(255, round(x * f)))) for x in c)


def _jitter(c, rng, amount):
    """Colour ``c`` with its brightness and each channel nudged by up to ``amount`` (0..1)."""
    f = 1.0 + rng.uniform(-amount, amount)
    return tuple(int(max(0, min(255, round(x * f + rng.uniform(-8, 8) * amount * 4)))) for x in c)


# ---------------------------------------------------------------------------------------------
# The cast


@dataclass(frozen=True)
class Character:
    """One idol: a name, label indices into :data:`VOCAB`, and the colours drawn with."""

    index: int
    name: str
    hair_color: int
    hair_style: int
    eye_color: int
    accessory: int
    skin_tone: int
    costume_color: int
    costume_style: int
    bangs: int
    side: int  # +1 or -1: the side of a side tail, a ribbon, a clip, a wink
    hair: tuple  # base, shade, highlight, outline RGB
    eye: tuple  # iris RGB
    skin: tuple  # skin, shadow, line RGB
    costume: tuple  # costume RGB
    accent: tuple  # accessory / ribbon RGB
    hair_length: float  # 0..1, how far long styles fall
    face_width: float  # small per-character variation of the face shape (0.96..1.04)
    eye_size: float  # (0.94..1.08)
    ahoge: bool  # a single lock sticking up from the crown

    def labels(self) -> dict:
        return {"hair_color": self.hair_color, "hair_style": self.hair_style, "eye_color": self.eye_color,
                "accessory": self.accessory, "skin_tone": self.skin_tone, "costume_color": self.costume_color,
                "costume_style": self.costume_style, "bangs": self.bangs}


def _balanced(rng, n, counts_or_weights):
    """``n`` label indices with the given counts (ints summing to n) or weights, in random order."""
    values = np.asarray(counts_or_weights, dtype=float)
    if values.sum() == n and np.all(values == np.round(values)):
        counts = values.astype(int)
    else:  # largest-remainder rounding of n * weights
        raw = n * values / values.sum()
        counts = np.floor(raw).astype(int)
        for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
            counts[i] += 1
    labels = np.repeat(np.arange(len(counts)), counts)  # (n,)
    return rng.permutation(labels)


def hair_palette(base, shade) -> tuple:
    """A character's four hair colours from the base and shade of its hair colour:
    ``(base, shade, highlight, outline)``, as :class:`Character` keeps them."""
    return base, shade, _mix(base, (255, 255, 255), 0.55), _scale(shade, 0.55)


def make_cast(seed: int = 0, n_characters: int = N_CHARACTERS) -> list[Character]:
    """The characters of the idol set for ``seed``: names and attributes, balanced per attribute.

    Hair colours follow :data:`HAIR_COLOR_COUNTS` (scaled when ``n_characters`` differs from
    203); the other attributes are spread evenly (or by their weights). Each attribute is
    shuffled independently, so no attribute is designed to predict another (with ~26 characters
    per hair colour, chance still leaves some combinations out, e.g. no blond hime cut at seed 0).
    """
    if int(seed) < 0:
        raise DatasetError(f"the idol set's seed must be a non-negative integer, got {seed}")
    if n_characters > len(GIVEN_NAMES):
        raise ValueError(f"at most {len(GIVEN_NAMES)} characters (one per name), got {n_characters}")
    rng = np.random.default_rng([int(seed), 0])
    names = [GIVEN_NAMES[i] for i in rng.permutation(len(GIVEN_NAMES))[:n_characters]]
    hair_counts = [HAIR_COLOR_COUNTS[c] for c in HAIR_COLORS]
    hair_color = _balanced(rng, n_characters, hair_counts)
    hair_style = _balanced(rng, n_characters, [1] * len(HAIR_STYLES))
    eye_color = _balanced(rng, n_characters, [1] * len(EYE_COLORS))
    accessory = _balanced(rng, n_characters, ACCESSORY_WEIGHTS)
    skin_tone = _balanced(rng, n_characters, SKIN_WEIGHTS)
    costume_color = _balanced(rng, n_characters, [1] * len(COSTUME_COLORS))
    costume_style = _balanced(rng, n_characters, [1] * len(COSTUME_STYLES))
    bangs = _balanced(rng, n_characters, [1] * len(BANGS))
    cast = []
    for i in range(n_characters):
        crng = np.random.default_rng([int(seed), 1, i])  # per-character colour details
        base, shade = HAIR_COLORS[VOCAB["hair_color"][hair_color[i]]]
        f = crng.uniform(-0.05, 0.05)
        base, shade = _scale(base, 1 + f), _scale(shade, 1 + f)
        eye = _jitter(EYE_COLORS[VOCAB["eye_color"][eye_color[i]]], crng, 0.06)
        skin, skin_shadow = SKIN_TONES[VOCAB["skin_tone"][skin_tone[i]]]
        skin_line = _scale(skin_shadow, 0.62)
        costume = _jitter(COSTUME_COLORS[VOCAB["costume_color"][costume_color[i]]], crng, 0.04)
        accents = [a for a in ACCENTS if _distance(a, base) > 120 and _distance(a, costume) > 60] or ACCENTS
        accent = accents[int(crng.integers(len(accents)))]
        cast.append(Character(
            index=i, name=names[i], hair_color=int(hair_color[i]), hair_style=int(hair_style[i]),
            eye_color=int(eye_color[i]), accessory=int(accessory[i]), skin_tone=int(skin_tone[i]),
            costume_color=int(costume_color[i]), costume_style=int(costume_style[i]), bangs=int(bangs[i]),
            side=int(crng.choice([-1, 1])), hair=hair_palette(base, shade), eye=eye,
            skin=(skin, skin_shadow, skin_line), costume=costume, accent=accent,
            hair_length=float(crng.uniform(0, 1)), face_width=float(crng.uniform(0.96, 1.04)),
            eye_size=float(crng.uniform(0.94, 1.08)), ahoge=bool(crng.random() < 0.3)))
    return cast


def _distance(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


# ---------------------------------------------------------------------------------------------
# Geometry: points are (x, y) in the design frame; shapes are lists of points


def _arc(cx, cy, rx, ry, a0, a1, n=24):
    """Points on an ellipse from angle ``a0`` to ``a1`` (degrees; 0 = +x, 90 = +y i.e. down)."""
    t = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)  # (n, 2)


def _bezier(p0, p1, p2, p3, n=14):
    """Points on the cubic Bezier curve p0 -> p3 with control points p1, p2."""
    t = np.linspace(0.0, 1.0, n)[:, None]  # (n, 1)
    p0, p1, p2, p3 = (np.asarray(p, dtype=float) for p in (p0, p1, p2, p3))
    return ((1 - t) ** 3) * p0 + 3 * ((1 - t) ** 2) * t * p1 + 3 * (1 - t) * t * t * p2 + t ** 3 * p3  # (n, 2)


def _chain(*parts):
    return np.concatenate([np.asarray(p, dtype=float).reshape(-1, 2) for p in parts], axis=0)


def _mirror(points, cx=128.0):
    """Points reflected about the vertical line x = cx."""
    p = np.array(points, dtype=float)
    p[:, 0] = 2 * cx - p[:, 0]
    return p


def _affine(scale=1.0, angle_deg=0.0, center=(128.0, 128.0), shift=(0.0, 0.0)):
    """2x3 matrix of: rotate by ``angle_deg`` (clockwise on screen, y down) and scale about
    ``center``, then shift."""
    a = math.radians(angle_deg)
    c, s = math.cos(a) * scale, math.sin(a) * scale
    cx, cy = center
    return np.array([[c, -s, cx - c * cx + s * cy + shift[0]],
                     [s, c, cy - s * cx - c * cy + shift[1]]])


class _Pen:
    """Draws shapes given in design coordinates through an affine map (2x3 matrix)."""

    def __init__(self, draw: ImageDraw.ImageDraw, matrix: np.ndarray, width_scale: float):
        self.draw = draw
        self.m = matrix
        self.ws = width_scale

    def then(self, matrix: np.ndarray) -> "_Pen":
        """A pen that applies ``matrix`` first, then this pen's map."""
        m3 = np.vstack([self.m, [0, 0, 1]]) @ np.vstack([matrix, [0, 0, 1]])
        return _Pen(self.draw, m3[:2], self.ws)

    def _xy(self, points):
        p = np.asarray(points, dtype=float).reshape(-1, 2)  # (n, 2)
        (a, b, c), (d, e, f) = self.m
        out = np.empty_like(p)  # (n, 2); written out rather than p @ m.T: no BLAS in the workers
        out[:, 0] = a * p[:, 0] + b * p[:, 1] + c
        out[:, 1] = d * p[:, 0] + e * p[:, 1] + f
        return out.ravel().tolist()

    def poly(self, points, fill=None, outline=None, width=3):
        if outline is None:
            self.draw.polygon(self._xy(points), fill=fill)
        else:
            self.draw.polygon(self._xy(points), fill=fill, outline=outline, width=max(1, round(width * self.ws)))

    def ellipse(self, cx, cy, rx, ry, fill=None, outline=None, width=3, n=36):
        self.poly(_arc(cx, cy, rx, ry, 0, 360, n)[:-1], fill, outline, width)

    def line(self, points, fill, width=3):
        self.draw.line(self._xy(points), fill=fill, width=max(1, round(width * self.ws)), joint="curve")


# ---------------------------------------------------------------------------------------------
# Drawing one icon

HEAD = (128.0, 100.0)  # centre of the skull
BASE_ZOOM = 1.1  # the figure is drawn this much larger about FRAME_CENTER (then per-icon zoom)
FRAME_CENTER = (128.0, 116.0)
BODY_RAISE = -6.0  # the body is drawn this much higher than its coordinates say (a shorter neck)
CHIN = (128.0, 174.0)
EYE_Y = 122.0
EYE_DX = 27.0
LASH = (46, 30, 36)
MOUTH_LINE = (120, 50, 56)


@dataclass(frozen=True)
class Pose:
    """What varies between the icons of one character."""

    expression: int
    tilt: float  # head tilt, degrees
    zoom: float
    shift: tuple  # (dx, dy) in design pixels
    gaze: tuple  # iris offset (dx, dy)
    background: tuple
    background2: tuple
    pattern: int
    pattern_seed: int


def make_pose(seed: int, character: int, image: int) -> Pose:
    """The pose of icon ``image`` of ``character``: drawn from its own seeded generator."""
    rng = np.random.default_rng([int(seed), 2, int(character), int(image)])
    expression = int(rng.choice(len(EXPRESSIONS), p=EXPRESSION_WEIGHTS))
    bg = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    bg2 = _mix(bg, (255, 255, 255), 0.55) if rng.random() < 0.5 else _scale(bg, 0.9)
    return Pose(
        expression=expression,
        tilt=float(rng.uniform(-7, 7)),
        zoom=float(rng.uniform(0.93, 1.07)),
        shift=(float(rng.uniform(-7, 7)), float(rng.uniform(-6, 6))),
        gaze=(float(rng.uniform(-1.5, 1.5)), float(rng.uniform(-1.0, 1.0))),
        background=bg, background2=bg2,
        pattern=int(rng.integers(len(PATTERNS))), pattern_seed=int(rng.integers(2**31)),
    )


def _draw_background(img: Image.Image, draw: ImageDraw.ImageDraw, pose: Pose):
    """Vertical gradient plus a faint pattern, untransformed (it fills the frame)."""
    top, bottom = np.array(pose.background2, float), np.array(pose.background, float)
    t = np.linspace(0, 1, CANVAS)[:, None]  # (256, 1)
    column = (top * (1 - t) + bottom * t).astype(np.uint8)  # (256, 3)
    img.paste(Image.fromarray(np.repeat(column[:, None, :], CANVAS, axis=1)))  # (256, 256, 3)
    rng = np.random.default_rng(pose.pattern_seed)
    faint = _mix(pose.background, (255, 255, 255), 0.6)
    name = PATTERNS[pose.pattern]
    if name == "dots":
        step = rng.choice([32, 40, 48])
        for j, y in enumerate(range(-step, CANVAS + step, step)):
            for x in range(-step, CANVAS + step, step):
                x0 = x + (step // 2 if j % 2 else 0)
                draw.ellipse([x0 - 7, y - 7, x0 + 7, y + 7], fill=faint)
    elif name == "stripes":
        step = int(rng.choice([36, 48]))
        for k in range(-CANVAS, 2 * CANVAS, step):
            draw.polygon([(k, 0), (k + step // 2, 0), (k + step // 2 - CANVAS, CANVAS), (k - CANVAS, CANVAS)], fill=faint)
    elif name == "sparkles":
        for _ in range(int(rng.integers(5, 9))):
            x, y, r = rng.uniform(0, CANVAS), rng.uniform(0, CANVAS), rng.uniform(8, 18)
            w = r * 0.28
            draw.polygon([(x, y - r), (x + w, y - w), (x + r, y), (x + w, y + w), (x, y + r),
                          (x - w, y + w), (x - r, y), (x - w, y - w)], fill=(255, 255, 255))
    elif name == "bokeh":
        for _ in range(int(rng.integers(4, 8))):
            x, y, r = rng.uniform(0, CANVAS), rng.uniform(0, CANVAS), rng.uniform(14, 34)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=faint)


# --- hair ----------------------------------------------------------------------------------


def _tail(anchor, out, length, width, bulge):
    """A hair tail hanging from ``anchor``: a tapering, bulging lock; ``out`` is +1 (right) or
    -1 (left), ``length`` its vertical drop, ``width`` its widest width."""
    ax, ay = anchor
    tip = (ax + out * bulge * 0.5, ay + length)
    outer = _bezier((ax, ay - width * 0.3), (ax + out * (bulge + width), ay + length * 0.15),
                    (ax + out * (bulge + width * 0.6), ay + length * 0.7), tip, 16)
    inner = _bezier(tip, (ax + out * bulge * 0.2, ay + length * 0.6),
                    (ax - out * width * 0.1, ay + length * 0.2), (ax - out * width * 0.35, ay + width * 0.1), 14)
    return _chain(outer, inner)


def _draw_back_hair(pen: _Pen, ch: Character):
    base, shade, highlight, outline = ch.hair
    style = HAIR_STYLES[ch.hair_style]
    hx, hy = HEAD
    if style in ("long", "hime cut"):
        drop = 250 + 40 * ch.hair_length
        wave = 0 if style == "hime cut" else 6
        left = _arc(hx, hy + 4, 78, 76, 180, 270, 14)
        right_top = _arc(hx, hy + 4, 78, 76, 270, 360, 14)
        right_side = _bezier((hx + 78, hy + 4), (hx + 84 + wave, hy + 70), (hx + 92 - wave, drop - 100), (hx + 96, drop), 14)
        bottom = [(hx + 40, drop + 6), (hx - 40, drop + 6)]
        left_side = _bezier((hx - 96, drop), (hx - 92 + wave, drop - 100), (hx - 84 - wave, hy + 70), (hx - 78, hy + 4), 14)
        shape = _chain(left[:-1], right_top, right_side, bottom, left_side)
        pen.poly(shape, fill=shade, outline=outline, width=3)
        # inner darker gap behind the neck, so the head reads in front of the hair mass
        pen.poly(_chain(_bezier((hx - 50, 150), (hx - 56, 200), (hx - 60, 240), (hx - 62, 300)),
                        _bezier((hx + 62, 300), (hx + 60, 240), (hx + 56, 200), (hx + 50, 150))),
                 fill=_scale(shade, 0.8))
    elif style == "bob":
        shape = _chain(_arc(hx, hy + 4, 80, 78, 180, 360, 26),
                       _bezier((hx + 80, hy + 4), (hx + 84, 150), (hx + 78, 176), (hx + 58, 182), 10),
                       _bezier((hx + 58, 182), (hx + 30, 186), (hx - 30, 186), (hx - 58, 182), 6),
                       _bezier((hx - 58, 182), (hx - 78, 176), (hx - 84, 150), (hx - 80, hy + 4), 10))
        pen.poly(shape, fill=shade, outline=outline, width=3)
    else:  # short, twin tails, ponytail, side tail, buns: a mass hugging the head
        bottom = 150 if style in ("short", "twin tails", "ponytail") else 160
        shape = _chain(_arc(hx, hy + 2, 74, 74, 180, 360, 26),
                       _bezier((hx + 74, hy + 2), (hx + 76, 130), (hx + 70, bottom), (hx + 56, bottom + 8), 8),
                       [(hx, bottom + 14)],
                       _bezier((hx - 56, bottom + 8), (hx - 70, bottom), (hx - 76, 130), (hx - 74, hy + 2), 8))
        pen.poly(shape, fill=shade, outline=outline, width=3)

    def tail(anchor, out, length, width, bulge, strand):
        """A tail hanging from ``anchor`` towards side ``out`` with one darker strand down it.

        ``strand``: three (dx, dy) control points from the anchor (dx mirrored by ``out``), then
        (dx, inset) of its end, ``inset`` pixels above the tail's tip."""
        pen.poly(_tail(anchor, out, length, width, bulge), fill=base, outline=outline, width=3)
        (x1, y1), (x2, y2), (x3, y3), (x4, inset) = strand
        ax, ay = anchor
        pen.line(_bezier((ax + out * x1, ay + y1), (ax + out * x2, ay + y2),
                         (ax + out * x3, ay + y3), (ax + out * x4, ay + length - inset)), shade, 4)

    if style == "twin tails":
        for out in (-1, 1):
            tail((hx + out * 62, 62), out, 180 + 50 * ch.hair_length, 44, 44,
                 ((14, 20), (46, 60), (44, 120), (30, 30)))
    elif style == "ponytail":
        tail((hx + ch.side * 40, 42), ch.side, 170 + 40 * ch.hair_length, 46, 66,
             ((24, 10), (72, 50), (70, 110), (46, 30)))
    elif style == "side tail":
        tail((hx + ch.side * 66, 88), ch.side, 150 + 30 * ch.hair_length, 44, 30,
             ((12, 20), (38, 60), (36, 100), (22, 24)))
    elif style == "buns":  # two buns high on the head: a coiled strand and a tie at the base
        for out in (-1, 1):
            cx, cy = hx + out * 44, 34
            pen.ellipse(cx, cy, 29, 27, fill=base, outline=outline, width=3)
            t = np.radians(np.linspace(0, 540, 40))  # a spiral: the radius grows with the angle
            r = np.linspace(4, 22, 40)
            coil = np.stack([cx + out * r * np.cos(t), cy + 2 + 0.9 * r * np.sin(t)], axis=1)
            pen.line(coil, shade, 4)
            pen.line(_bezier((cx - out * 22, cy + 18), (cx - out * 8, cy + 28), (cx + out * 8, cy + 28), (cx + out * 24, cy + 14), 8),
                     ch.accent, 7)


def _bangs_edge(ch: Character):
    """The lower edge of the bangs from the right temple to the left temple: (n, 2) points."""
    hx = HEAD[0]
    kind = BANGS[ch.bangs]
    if kind == "blunt":
        xs = np.linspace(hx + 60, hx - 60, 13)
        ys = 100 + 3 * np.cos(np.linspace(0, 12 * np.pi, 13)) + 2 * ((xs - hx) / 60) ** 2
        return np.stack([xs, ys], axis=1)
    if kind == "parted":
        right = [(hx + 62, 112), (hx + 50, 96), (hx + 44, 104), (hx + 30, 80), (hx + 22, 96), (hx + 10, 72), (hx + 3, 62)]
        left = [(hx - 3, 62), (hx - 10, 74), (hx - 20, 98), (hx - 28, 82), (hx - 42, 104), (hx - 50, 96), (hx - 62, 112)]
        return np.array(right + left, dtype=float)
    if kind == "swept":
        s = ch.side
        pts = [(hx + 62, 110), (hx + 46, 90), (hx + 38, 104), (hx + 16, 86), (hx + 6, 104), (hx - 14, 88),
               (hx - 24, 108), (hx - 40, 92), (hx - 50, 106), (hx - 62, 96)]
        pts = np.array(pts, dtype=float)
        return pts if s > 0 else _mirror(pts)[::-1]
    # spiky: the classic row of pointed strands
    return np.array([(hx + 62, 112), (hx + 52, 90), (hx + 46, 106), (hx + 34, 86), (hx + 24, 108), (hx + 12, 84),
                     (hx + 2, 106), (hx - 10, 84), (hx - 20, 108), (hx - 32, 86), (hx - 44, 106), (hx - 52, 90),
                     (hx - 62, 112)], dtype=float)


def _draw_front_hair(pen: _Pen, ch: Character):
    base, shade, highlight, outline = ch.hair
    style = HAIR_STYLES[ch.hair_style]
    hx, hy = HEAD
    edge = _bangs_edge(ch)  # (n, 2) right temple -> left temple
    # side locks framing the face, in front of the cheeks
    lock_len = {"short": 150, "bob": 176, "long": 196, "hime cut": 168, "twin tails": 160,
                "ponytail": 156, "side tail": 160, "buns": 160}[style]
    for out in (-1, 1):
        top = (hx + out * 70, hy + 4)
        inner_top = (hx + out * 52, hy + 10)
        if style == "hime cut":
            lock = _chain([top], _bezier(top, (hx + out * 70, 130), (hx + out * 68, 150), (hx + out * 64, lock_len), 8),
                          [(hx + out * 44, lock_len)],
                          _bezier((hx + out * 44, lock_len), (hx + out * 46, 140), (hx + out * 48, 120), inner_top, 8))
        else:
            tip = (hx + out * 52, lock_len)
            lock = _chain(_bezier(top, (hx + out * 74, 130), (hx + out * 66, lock_len - 20), tip, 12),
                          _bezier(tip, (hx + out * 54, lock_len - 30), (hx + out * 48, 128), inner_top, 10))
        pen.poly(lock, fill=base, outline=outline, width=3)
        pen.line(_bezier((hx + out * 64, 112), (hx + out * 66, 130), (hx + out * 62, 146), (hx + out * 58, lock_len - 12), 8),
                 shade, 3)
    if style == "long":  # locks falling in front of the shoulders
        for out in (-1, 1):
            top = (hx + out * 76, 130)
            lock = _chain(_bezier(top, (hx + out * 84, 190), (hx + out * 80, 230), (hx + out * 66, 290), 12),
                          _bezier((hx + out * 50, 290), (hx + out * 60, 230), (hx + out * 60, 180), (hx + out * 58, 140), 12))
            pen.poly(lock, fill=base, outline=outline, width=3)
            pen.line(_bezier((hx + out * 70, 160), (hx + out * 74, 200), (hx + out * 70, 240), (hx + out * 62, 280), 8), shade, 3)
    elif style == "hime cut":  # straight locks over the shoulders with blunt ends
        for out in (-1, 1):
            lock = [(hx + out * 74, 150), (hx + out * 78, 280), (hx + out * 52, 280), (hx + out * 56, 176)]
            pen.poly(lock, fill=base, outline=outline, width=3)
    # the cap: the top of the head down to the bangs' edge
    cap = _chain(_arc(hx, hy + 2, 71, 72, 180, 360, 30), [(hx + 71, hy + 10)], edge, [(hx - 71, hy + 10)])
    pen.poly(cap, fill=base, outline=outline, width=3)
    # shade strands: from high on the head down towards the notches between strands
    notches = edge[1:-1:2] if BANGS[ch.bangs] != "blunt" else edge[1:-1:3]
    for x, y in notches:
        top = (hx + (x - hx) * 0.55, 50)
        pen.line([top, (x, y - 2)], shade, 4)
    if ch.ahoge and ACCESSORIES[ch.accessory] != "hat":  # a lock sticking up from the crown
        s = ch.side
        lock = _chain(_bezier((hx - s * 8, 36), (hx - s * 8, 8), (hx + s * 10, -4), (hx + s * 30, 4), 10),
                      _bezier((hx + s * 30, 4), (hx + s * 10, 8), (hx + s * 6, 18), (hx + s * 8, 36), 10))
        pen.poly(lock, fill=base, outline=outline, width=3)
    # the highlight streak ("angel ring"): broken arc band across the crown
    for a0, a1 in ((212, 232), (240, 262), (270, 296), (304, 328)):
        outer = _arc(hx, hy + 2, 58, 56, a0, a1, 6)
        inner = _arc(hx, hy + 2, 50, 48, a1 - 3, a0 + 3, 6)
        pen.poly(_chain(outer, inner), fill=highlight)


# --- face ----------------------------------------------------------------------------------


def _face_shape(ch: Character):
    hx, hy = HEAD
    w = 58 * ch.face_width
    top = _arc(hx, hy + 4, w, 60, 180, 360, 20)
    right = _bezier((hx + w, hy + 4), (hx + w + 1, 140), (hx + 36, 166), CHIN, 14)
    left = _bezier(CHIN, (hx - 36, 166), (hx - w - 1, 140), (hx - w, hy + 4), 14)
    return _chain(top, right[1:], left[1:])


def _draw_eye(pen: _Pen, ch: Character, side: int, state: str, gaze):
    """One eye; ``side`` -1 (left on screen) or +1; ``state`` "open", "closed" or "wide"."""
    s = ch.eye_size
    cx, cy = HEAD[0] + side * EYE_DX, EYE_Y
    # local frame: x grows outward (towards the temple), scaled by the eye size
    local = np.array([[side * s, 0, cx], [0, s, cy]])
    e = pen.then(local)
    if state == "closed":  # a happy closed eye: an upward arc with a lash flick
        e.line(_bezier((-13, 4), (-6, -8), (8, -8), (15, 2), 10), LASH, 5)
        e.line([(15, 2), (19, 0)], LASH, 3)
        return
    iris_r = (11.0, 14.0) if state != "wide" else (9.5, 12.0)
    white = _chain(_bezier((-13, 3), (-9, -15), (9, -17), (16, -4), 12), _bezier((16, -4), (14, 14), (-8, 16), (-13, 3), 12))
    e.poly(white, fill=(255, 255, 255))
    gx, gy = gaze
    ix, iy = 1.0 + gx * side, 2.0 + gy
    dark = _scale(ch.eye, 0.42)
    light = _mix(ch.eye, (255, 255, 255), 0.35)
    e.ellipse(ix, iy, *iris_r, fill=ch.eye, outline=dark, width=2)
    e.poly(_chain(_arc(ix, iy, iris_r[0], iris_r[1], 180, 360, 14), [(ix + iris_r[0], iy - 2), (ix - iris_r[0], iy - 2)]), fill=dark)
    e.ellipse(ix, iy + 6, iris_r[0] * 0.7, iris_r[1] * 0.42, fill=light)
    e.ellipse(ix, iy + 0.5, 4.2, 6.0, fill=_scale(ch.eye, 0.2))
    e.ellipse(ix - 4, iy - 5, 4.2, 4.2, fill=(255, 255, 255))
    e.ellipse(ix + 4.5, iy + 6.5, 1.8, 1.8, fill=(255, 255, 255))
    # thick upper lash line with a flick at the outer corner, thin lower lash
    upper = _bezier((-14, 3), (-9, -19), (9, -21), (17, -6), 14)
    lower = _bezier((19, -1), (10, -12), (-8, -10), (-12, 0), 12)
    e.poly(_chain(upper, [(22, -9), (21, -3)], lower), fill=LASH)
    e.line(_bezier((4, 15), (9, 14), (12, 11), (14, 8), 6), _mix(LASH, ch.skin[0], 0.35), 2)


def _draw_face(pen: _Pen, ch: Character, pose: Pose):
    skin, skin_shadow, skin_line = ch.skin
    hx, hy = HEAD
    pen.poly(_face_shape(ch), fill=skin, outline=skin_line, width=3)
    # shadow cast by the bangs on the forehead (the bangs' edge shifted down)
    edge = _bangs_edge(ch)
    pen.poly(_chain(_arc(hx, hy + 2, 60, 60, 180, 360, 16), edge + [0, 7]), fill=skin_shadow)
    expression = EXPRESSIONS[pose.expression]
    left_state = right_state = "open"
    if expression == "wink":
        (left_state, right_state) = ("closed", "open") if ch.side < 0 else ("open", "closed")
    elif expression == "closed-eye smile":
        left_state = right_state = "closed"
    elif expression == "surprised":
        left_state = right_state = "wide"
    for side, state in ((-1, left_state), (1, right_state)):
        _draw_eye(pen, ch, side, state, pose.gaze)
    # blush
    blush = (255, 120, 140, 90) if ch.skin_tone < 3 else (220, 80, 90, 80)
    for side in (-1, 1):
        pen.ellipse(hx + side * 34, 143, 12, 5.5, fill=blush, n=20)
    # nose
    pen.line([(hx + 1, 137), (hx - 1, 140)], skin_line, 3)
    # mouth
    my = 154.0
    if expression in ("open smile", "closed-eye smile"):
        mouth = _chain([(hx - 11, my - 3)], _bezier((hx - 11, my - 3), (hx - 9, my + 11), (hx + 9, my + 11), (hx + 11, my - 3), 12))
        pen.poly(mouth, fill=(170, 50, 64), outline=MOUTH_LINE, width=2)
        pen.poly(_chain(_bezier((hx - 6, my + 6), (hx - 3, my + 1), (hx + 3, my + 1), (hx + 6, my + 6), 8),
                        _bezier((hx + 6, my + 6), (hx + 3, my + 8.5), (hx - 3, my + 8.5), (hx - 6, my + 6), 6)),
                 fill=(246, 128, 140))
    elif expression == "surprised":
        pen.ellipse(hx, my + 2, 5, 6.5, fill=(170, 50, 64), outline=MOUTH_LINE, width=2)
    elif expression == "neutral":
        pen.line(_bezier((hx - 6, my + 1), (hx - 2, my + 2), (hx + 2, my + 2), (hx + 6, my + 1), 6), MOUTH_LINE, 3)
    else:  # smile, wink: a small curved smile
        pen.line(_bezier((hx - 10, my - 1), (hx - 5, my + 6), (hx + 5, my + 6), (hx + 10, my - 1), 10), MOUTH_LINE, 3)


# --- body ----------------------------------------------------------------------------------


def _draw_body(pen: _Pen, ch: Character):
    skin, skin_shadow, skin_line = ch.skin
    costume = ch.costume
    dark = _scale(costume, 0.72) if sum(costume) > 200 else _mix(costume, (255, 255, 255), 0.25)
    line = _scale(costume, 0.5)
    light_costume = sum(costume) > 600
    trim = (255, 255, 255) if not light_costume else (60, 70, 120)
    hx = HEAD[0]
    style = COSTUME_STYLES[ch.costume_style]
    # neck
    pen.poly([(hx - 16, 150), (hx + 16, 150), (hx + 17, 212), (hx - 17, 212)], fill=skin, outline=skin_line, width=3)
    pen.poly([(hx - 16, 160), (hx + 16, 160), (hx + 16, 178), (hx, 186), (hx - 16, 178)], fill=skin_shadow)
    # shoulders and torso
    torso = _chain([(hx - 120, 330)], _bezier((hx - 112, 250), (hx - 108, 226), (hx - 80, 208), (hx - 22, 200), 10),
                   _bezier((hx + 22, 200), (hx + 80, 208), (hx + 108, 226), (hx + 112, 250), 10), [(hx + 120, 330)])
    if style == "frill dress":
        # a sweetheart neckline with a frilled edge, puff sleeves, a choker with a gem
        pen.poly(torso, fill=costume, outline=line, width=3)
        neck = _chain([(hx - 17, 198)], _bezier((hx - 40, 204), (hx - 52, 214), (hx - 50, 226), (hx - 30, 228), 8),
                      [(hx, 238)], _bezier((hx + 30, 228), (hx + 50, 226), (hx + 52, 214), (hx + 40, 204), 8), [(hx + 17, 198)])
        pen.poly(neck, fill=skin, outline=skin_line, width=2)
        frill = _chain(_bezier((hx - 54, 214), (hx - 54, 232), (hx - 30, 232), (hx, 242), 10),
                       _bezier((hx, 242), (hx + 30, 232), (hx + 54, 232), (hx + 54, 214), 10))
        pen.line(frill, trim, 7)
        for out in (-1, 1):  # puff sleeves
            pen.ellipse(hx + out * 92, 236, 30, 24, fill=costume, outline=line, width=3)
            pen.line(_arc(hx + out * 92, 236, 20, 14, 200, 340, 8), dark, 3)
        pen.line([(hx - 16, 192), (hx + 16, 192)], ch.accent if ch.accent != costume else dark, 6)
        pen.ellipse(hx, 198, 5, 5, fill=ch.accent, outline=_scale(ch.accent, 0.6), width=2)
        return
    pen.poly(torso, fill=costume, outline=line, width=3)
    if style == "sailor":
        # V neckline, wide collar in the trim colour with a stripe, a neckerchief
        pen.poly([(hx - 18, 200), (hx + 18, 200), (hx, 236)], fill=skin)
        collar = _chain([(hx - 20, 198)], _bezier((hx - 60, 204), (hx - 96, 214), (hx - 104, 236), (hx - 96, 250), 8),
                        [(hx, 262)], _bezier((hx + 96, 250), (hx + 104, 236), (hx + 96, 214), (hx + 60, 204), 8),
                        [(hx + 20, 198), (hx, 236)])
        pen.poly(collar, fill=trim if not light_costume else (60, 70, 120), outline=line, width=3)
        stripe_col = costume if not light_costume else (250, 250, 250)
        pen.line(_chain(_bezier((hx - 84, 238), (hx - 60, 240), (hx - 30, 246), (hx, 252), 6),
                        _bezier((hx, 252), (hx + 30, 246), (hx + 60, 240), (hx + 84, 238), 6)), stripe_col, 4)
        pen.poly([(hx, 240), (hx - 22, 250), (hx - 18, 266), (hx, 256), (hx + 18, 266), (hx + 22, 250)],
                 fill=ch.accent, outline=_scale(ch.accent, 0.6), width=2)
    elif style == "blazer":
        shirt = (252, 252, 252) if not light_costume else (230, 236, 250)
        pen.poly([(hx - 24, 200), (hx + 24, 200), (hx + 30, 260), (hx, 290), (hx - 30, 260)], fill=shirt, outline=line, width=2)
        for out in (-1, 1):
            pen.poly([(hx + out * 24, 200), (hx + out * 42, 204), (hx + out * 30, 232), (hx + out * 40, 240), (hx + out * 6, 300)],
                     fill=dark, outline=line, width=3)
        # ribbon tie
        pen.poly([(hx, 214), (hx - 18, 206), (hx - 18, 224)], fill=ch.accent, outline=_scale(ch.accent, 0.6), width=2)
        pen.poly([(hx, 214), (hx + 18, 206), (hx + 18, 224)], fill=ch.accent, outline=_scale(ch.accent, 0.6), width=2)
        pen.ellipse(hx, 214, 4.5, 4.5, fill=_scale(ch.accent, 0.8))
    else:  # stage jacket: a stand collar with gold trim, buttons
        gold = (244, 200, 80)
        pen.poly([(hx - 24, 188), (hx + 24, 188), (hx + 28, 206), (hx, 212), (hx - 28, 206)], fill=dark, outline=line, width=3)
        pen.line([(hx - 27, 204), (hx, 210), (hx + 27, 204)], gold, 4)
        pen.line([(hx, 212), (hx, 330)], gold, 4)
        for y in (230, 256, 282):
            pen.ellipse(hx + 12, y, 4, 4, fill=gold)
        for out in (-1, 1):  # epaulettes
            pen.poly([(hx + out * 76, 210), (hx + out * 106, 222), (hx + out * 108, 238), (hx + out * 80, 228)],
                     fill=gold, outline=_scale(gold, 0.6), width=2)


# --- accessories ---------------------------------------------------------------------------


def _draw_accessory(pen: _Pen, ch: Character):
    kind = ACCESSORIES[ch.accessory]
    accent, hx, hy = ch.accent, HEAD[0], HEAD[1]
    edge = _scale(accent, 0.6) if sum(accent) < 700 else (150, 150, 170)
    side = ch.side
    if kind == "ribbon":
        cx, cy = hx + side * 46, 44
        for out in (-1, 1):
            pen.poly([(cx, cy), (cx + out * 30, cy - 20), (cx + out * 34, cy + 2), (cx + out * 26, cy + 18)],
                     fill=accent, outline=edge, width=3)
            pen.poly([(cx, cy), (cx + out * 12, cy + 30), (cx + out * 4, cy + 32)], fill=accent, outline=edge, width=2)
        pen.ellipse(cx, cy, 7, 7, fill=accent, outline=edge, width=3)
    elif kind == "hair clip":
        cx, cy = hx + side * 40, 76
        for k in (0, 1):
            x0 = cx + side * k * 12
            pen.poly([(x0 - 4, cy - 14 + 4 * k), (x0 + 4, cy - 14 + 4 * k), (x0 + 4, cy + 12 + 4 * k), (x0 - 4, cy + 12 + 4 * k)],
                     fill=accent, outline=edge, width=2)
    elif kind == "headband":
        outer = _arc(hx, hy + 2, 73, 74, 196, 344, 24)
        inner = _arc(hx, hy + 2, 63, 64, 344, 196, 24)
        pen.poly(_chain(outer, inner), fill=accent, outline=edge, width=3)
    elif kind == "hat":  # a beret worn at an angle
        hat = pen.then(_affine(angle_deg=side * 12, center=(hx, 36)))
        hat.ellipse(hx + side * 8, 38, 70, 24, fill=accent, outline=edge, width=3)
        hat.poly(_chain(_arc(hx + side * 8, 40, 64, 18, 200, 340, 12), _arc(hx + side * 8, 38, 64, 8, 340, 200, 10)), fill=_scale(accent, 0.88))
        hat.ellipse(hx + side * 8, 12, 6, 5, fill=edge)
    elif kind == "flower":
        cx, cy = hx + side * 50, 62
        for k in range(5):
            a = math.radians(k * 72 - 90)
            pen.ellipse(cx + 11 * math.cos(a), cy + 11 * math.sin(a), 9, 9, fill=accent, outline=edge, width=2)
        pen.ellipse(cx, cy, 6, 6, fill=(255, 214, 80))


def draw_idol(ch: Character, pose: Pose, size: int = SIZE) -> Image.Image:
    """Draw one icon of character ``ch`` in ``pose``: an RGB ``PIL.Image`` of ``size`` x ``size``
    (drawn at 256x256, then LANCZOS-downsampled)."""
    img = Image.new("RGB", (CANVAS, CANVAS))
    draw = ImageDraw.Draw(img, "RGBA")  # RGBA ink blends onto the RGB image (blush)
    _draw_background(img, draw, pose)
    zoom = BASE_ZOOM * pose.zoom
    figure = _affine(scale=zoom, center=FRAME_CENTER, shift=pose.shift)
    figure_pen = _Pen(draw, figure, zoom)
    body = figure_pen.then(_affine(shift=(0.0, BODY_RAISE)))
    head = figure_pen.then(_affine(angle_deg=pose.tilt, center=(CHIN[0], CHIN[1] + 10)))
    _draw_back_hair(head, ch)
    _draw_body(body, ch)
    _draw_face(head, ch, pose)
    _draw_front_hair(head, ch)
    _draw_accessory(head, ch)
    if size != CANVAS:
        img = img.resize((size, size), Image.LANCZOS)
    return img


# ---------------------------------------------------------------------------------------------
# Generating, caching, loading


def _draw_many(job):
    """Worker: draw the icons ``[(character, image), ...]`` -> (n, 64, 64, 3) uint8."""
    seed, n_characters, pairs = job
    cast = make_cast(seed, n_characters)
    out = np.empty((len(pairs), SIZE, SIZE, 3), np.uint8)
    for k, (c, i) in enumerate(pairs):
        out[k] = np.asarray(draw_idol(cast[c], make_pose(seed, c, i)))
    return out


def _default_workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def generate_idols(seed: int = 0, characters=None, images_per_character: int = IMAGES_PER_CHARACTER,
                   workers: int | None = None, n_characters: int = N_CHARACTERS) -> ImageDataset:
    """Draw the idol set (no cache): ``len(characters) * images_per_character`` icons.

    Args:
        seed: the cast and every icon derive from it.
        characters: indices into the cast to draw (default: all ``n_characters``); icon ``j`` of
            character ``c`` is the same whichever subset is drawn.
        images_per_character: icons per character.
        workers: processes to draw with (default: the CPUs available, at most 8); the result does
            not depend on it.
        n_characters: size of the cast (203 as in the blog).

    Returns:
        :class:`ImageDataset` with images ``(N, 64, 64, 3)`` uint8, ordered by character then
        icon, and labels for every attribute in :data:`ATTRIBUTES`.
    """
    cast = make_cast(seed, n_characters)
    chars = list(range(n_characters)) if characters is None else [int(c) for c in characters]
    if any(c < 0 or c >= n_characters for c in chars):
        raise ValueError(f"character indices must be in [0, {n_characters})")
    pairs = [(c, i) for c in chars for i in range(images_per_character)]
    workers = _default_workers() if workers is None else max(1, int(workers))
    workers = min(workers, max(1, len(pairs) // 32))  # small jobs are not worth a process
    chunk = max(1, math.ceil(len(pairs) / (workers * 4)))
    chunks = [pairs[k:k + chunk] for k in range(0, len(pairs), chunk)]
    jobs = [(int(seed), n_characters, ch) for ch in chunks]
    if workers == 1:
        parts = [_draw_many(job) for job in jobs]
    else:
        method = "fork" if "fork" in mp.get_all_start_methods() else None
        with mp.get_context(method).Pool(workers) as pool:
            parts = pool.map(_draw_many, jobs)
    images = np.concatenate(parts, axis=0) if parts else np.empty((0, SIZE, SIZE, 3), np.uint8)
    labels = {"character": np.array([c for c, _ in pairs], np.int64)}
    for name in ATTRIBUTES[1:-1]:
        labels[name] = np.array([cast[c].labels()[name] for c, _ in pairs], np.int64)
    labels["expression"] = np.array([make_pose(seed, c, i).expression for c, i in pairs], np.int64)
    vocab = {"character": [ch.name for ch in cast], **VOCAB}
    return ImageDataset(images, labels, vocab, source=f"idols(seed={seed})")


def idols_cache_path(seed: int = 0, n_characters: int = N_CHARACTERS,
                     images_per_character: int = IMAGES_PER_CHARACTER, characters=None):
    """Where :func:`load_idols` caches the set for these arguments."""
    tag = ""
    if characters is not None:
        tag = "-sub" + hashlib.sha256(",".join(map(str, characters)).encode()).hexdigest()[:10]
    return cache_dir() / f"idols-v{IDOLS_VERSION}-seed{int(seed)}-{n_characters}x{images_per_character}{tag}.npz"


def load_idols(seed: int = 0, characters=None, images_per_character: int = IMAGES_PER_CHARACTER,
               workers: int | None = None, cache: bool = True, verbose: bool = False,
               n_characters: int = N_CHARACTERS) -> ImageDataset:
    """The built-in idol set for ``seed``: read from the cache, or drawn and cached.

    Arguments as :func:`generate_idols`. With ``cache=False`` nothing is read or written. A
    damaged cache file is drawn again and replaced.
    """
    if not cache:
        return generate_idols(seed, characters, images_per_character, workers, n_characters)
    chars = None if characters is None else [int(c) for c in characters]
    path = idols_cache_path(seed, n_characters, images_per_character, chars)
    if path.exists():
        try:
            ds, meta = load_dataset_npz(path)
            if meta.get("version") == IDOLS_VERSION:
                return ds
        except DatasetError:
            pass  # damaged: draw it again below
    start = time.perf_counter()
    if verbose:
        print(f"drawing the idol set (seed {seed}); it is cached afterwards in {path}", flush=True)
    ds = generate_idols(seed, chars, images_per_character, workers, n_characters)
    try:
        save_dataset_npz(path, ds, meta={"version": IDOLS_VERSION, "seed": int(seed),
                                          "seconds": round(time.perf_counter() - start, 2)})
    except MiniganError as exc:  # a cache is a convenience: a full disk must not stop the work
        warnings.warn(f"could not write the cache of the idol set: {exc}", stacklevel=2)
        return ds
    ds.cache_path = path
    _remove_stale_caches(path.parent)
    return ds


def load_casts(seeds, verbose: bool = False, **kwargs) -> ImageDataset:
    """Several built-in idol sets in one dataset: the casts of ``seeds``, each 203 characters
    whose attributes are drawn independently of the others'. Labels as :func:`load_idols`,
    with ``character`` numbered across the casts (``"Haruka (cast 1)"``).

    One cast ties each combination of labels to a character seen 22 times, so a classifier
    trained on it may read a hair style from the face and colours it knows; over several casts
    the same combination belongs to different characters and the labels must be read themselves.
    Other keyword arguments go to :func:`load_idols` (``images_per_character``, ``cache``...).
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise DatasetError(f"give one or more distinct seeds for the casts, got {seeds}")
    parts = [load_idols(seed, verbose=verbose, **kwargs) for seed in seeds]
    offsets = np.cumsum([0] + [len(p.vocab["character"]) for p in parts[:-1]])
    labels = {name: np.concatenate([p.labels[name] + (off if name == "character" else 0)
                                    for p, off in zip(parts, offsets)]) for name in parts[0].labels}
    vocab = dict(parts[0].vocab)
    vocab["character"] = [f"{name} (cast {seed})" for p, seed in zip(parts, seeds) for name in p.vocab["character"]]
    source = f"idols(seeds={','.join(map(str, seeds))})"
    return ImageDataset(np.concatenate([p.images for p in parts]), labels, vocab, source=source)


def _remove_stale_caches(folder):
    """Delete idol caches of older drawing versions in ``folder``: nothing can read them again."""
    for old in folder.glob("idols-v*-seed*.npz"):
        version = old.name[len("idols-v"):].split("-", 1)[0]
        if version.isdigit() and int(version) < IDOLS_VERSION:
            try:
                old.unlink()
            except OSError:
                pass
