"""Make the model that ships with minigan (``--checkpoint pretrained``) from a finished run.

::

    python -m minigan classifier train                  # runs/classifier.npz, for the vectors and the FD
    python examples/bundle_pretrained.py --run runs/idols

It writes into ``minigan/pretrained/``:

* ``idols.npz``: the run's averaged generator alone (no discriminator, no optimiser state),
  its weights in float16 (7 MB instead of 14; the largest pixel difference this makes is
  printed and written into the card);
* ``vector_<name>.npz``: attribute vectors for the studio's sliders and ``--vector <name>``,
  built the blog's way (mean noise of idols the classifier labels with a hair colour minus
  the mean of the others; blond minus black-haired for ``blond``, as in the blog);
* ``MODEL_CARD.md``: the command and commit that trained it, its epochs and wall time, its
  Frechet distance (``minigan evaluate``), the vectors and how each was built.

The commands run are the ones a user would type; this script only chains them and writes
down what they printed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from minigan.checkpoint import PRETRAINED_FOLDER, load_checkpoint, load_generator, save_compact_generator
from minigan.cli import evaluate as evaluate_command
from minigan.cli import vector as vector_command
from minigan.data import to_images
from minigan.latent import load_vector
from minigan.sampling import generate, noise
from minigan.studio.web import model_id

# (name, plus, minus, n): the blog's blond vector, then each hair colour against the rest.
VECTORS = [("blond", "blond", "black", 10000)] + [
    (colour, colour, "rest", 10000) for colour in ("black", "brown", "red", "pink", "purple", "blue", "aqua", "silver")]


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_command(main, argv) -> str:
    """A minigan command's stdout (it exits with an error otherwise)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    if code:
        sys.exit(f"python -m minigan {' '.join(argv)} failed ({code})")
    return out.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--run", required=True, help="the finished run's folder")
    parser.add_argument("--classifier", default="runs/classifier.npz")
    parser.add_argument("--out", default=str(PRETRAINED_FOLDER), help="where the bundle goes")
    parser.add_argument("--trained-by", default=None,
                        help="the command that trained the run, for the card (default: from its config)")
    parser.add_argument("--trained-at", default=None, metavar="COMMIT",
                        help="the minigan commit the run was trained with (default: the commit checked out now)")
    args = parser.parse_args(argv)
    run, out = Path(args.run), Path(args.out)
    arrays, meta = load_checkpoint(run)
    config = meta["config"]
    G, _ = load_generator(run)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("vector_*.npz"):
        old.unlink()

    provenance = {"source_run": run.name, "source_epoch": meta["epoch"], "source_step": meta["step"],
                  "source_generator": "G_ema" if any(k.startswith("G_ema/") for k in arrays) else "G",
                  "commit": args.trained_at or git_commit(), "config": config}  # the config: its noise kind, its data
    model = out / "idols.npz"
    save_compact_generator(model, G, provenance)
    compact, _ = load_generator(model)
    z = noise(np.random.default_rng(0), 256, G.nz)
    pixels = np.abs(to_images(generate(G, z)).astype(int) - to_images(generate(compact, z)).astype(int))
    print(f"float16 weights: {pixels.mean():.4f} mean, {pixels.max()} largest pixel difference of 255 over 256 idols")

    with tempfile.TemporaryDirectory() as tmp:
        report = json.loads(run_command(evaluate_command.main, [
            "--checkpoint", str(model), "--classifier", args.classifier, "--n", "1000",
            "--out", str(Path(tmp) / "evaluate")]).strip().splitlines()[-1])
    print(f"FD {report['fd']:.1f} (floor {report['fd_real']:.1f})")

    vectors = []
    for name, plus, minus, n in VECTORS:
        path = out / f"vector_{name}.npz"
        run_command(vector_command.main, ["--checkpoint", str(model), "--from-labels", "--plus", plus, "--minus", minus,
                                          "--n", str(n), "--name", name, "--classifier", args.classifier,
                                          "--out", str(path), "--force"])
        v = load_vector(path)
        vectors.append((name, plus, minus, n, float(np.linalg.norm(v.vector)), v.meta))
        print(f"vector {name}: {plus} - {minus}, norm {vectors[-1][4]:.2f}")

    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    minutes = sum(r.get("seconds", 0) for r in log if r.get("type") == "epoch") / 60
    trained_by = args.trained_by or "python -m minigan train " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in sorted(config.items()) if k in ("epochs", "batch_size", "seed",
                                                                                 "ema_half_life"))
    size = sum(p.stat().st_size for p in [model, *out.glob("vector_*.npz")])
    card = [
        "# minigan's bundled model: `--checkpoint pretrained`", "",
        "The generator that `python -m minigan studio` opens and every command draws from with",
        "`--checkpoint pretrained`. Made by `examples/bundle_pretrained.py`; the figures below are what it",
        "measured and printed.", "",
        "| | |", "|---|---|",
        f"| model id (the studio's `m=`) | `{model_id(compact)}` |",
        f"| trained by | `{trained_by}` |",
        f"| minigan commit it was trained with | `{provenance['commit']}` (bundled at `{git_commit()}`) |",
        f"| data | {'the built-in procedural idols (seed 0)' if config.get('data') in (None, '', 'idols') else config['data']} |",
        f"| epochs, steps | {meta['epoch']}, {meta['step']} (batch {config['batch_size']}) |",
        f"| training time | {minutes:.0f} minutes on the machine that trained it (2-core AMD EPYC) |",
        f"| generator | the moving average of G's weights (half-life {config.get('ema_half_life', 0):,g} images, "
        "at most 5 % of the images seen so far), "
        f"{sum(a.size for k, a in arrays.items() if k.startswith('G_ema/')):,} numbers |",
        f"| stored as | float16, {model.stat().st_size / 1e6:.2f} MB; against float32, pixels differ by "
        f"{pixels.mean():.4f}/255 on average and at most {pixels.max()}/255 (256 idols) |",
        f"| Frechet distance | {report['fd']:.1f} in the attribute classifier's features, 1,000 idols against "
        f"the real ones (floor {report['fd_real']:.1f}; `minigan evaluate`) |",
        "| attribute histograms (TV) | " + ", ".join(f"{k} {v:.2f}" for k, v in report["attributes"].items()) + " |",
        f"| everything bundled | {size / 1e6:.2f} MB |", "",
        "## Attribute vectors", "",
        "Each one is `python -m minigan vector --checkpoint pretrained --from-labels --plus P --minus M --n N`",
        "with the attribute classifier: the mean noise of idols classified P minus the mean of those",
        "classified M (`rest`: every other colour), the blog's recipe. Chapter 12 of the tutorial measures",
        "what such vectors do and what they cost (hair colour and hair style are tied in this noise space).", "",
        "| name | plus | minus | idols sampled | norm |", "|---|---|---|---|---|",
        *[f"| `{name}` | {plus} | {minus} | {n:,} | {norm:.2f} |" for name, plus, minus, n, norm, _ in vectors], "",
        "Use them as `--vector blond` with `--checkpoint pretrained` (a bare name is a bundled vector).", "",
    ]
    (out / "MODEL_CARD.md").write_text("\n".join(card))
    card_meta = {"epochs": meta["epoch"], "fd": round(report["fd"], 1), "trained_by": trained_by,
                 "name": "minigan idols", "commit": provenance["commit"]}
    save_compact_generator(model, G, {**provenance, "card": card_meta})  # the card's figures travel with the weights
    print(f"wrote {out} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
