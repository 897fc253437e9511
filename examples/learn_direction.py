"""Learn an attribute vector by gradient descent through the generator and the classifier.

The blog's blond vector is a difference of means: it knows which idols are blond, not what an
edit must leave alone. This script asks the attribute classifier directly. It trains one vector
``v`` so that the edited idols ``G(z + v)`` are classified blond *and* keep the hair style and
eye colour they had, with gradients that flow back through minigan's classifier and generator
all the way to the noise (``minigan.latent.learn_vector``). Then it measures the result the way
``python -m minigan evaluate --vector`` does, on idols it was not trained on::

    python -m minigan vector --checkpoint runs/idols --from-labels --plus blond --minus rest --out blond_rest.npz
    python examples/learn_direction.py --checkpoint runs/idols --start blond_rest.npz --out blond_learned.npz

``--keep-weight`` sets the trade: 0 only asks for blond hair, larger values ask more firmly that
nothing else changes. Chapter 12 of the docs shows what the trade looks like on the default run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from minigan.cli import run_command
from minigan.cli.args import add_generator_arguments, load_generator, make_parser, parse_floats
from minigan.latent import learn_vector, load_vector, save_vector
from minigan.metrics import edit_success
from minigan.models.classifier import DEFAULT_CLASSIFIER, load_classifier, parse_target


def main(argv=None) -> int:
    parser = make_parser(
        "learn_direction", prog="python examples/learn_direction.py",
        description=__doc__.split("\n\n")[0] + ". Saves the vector as an .npz for `minigan edit` and prints "
                    "its edit success next to that of --start.")
    add_generator_arguments(parser)
    parser.add_argument("--classifier", default=DEFAULT_CLASSIFIER, help="the attribute classifier")
    parser.add_argument("--target", default="hair_color=blond", help="what the edit should give, ATTRIBUTE=CLASS")
    parser.add_argument("--keep", default="hair_style,eye_color", help="attributes the edit should leave alone")
    parser.add_argument("--keep-weight", type=float, default=1.0,
                        help="how firmly: the weight of the keep losses against the target's")
    parser.add_argument("--start", default=None, help="start from this vector .npz (default: zeros)")
    parser.add_argument("--max-length", type=float, default=None,
                        help="the longest the vector may get (default: as long as --start times 1.5, else 3)")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps of 64 idols")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's learning rate")
    parser.add_argument("--n", type=int, default=4096, help="idols in the training pool")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pool and the batches; the measurement "
                                                            "uses other idols (seed + 1)")
    parser.add_argument("--strengths", default="0,0.5,0.75,1,1.25,1.5", help="strengths to measure")
    parser.add_argument("--out", default="learned.npz", help="the learned vector")
    args = parser.parse_args(argv)

    G, meta, kind = load_generator(args)
    clf, clf_meta = load_classifier(args.classifier, args.device)
    vocab = clf_meta["vocab"]
    attribute, target = parse_target(args.target, vocab)
    keep = [a.strip() for a in args.keep.split(",") if a.strip()]
    start = load_vector(args.start, G.nz).vector if args.start else None
    max_length = args.max_length or (1.5 * float(np.linalg.norm(start)) if start is not None else 3.0)
    strengths = parse_floats(args.strengths, "--strengths")
    if start is not None:  # a start as long as the limit: the learning begins where an edit at 1.5 would be
        start = start * (max_length / max(float(np.linalg.norm(start)), 1e-12))

    vector, history = learn_vector(G, clf, attribute, target, keep, args.keep_weight, start, max_length,
                                   args.steps, lr=args.lr, n=args.n, seed=args.seed, noise_kind=kind)
    for record in history[:: max(1, len(history) // 6)] + history[-1:]:
        print("  step {step:4d}: target loss {target:.3f}, ".format(**record)
              + ", ".join(f"{a} {record[a]:.3f}" for a in keep) + f", |v| {record['length']:.2f}")
    out = Path(args.out)
    save_vector(out, vector, {"name": vocab[attribute][target], "method": "learned", "attribute": attribute,
                              "plus": vocab[attribute][target], "keep": keep, "keep_weight": args.keep_weight,
                              "start": args.start, "max_length": max_length, "steps": args.steps, "lr": args.lr,
                              "n": args.n, "seed": args.seed, "checkpoint": str(args.checkpoint),
                              "classifier": str(args.classifier), "noise": kind,
                              "norm": float(np.linalg.norm(vector))})
    print(f"wrote {out}: |vector| = {np.linalg.norm(vector):.2f}")

    print(f"edit success on 500 other idols (seed {args.seed + 1}): share {vocab[attribute][target]} / share "
          f"keeping {', '.join(keep)} (a random direction as long keeps)"
          + (f"; the start scaled to |v| = {max_length:.2f}" if start is not None else ""))
    vectors = [("learned", vector)] + ([("start", start)] if start is not None else [])  # start: as long as allowed
    for name, v in vectors:
        rows = edit_success(G, clf, v, attribute, target, strengths, n=500, seed=args.seed + 1,
                            noise_kind=kind, progress=False)
        for r in rows:
            kept = "  ".join(f"{a} {r['keep'][a]:.2f} ({r['keep_random'][a]:.2f})" for a in keep)
            print(f"  {name:>7} s={r['strength']:<5g} {r['share_target']:.2f}  {kept}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command("learn_direction", main, sys.argv[1:]))
