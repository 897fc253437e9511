"""The studio's links: a URL fragment that describes one idol completely.

::

    http://127.0.0.1:8765/#v=1&m=3f2a9c0d11e4&z=AAB4vw...&e=blond:1.5,pink:-0.25

* ``v``: the link format (1).
* ``m``: the model's id (:func:`minigan.studio.web.model_id`), so that a link opened with another
  model is noticed instead of silently drawing someone else.
* ``z``: the noise, ``nz`` float32 numbers, little-endian, in unpadded base64url (``-_`` for ``+/``).
  Exact: no decimal rounding between the page and NumPy.
* ``e``: the sliders, ``name:strength`` pairs; the idol is drawn from
  ``z + sum(strength * vector[name])``, summed in float64 in the order given and then rounded
  to float32, the same operations in the page and in :func:`edited_noise`, so both feed the
  generator the same float32 numbers.

``python -m minigan sample --link URL --out idol.png`` draws it with NumPy.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

import numpy as np

from ..errors import MiniganError

__all__ = ["LINK_VERSION", "IdolLink", "parse_link", "encode_noise", "decode_noise", "edited_noise"]

LINK_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MAX_STRENGTH = 1e3  # the page's sliders go to +-3; a typed link may say more, not absurdly more


def encode_noise(z) -> str:
    """float32 ``(nz,)`` -> unpadded base64url of its little-endian bytes."""
    data = np.ascontiguousarray(np.asarray(z, dtype="<f4").reshape(-1)).tobytes()
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def decode_noise(text: str) -> np.ndarray:
    """The inverse of :func:`encode_noise`: float32 ``(nz,)``; MiniganError if it is not one."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]*", text):
        raise MiniganError("the link's z is not base64url (letters, digits, - and _ only)", argument="link")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MiniganError(f"the link's z is not base64url ({exc})", argument="link") from None
    if not data or len(data) % 4:
        raise MiniganError(f"the link's z holds {len(data)} bytes, not a whole number of float32 values",
                           argument="link")
    z = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.isfinite(z).all():
        raise MiniganError("the link's z holds NaN or infinite values", argument="link")
    return z


@dataclass
class IdolLink:
    """What a studio link describes: the noise, the slider positions, the model it was made with."""

    z: np.ndarray  # float32 (nz,)
    edits: dict[str, float] = field(default_factory=dict)  # vector name -> strength, in order
    model: str | None = None

    def fragment(self) -> str:
        """``v=1&m=...&z=...&e=...`` (no leading ``#``)."""
        parts = [f"v={LINK_VERSION}"]
        if self.model:
            parts.append(f"m={self.model}")
        parts.append(f"z={encode_noise(self.z)}")
        if self.edits:
            parts.append("e=" + ",".join(f"{name}:{_number(s)}" for name, s in self.edits.items()))
        return "&".join(parts)


def _number(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def parse_link(text: str) -> IdolLink:
    """An :class:`IdolLink` from a whole URL, a ``#fragment`` or the fragment alone.

    MiniganError (naming ``--link``) for anything else: no ``z``, an unknown version, a damaged
    z, a slider without a number, a strength that is not finite.
    """
    text = text.strip()
    if "#" in text:
        text = text.split("#", 1)[1]
    if not re.search(r"(^|&)z=", text):
        raise MiniganError("the link has no idol in it (no z=... in its fragment): copy the whole link "
                           "from the studio's address bar or its Copy link button", argument="link")
    fields = {}
    for part in filter(None, text.split("&")):
        key, sep, value = part.partition("=")
        if not sep:
            raise MiniganError(f"the link's fragment has {part[:30]!r} without '=' (expected v=1&z=...)",
                               argument="link")
        fields[key] = unquote(value)
    version = fields.get("v", str(LINK_VERSION))
    if version != str(LINK_VERSION):
        raise MiniganError(f"the link is of format version {version!r}; this minigan reads version {LINK_VERSION}",
                           argument="link")
    edits = {}
    for pair in filter(None, fields.get("e", "").split(",")):
        name, sep, value = pair.rpartition(":")
        if not sep or not _NAME.match(name):
            raise MiniganError(f"the link's slider {pair[:40]!r} should be name:strength", argument="link")
        try:
            strength = float(value)
        except ValueError:
            raise MiniganError(f"the link's slider {name} has strength {value[:20]!r}, not a number",
                               argument="link") from None
        if not math.isfinite(strength) or abs(strength) > MAX_STRENGTH:
            raise MiniganError(f"the link's slider {name} has strength {value[:20]}: use a finite number "
                               f"within +-{MAX_STRENGTH:g}", argument="link")
        edits[name] = strength
    model = fields.get("m") or None
    if model is not None and not re.fullmatch(r"[0-9a-f]{1,64}", model):
        raise MiniganError(f"the link's model id {model[:20]!r} is not hexadecimal", argument="link")
    return IdolLink(decode_noise(fields["z"]), edits, model)


def edited_noise(link: IdolLink, vectors: dict) -> np.ndarray:
    """The noise the generator gets for ``link``: float32 ``(1, nz)``.

    ``vectors``: name -> :class:`~minigan.latent.AttributeVector` (or a plain ``(nz,)`` array);
    every slider of the link must be among them.
    """
    z = link.z.astype(np.float64)
    for name, strength in link.edits.items():
        if name not in vectors:
            known = ", ".join(sorted(vectors)) or "none"
            raise MiniganError(f"the link moves the slider {name!r} ({_number(strength)}); give its vector with "
                               f"--vector {name}.npz (vectors given: {known})", argument="link")
        vector = np.asarray(getattr(vectors[name], "vector", vectors[name]), np.float32).astype(np.float64)
        if vector.shape != z.shape:
            raise MiniganError(f"the vector {name!r} is {vector.shape[0]}-d but the link's noise is {z.shape[0]}-d",
                               argument="link")
        z = z + strength * vector
    return z.astype(np.float32)[None]
