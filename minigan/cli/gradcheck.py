"""``python -m minigan gradcheck``: every layer's backward pass against finite differences."""

from __future__ import annotations

from ..gradcheck import check_layer, layer_cases
from .args import make_parser, real

__all__ = ["main"]


def main(argv=None) -> int:
    """Print every layer's worst relative gradient error; exit status 1 if any check fails."""
    parser = make_parser(
        "gradcheck",
        description="Check every minigan layer's backward pass against central differences in "
                    "float64 and print the worst relative error of each input and parameter.")
    parser.add_argument("--tol", type=real(0, 1, low_open=True), default=1e-6, help="largest relative error accepted")
    args = parser.parse_args(argv)

    width = 52
    print(f"{'layer':<{width}} {'tensor':<10} {'max rel. error':>14}  result")
    print("-" * (width + 36))
    failed = 0
    for title, layer, x in layer_cases():
        result = check_layer(layer, x, tol=args.tol)
        for i, c in enumerate(result.checks):
            tensor = c.name if len(c.name) <= 10 else "…" + c.name[-9:]
            kind = " (dir)" if c.directional else ""
            status = "ok" if c.max_rel_error <= args.tol else "FAIL"
            print(f"{title if i == 0 else '':<{width}} {tensor:<10} {c.max_rel_error:>14.2e}  {status}{kind}")
        failed += not result.ok
    print("-" * (width + 36))
    print("all gradients agree" if not failed else f"{failed} layer(s) FAILED")
    return 1 if failed else 0
