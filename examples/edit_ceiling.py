"""The ceiling of ``evaluate``'s label control: the built-in idols themselves, redrawn with one
label changed, read by the same classifier.

``evaluate`` measures a conditional model by setting one label to each value with the noise kept
and asking the attribute classifier what it sees: ``control`` (the share read as the new value)
and ``kept`` (the share whose other labels read as before). Both are read by a classifier, so
neither can reach 100 % even for a perfect edit: changing the hair colour of a drawn idol can
change what the classifier says about her eyes. This script measures that ceiling exactly, with
edits that are perfect by construction: ``n`` icons of the built-in set (character and pose),
each drawn again by :func:`minigan.data.idols.draw_idol` with its character's hair colour (or
style, or eye colour) set to every value and nothing else changed.

    python examples/edit_ceiling.py                      # 500 icons, runs/classifier.npz
    python examples/edit_ceiling.py --n 200 --classifier runs/classifier.npz

It prints a table like ``evaluate``'s ``control`` (the conditional chapter quotes it) and one JSON
line of the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigan.data import idols  # noqa: E402 (after the path line, so that a checkout runs without installing)
from minigan.models.classifier import DEFAULT_CLASSIFIER, classify, load_classifier  # noqa: E402

ATTRIBUTES = ("hair_color", "hair_style", "eye_color")


def with_label(ch: idols.Character, attribute: str, value: int) -> idols.Character:
    """``ch`` with one label set to ``value``: its colours follow a new hair or eye colour (as
    :func:`~minigan.data.idols.make_cast` derives them, without the character's small jitter)."""
    name = idols.VOCAB[attribute][value]
    if attribute == "hair_color":
        return dataclasses.replace(ch, hair_color=value, hair=idols.hair_palette(*idols.HAIR_COLORS[name]))
    if attribute == "eye_color":
        return dataclasses.replace(ch, eye_color=value, eye=idols.EYE_COLORS[name])
    return dataclasses.replace(ch, **{attribute: value})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="icons of the built-in set to redraw")
    parser.add_argument("--classifier", default=DEFAULT_CLASSIFIER)
    parser.add_argument("--seed", type=int, default=0, help="which icons")
    args = parser.parse_args(argv)
    clf, meta = load_classifier(args.classifier)
    vocab = meta["vocab"]
    cast = idols.make_cast(0)
    rng = np.random.default_rng(args.seed)
    picks = [(int(c), int(i)) for c, i in zip(rng.integers(0, len(cast), args.n),
                                                rng.integers(0, idols.IMAGES_PER_CHARACTER, args.n))]
    poses = [idols.make_pose(0, c, i) for c, i in picks]
    start = time.perf_counter()

    def read(characters):
        images = np.stack([np.asarray(idols.draw_idol(ch, pose)) for ch, pose in zip(characters, poses)])
        predictions = classify(clf, images).predictions
        return {a: np.asarray(predictions[a]) for a in ATTRIBUTES}

    original = read([cast[c] for c, _ in picks])
    report = {}
    for attribute in ATTRIBUTES:
        others = [b for b in ATTRIBUTES if b != attribute]
        control, kept = [], {b: [] for b in others}
        for v in range(len(idols.VOCAB[attribute])):
            pred = read([with_label(cast[c], attribute, v) for c, _ in picks])
            target = vocab[attribute].index(idols.VOCAB[attribute][v])  # the classifier's numbering
            control.append(float((pred[attribute] == target).mean()))
            for b in others:
                kept[b].append(float((pred[b] == original[b]).mean()))
        report[attribute] = {"control": round(float(np.mean(control)), 4),
                             "kept": {b: round(float(np.mean(k)), 4) for b, k in kept.items()}}
        print(f"{attribute:11s} control {100 * report[attribute]['control']:5.1f} %   "
              + "   ".join(f"{b} kept {100 * v:5.1f} %" for b, v in report[attribute]["kept"].items()), flush=True)
    print(json.dumps({"n": args.n, "seed": args.seed, "classifier": args.classifier,
                      "seconds": round(time.perf_counter() - start, 1), "ceiling": report}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
