"""``python -m minigan vector``: build an attribute vector, from exemplars or from labels."""

from __future__ import annotations

import numpy as np

from ..errors import MiniganError
from ..latent import MIN_EXEMPLARS, idol_noise, save_vector, vector_from_exemplars, vector_from_labels
from ..models.classifier import DEFAULT_CLASSIFIER, load_classifier
from .args import (SEED, add_force, add_generator_arguments, load_generator, make_parser, output_path, parse_ints, real,
                   refuse_conditional, whole)

__all__ = ["main"]


def build_parser():
    parser = make_parser(
        "vector",
        description="Build an attribute vector: a direction in noise space that adds an attribute "
                    "(blond hair, say). Two ways. From exemplars: number a grid with `minigan sample "
                    "--numbered --seed S`, pick at least three idols with the attribute (--plus) and "
                    "three without (--minus); the vector is the difference of their mean noise. From "
                    "labels (the blog's recipe): sample --n idols, let the attribute classifier label "
                    "them, and take mean(noise | --plus class) - mean(noise | --minus class). The vector "
                    "is saved as a small .npz with its provenance; apply it with `minigan edit`.")
    add_generator_arguments(parser)
    parser.add_argument("--name", default=None, help="its name (default: the --plus class, or 'vector')")
    parser.add_argument("--out", default=None, help="output .npz, or a folder (default: NAME.npz)")
    parser.add_argument("--seed", type=SEED, default=0,
                        help="exemplars: the numbered grid they come from; labels: the seed of the "
                             "sampled noise")
    parser.add_argument("--plus", required=True,
                        help="exemplars: idol numbers with the attribute (e.g. 3,17,22); "
                             "with --from-labels: a class (e.g. blond)")
    parser.add_argument("--minus", required=True,
                        help="exemplars: idol numbers without it (e.g. 5,9,41); "
                             "with --from-labels: a class (e.g. black) or 'rest'")
    parser.add_argument("--from-labels", action="store_true",
                        help="classify sampled idols instead of using exemplars")
    parser.add_argument("--attribute", default="hair_color", help="with --from-labels: which label")
    parser.add_argument("--n", type=whole(2 * MIN_EXEMPLARS, 1_000_000), default=10000,
                        help="with --from-labels: how many idols to sample (each mean is then taken over "
                             "hundreds of idols, so little of the vector is sampling noise)")
    parser.add_argument("--min-confidence", type=real(0, 1), default=0.0,
                        help="with --from-labels: only count idols classified with at least this probability")
    parser.add_argument("--balance", default="",
                        help="with --from-labels: attributes to hold fixed, e.g. hair_style: the difference "
                             "of means is taken within each hair style and averaged, so that the vector "
                             "does not also carry the style blond idols happen to have more often")
    parser.add_argument("--classifier", default=None,
                        help=f"with --from-labels: the attribute classifier (default: {DEFAULT_CLASSIFIER})")
    add_force(parser)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    name = args.name or (args.plus if args.from_labels else "vector")
    out = output_path(args.out, f"{name}.npz", suffixes=(".npz",), force=args.force)
    G, meta, kind = load_generator(args)
    refuse_conditional(G, args, "it takes the attributes as labels, so it needs no attribute vector: change them with "
                                "minigan edit --set label=value")
    base = {"checkpoint": str(args.checkpoint), "generator": meta.get("generator"), "seed": args.seed, "noise": kind,
            "nz": G.nz,
            "epoch": meta.get("epoch"), "step": meta.get("step")}
    if args.from_labels:
        classifier = args.classifier or DEFAULT_CLASSIFIER
        clf, clf_meta = load_classifier(classifier, args.device)
        balance = [b.strip() for b in args.balance.split(",") if b.strip()]
        vector, counts = vector_from_labels(G, clf, args.attribute, args.plus, args.minus, args.n, args.seed,
                                            kind, clf_meta["vocab"], args.min_confidence, balance)
        info = {**base, "name": name, "method": "labels", "attribute": args.attribute, "plus": args.plus,
                "minus": args.minus, "n": args.n, "counts": counts, "classifier": classifier,
                "min_confidence": args.min_confidence, "balance": balance}
        how = (f"mean noise of {counts['plus']} idols classified {args.plus} minus that of {counts['minus']} "
               f"classified {args.minus} (of {args.n})")
        if balance:
            how += f", within {counts['strata']} {'/'.join(balance)} strata"
    else:
        plus, minus = parse_ints(args.plus, "--plus"), parse_ints(args.minus, "--minus")
        for side, values in (("--plus", plus), ("--minus", minus)):
            if len(set(values)) < MIN_EXEMPLARS:
                raise MiniganError(f"{side} needs at least {MIN_EXEMPLARS} different idols (got {len(set(values))}): "
                                   "one idol carries everything else it has along with the attribute; the "
                                   "mean of three or more keeps mostly what they share (the DCGAN paper's finding)")
        if set(plus) & set(minus):
            raise MiniganError(f"idols {sorted(set(plus) & set(minus))} are on both sides")
        vector = vector_from_exemplars(idol_noise(G.nz, plus, args.seed, kind),
                                       idol_noise(G.nz, minus, args.seed, kind))
        info = {**base, "name": name, "method": "exemplars", "plus_indices": plus, "minus_indices": minus}
        how = f"mean noise of idols {plus} minus that of {minus} (grid of seed {args.seed})"
    save_vector(out, vector, {**info, "norm": float(np.linalg.norm(vector))})
    print(f"wrote {out}: {how}; |vector| = {np.linalg.norm(vector):.2f}")
    return 0
