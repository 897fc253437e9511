"""``python -m minigan evaluate``: measure a generator and print one JSON line of figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..backend import normalize_device
from ..data import load_dataset
from ..errors import MiniganError
from ..latent import load_vector
from ..metrics import (attribute_histogram_distance, class_shares, edit_success, frechet_distance_floor,
                       frechet_distance_of_features, label_control, label_set_quality, memorisation)
from ..models.classifier import DEFAULT_CLASSIFIER, classify, generate_and_classify, load_classifier, parse_target
from ..sampling import noise
from ..viz import attribute_chart, line_plot, nearest_pairs_picture, save_grid
from .args import (MAX_IDOLS, SEED, add_force, add_generator_arguments, attach_number_lists, is_conditional,
                   load_generator, make_parser, noise_size, output_folder, parse_floats, require_device, seeded_labels,
                   whole)

__all__ = ["main"]

#: What ``evaluate`` writes into its folder (any other file there is someone else's).
PICTURES = ("samples.png", "attributes.png", "nearest_pixels.png", "nearest_features.png", "edit_success.png",
            "figures.json")


def _vector_target(vector_meta: dict, target_text: str | None, vocab: dict) -> tuple[str, int]:
    if target_text:
        return parse_target(target_text, vocab)
    if vector_meta.get("attribute") and vector_meta.get("plus"):
        return parse_target(f"{vector_meta['attribute']}={vector_meta['plus']}", vocab)
    return parse_target(str(vector_meta.get("name", "")), vocab)


def _default_out(checkpoint: Path) -> Path:
    """``RUN/evaluation`` for a run folder, ``RUN/evaluation_epoch_010`` for ``RUN/checkpoints/epoch_010.npz``,
    ``evaluation_NAME`` next to any other checkpoint file."""
    if checkpoint.is_dir():
        return checkpoint / "evaluation"
    folder = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    return folder / f"evaluation_{checkpoint.stem}"


def _labels_in(G, real) -> np.ndarray:
    """The real images' labels ``(N, A)`` in the conditional generator's numbering (-1 for a value
    it lacks); a MiniganError when the real data lacks one of its labels."""
    columns = []
    for name in G.attributes:
        if name not in real.labels:
            raise MiniganError(f"the real images ({real.source}) have no label {name!r}, which the model is "
                               "conditioned on: give its training data with --data")
        renumber = np.array([G.vocab[name].index(v) if v in G.vocab[name] else -1 for v in real.vocab[name]])
        columns.append(renumber[real.labels[name]])
    return np.stack(columns, axis=1)


def main(argv=None) -> int:

    parser = make_parser(
        "evaluate",
        description="Measure a generator against the real idols with the attribute classifier and "
                    "print ONE JSON line of figures: fd (Frechet distance between the classifier "
                    "features of real and generated idols, lower is better; fd_real is the same "
                    "figure for held-apart real images, the floor), attributes (total variation "
                    "distance between the real and generated class histograms per attribute, 0 to 1), "
                    "memorisation (each sample's nearest training image in pixels and in features; "
                    "share_below is the share of near-copies, to compare with expected_share), and "
                    "with --vector, edit (the share of edited idols classified with the attribute and "
                    "the share that keep the others; the same for idols moved as far in a random "
                    "direction, the baseline). For a model trained with --condition, control: per conditioned "
                    "label and value, the share of idols set to that value that the classifier reads as it, "
                    "and the share whose other labels stay as they were (kept); and label_sets: per label value, the "
                    "Frechet distance of idols drawn with it against the real images that have it (fd_real: two "
                    "halves of those, the floor) and the histogram distance of the other attributes within it "
                    "(a collapse within a label set). Pictures go to --out.")
    add_generator_arguments(parser)
    parser.add_argument("--classifier", default=DEFAULT_CLASSIFIER,
                        help="the attribute classifier")
    parser.add_argument("--n", type=whole(2, MAX_IDOLS), default=1000, help="how many idols to generate")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of their noise")
    parser.add_argument("--data", default=None, help="the real images (default: the checkpoint's training data)")
    parser.add_argument("--vector", default=None, help="an attribute vector .npz: also measure its edit success")
    parser.add_argument("--target", default=None, help="what the vector should produce, ATTRIBUTE=CLASS (default: "
                                                       "from the vector file, e.g. hair_color=blond)")
    parser.add_argument("--strengths", default="0,0.5,1,1.5,2,2.5,3",
                        help="strengths for the edit success")
    parser.add_argument("--edit-n", type=whole(1, MAX_IDOLS), default=500,
                        help="idols edited for the edit success (and for a conditional model's control)")
    parser.add_argument("--set-n", type=whole(2, MAX_IDOLS), default=300,
                        help="a conditional model's idols per label set for label_sets (at most half the set's "
                             "real images: as many as the floor compares)")
    parser.add_argument("--set-min", type=whole(4, MAX_IDOLS), default=20,
                        help="label sets with fewer real images are left out of label_sets")
    parser.add_argument("--out", default=None,
                        help="folder for the pictures and figures.json (default: RUN/evaluation for a run folder, "
                             "RUN/evaluation_epoch_NNN for one of its checkpoints)")
    add_force(parser)
    args = parser.parse_args(attach_number_lists(argv))
    require_device(args.device)
    strengths = parse_floats(args.strengths, "--strengths")
    out = output_folder(args.out or _default_out(Path(args.checkpoint)), args.force, ours=lambda p: p.name in PICTURES)
    device = normalize_device(args.device)
    G, meta, noise_kind = load_generator(args)
    clf, clf_meta = load_classifier(args.classifier, device)
    vocab = clf_meta["vocab"]
    data = args.data or meta.get("config", {}).get("data", "idols")
    real = load_dataset(data)
    if real.images.shape[1] != clf.image_size:
        raise MiniganError(f"the real images are {real.images.shape[1]}x{real.images.shape[1]} but the classifier "
                           f"takes {clf.image_size}x{clf.image_size}")

    real_out = classify(clf, real.images, progress="classifying the real idols")
    z = noise(np.random.default_rng(args.seed), args.n, noise_size(G), noise_kind)  # (n, nz)
    if is_conditional(G):  # labels drawn as the training data mixes them
        z = G.inputs(z, seeded_labels(args, G, meta, args.n))
    fake_out, fake_images = generate_and_classify(G, clf, z, keep_images=True, progress="generating and classifying")
    fd = frechet_distance_of_features(real_out.features, fake_out.features)
    fd_real = frechet_distance_floor(real_out.features, args.n, args.seed)  # n real idols against the rest
    classes = {a: len(vocab[a]) for a in clf.heads}
    hist = attribute_histogram_distance(real_out.predictions, fake_out.predictions, classes)
    memo = memorisation(fake_images, fake_out.features, real.images, real_out.features, seed=args.seed, device=device)
    figures = {"checkpoint": str(args.checkpoint), "generator": meta.get("generator"), "epoch": meta.get("epoch"),
               "step": meta.get("step"),
               "n": args.n, "seed": args.seed, "fd": round(fd, 3), "fd_real": round(fd_real, 3),
               "attributes": hist, "memorisation": {"pixel": memo["pixel"], "feature": memo["feature"]}}

    out.mkdir(parents=True, exist_ok=True)
    save_grid(fake_images[:64], out / "samples.png", nrow=8, scale=2)
    shares = {name: {a: class_shares(o.predictions[a], k) for a, k in classes.items()}
              for name, o in (("real", real_out), ("generated", fake_out))}  # {series: {attribute: (K,)}}
    attribute_chart(shares, vocab, out / "attributes.png",
                    title=f"classified attributes: {len(real)} real vs {args.n} generated idols")
    nearest_pairs_picture(fake_images, real.images, memo["pixel_distances"], memo["pixel_indices"],
                          out / "nearest_pixels.png", threshold=memo["pixel"]["threshold"])
    nearest_pairs_picture(fake_images, real.images, memo["feature_distances"], memo["feature_indices"],
                          out / "nearest_features.png", threshold=memo["feature"]["threshold"])
    pictures = ["samples.png", "attributes.png", "nearest_pixels.png", "nearest_features.png"]

    if is_conditional(G):
        figures["control"] = label_control(G, clf, vocab, meta.get("labels"), n=args.edit_n, seed=args.seed + 1,
                                           noise_kind=noise_kind)
        figures["label_sets"] = label_set_quality(G, clf, real_out.features, real_out.predictions,
                                                  _labels_in(G, real), meta.get("labels"), n=args.set_n,
                                                  seed=args.seed + 2, noise_kind=noise_kind, min_real=args.set_min)
    if args.vector and is_conditional(G):
        raise MiniganError("--vector: a conditional model is steered by its labels (its figures include control); "
                           "attribute vectors are for the unconditional DCGAN")
    if args.vector:
        vec = load_vector(args.vector, G.nz)
        attribute, target = _vector_target(vec.meta, args.target, vocab)
        rows = edit_success(G, clf, vec.vector, attribute, target, strengths, n=args.edit_n, seed=args.seed + 1,
                            noise_kind=noise_kind)
        reaching = [r for r in rows if r["share_target"] >= 0.8]
        figures["edit"] = {"vector": str(args.vector), "attribute": attribute, "target": vocab[attribute][target],
                           "n": args.edit_n, "rows": rows,
                           "first_strength_reaching_80": reaching[0]["strength"] if reaching else None}
        xs = [r["strength"] for r in rows]
        line_plot([(f"share classified {vocab[attribute][target]}",
                    {"edited": (xs, [r["share_target"] for r in rows]),
                     "random direction": (xs, [r["share_target_random"] for r in rows])}),
                   ("share keeping each other attribute",
                    {**{a.replace("_", " "): (xs, [r["keep"][a] for r in rows]) for a in rows[0]["keep"]},
                     **{f"{a.replace('_', ' ')} (random)": (xs, [r["keep_random"][a] for r in rows])
                        for a in rows[0]["keep"]}})],
                  out / "edit_success.png", xlabel="strength",
                  title=f"edit success of {Path(args.vector).name} ('random': moved as far in a random direction)")
        pictures.append("edit_success.png")
    figures["pictures"] = [str(out / p) for p in pictures]
    (out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))
    return 0
