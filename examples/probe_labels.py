"""How well a conditional run's projection discriminator reads each label: real idols judged with
their own labels and with one label changed to each other value.

For every conditioned attribute, the share of (image, wrong value) pairs for which the
discriminator's logit is higher with the true label than with the wrong one: 50 % is a
discriminator that ignores the label, 100 % one that always knows it. A label the discriminator
cannot read is a label the generator is barely asked to draw (chapter 14).

    python examples/probe_labels.py --checkpoint runs/cond
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigan.checkpoint import load_discriminator  # noqa: E402 (after the path line, so that a checkout runs without installing)
from minigan.conditioning import label_rows  # noqa: E402
from minigan.data import load_dataset, to_model_input  # noqa: E402


def label_preference(D, images, labels) -> dict[str, float]:
    """``{attribute: share}``: how often ``D`` scores ``images`` (model input) higher with their
    ``labels`` ``(N, A)`` than with one attribute set to another value, over every other value."""
    base = D.forward(images, labels)
    out = {}
    for a, name in enumerate(D.attributes):
        wins = []
        for v in range(D.num_classes[a]):
            other = labels.copy()
            other[:, a] = v
            changed = other[:, a] != labels[:, a]
            if changed.any():
                wrong = D.forward(images[changed], other[changed])
                wins.append(float((base[changed] > wrong).mean() + 0.5 * (base[changed] == wrong).mean()))  # a tie: half
        out[name] = round(float(np.mean(wins)), 4)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a conditional run (or one of its checkpoints)")
    parser.add_argument("--n", type=int, default=600, help="real idols to judge")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    D, meta = load_discriminator(args.checkpoint)
    if not hasattr(D, "attributes"):
        print("error: this is an unconditional model: its discriminator takes no labels", file=sys.stderr)
        return 2
    ds = load_dataset(meta.get("config", {}).get("data", "idols"))
    pick = np.random.default_rng(args.seed).choice(len(ds), min(args.n, len(ds)), replace=False)
    shares = label_preference(D, to_model_input(ds.images[pick]), label_rows(ds, D.attributes)[pick])
    for name, share in shares.items():
        print(f"{name:12s} the true label scores higher for {100 * share:5.1f} % (ignoring it: 50 %)")
    print(json.dumps({"checkpoint": args.checkpoint, "n": len(pick), "preference": shares}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
