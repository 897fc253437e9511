"""``python -m minigan classifier train|info``: the attribute classifier that vectors and
metrics use."""

from __future__ import annotations

import json

from ..backend import get_cupy, normalize_device
from ..data import idols_seed, load_dataset
from ..data.idols import load_casts
from ..errors import MiniganError
from ..models.classifier import (CLASSIFIER_ATTRIBUTES, DEFAULT_CLASSIFIER, load_classifier, save_classifier,
                                 train_classifier)
from .args import SEED, HelpFormatter, add_force, make_parser, output_path, real, whole

__all__ = ["main"]


def main(argv=None) -> int:
    parser = make_parser(
        "classifier",
        description="The attribute classifier: a small convolutional network with one head per "
                    "attribute (hair colour, hair style, eye colour), trained on the built-in idol "
                    "set's labels (or, with --attributes, any labels of a --data folder's labels.csv). "
                    "`minigan vector --from-labels` uses it to find which generated "
                    "idols are blond, and `minigan evaluate` for its Frechet distance, attribute "
                    "histograms and memorisation check.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="{train,info}")
    train = sub.add_parser("train", formatter_class=HelpFormatter, help="train the classifier and print its held-out accuracy",
                           description="Train the attribute classifier on labelled idols with a held-out "
                                       "split, print the held-out accuracy per attribute, and save it.")
    train.add_argument("--out", default=DEFAULT_CLASSIFIER, help="where to save it")
    train.add_argument("--data", default="idols", help="labelled data: 'idols', 'idols:SEED', or a folder with a "
                                                          "labels.csv (give its labels with --attributes)")
    train.add_argument("--attributes", default=",".join(CLASSIFIER_ATTRIBUTES),
                       help="the labels it learns, one head each (a comma list): the built-in set's three by default; "
                            "for a folder, columns of its labels.csv (e.g. group,subgroup), whose features then give "
                            "evaluate a Frechet distance for that data")
    train.add_argument("--casts", type=whole(1, 64), default=1,
                       help="train on this many casts of the built-in set (seeds SEED, SEED+1, ...), so that the "
                            "classifier reads each label itself instead of recognising the 203 characters: what "
                            "evaluate's control of a conditional model needs for unseen label combinations")
    train.add_argument("--epochs", type=whole(1, 10_000), default=8, help="passes over the training images")
    train.add_argument("--batch-size", type=whole(1, 4096), default=64, help="images per step")
    train.add_argument("--lr", type=real(0, 1, low_open=True), default=2e-3, help="Adam's learning rate at the start; it decays "
                                                               "to 0 along a cosine")
    train.add_argument("--width", type=whole(1, 512), default=8, help="channels of the first convolution")
    train.add_argument("--features", type=whole(1, 4096), default=128, help="size of the feature vector")
    train.add_argument("--holdout", type=real(0, 1, high_open=True), default=0.15,
                       help="share held out to measure accuracy")
    train.add_argument("--split", choices=("image", "character"), default="image",
                       help="hold out random images (image) or every image of random characters "
                            "(harder: those idols are never seen)")
    train.add_argument("--no-augment", action="store_true", help="train without zoom/rotation/flip augmentation")
    train.add_argument("--seed", type=SEED, default=0, help="seed of the split, weights and batches")
    train.add_argument("--device", default="cpu", help="cpu or gpu")
    add_force(train)
    info = sub.add_parser("info", formatter_class=HelpFormatter, help="print a saved classifier's settings and held-out accuracy")
    info.add_argument("--classifier", default=DEFAULT_CLASSIFIER,
                      help="the classifier")
    args = parser.parse_args(argv)

    if args.action == "info":
        clf, meta = load_classifier(args.classifier)
        print(f"{args.classifier}: {clf!r}, {clf.num_parameters()} parameters")
        print(json.dumps({k: meta[k] for k in ("training", "dataset") if k in meta}, indent=2))
        return 0

    attributes = [a.strip() for a in args.attributes.split(",") if a.strip()]
    if not attributes or len(set(attributes)) != len(attributes):
        raise MiniganError(f"--attributes {args.attributes!r}: give one or more different labels, e.g. "
                           f"{','.join(CLASSIFIER_ATTRIBUTES)}", argument="attributes")
    out = output_path(args.out, "classifier.npz", suffixes=(".npz",), force=args.force)
    if normalize_device(args.device) == "gpu":
        get_cupy()  # fail now, with the install hint, not after loading the data
    if args.casts > 1:
        first = idols_seed(args.data)
        if first is None:
            raise MiniganError("--casts is for the built-in set: --data idols or idols:SEED", argument="casts")
        dataset = load_casts(range(first, first + args.casts), verbose=True)
    else:
        dataset = load_dataset(args.data)
    print(f"training the attribute classifier on {len(dataset)} images of {dataset.source} "
          f"({', '.join(attributes)}), {args.epochs} epochs")
    clf, report = train_classifier(dataset, attributes, epochs=args.epochs, batch_size=args.batch_size,
                                   lr=args.lr, width=args.width, feature_dim=args.features, holdout=args.holdout,
                                   split=args.split, seed=args.seed, augment=not args.no_augment, device=args.device)
    save_classifier(out, clf, dataset.vocab,
                    {"training": report, "dataset": {"source": dataset.source, "images": len(dataset)}})
    print(f"trained in {report['seconds']:.0f} s; saved to {out}")
    if "held_out_accuracy" in report:
        accuracies = "  ".join(f"{a} {v:.1%}" for a, v in report["held_out_accuracy"].items())
        print(f"held-out accuracy ({report['held_out_images']} images, split by {args.split}): {accuracies}")
    return 0
