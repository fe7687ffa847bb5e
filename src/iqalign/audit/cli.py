"""Command-line pieces of the audit: ``iqalign compare`` and the summary options of ``iqalign score``.

``iqalign/cli.py`` wires them in::

    from .audit import cli as audit_cli
    commands = audit_cli.register(sub)          # adds the "compare" subparser
    audit_cli.add_score_options(s)              # --group-by, --worst on the score subparser
    ScoreConfig(..., **audit_cli.score_config_kwargs(args))
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

__all__ = ["add_score_options", "compare_command", "register", "score_config_kwargs"]


def _list(value: str) -> list[str]:
    return [v for v in value.replace(",", " ").split() if v]


def _count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{value}'") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {n}")
    return n


def add_score_options(parser: argparse.ArgumentParser) -> None:
    """``--group-by COLS`` and ``--worst N`` for the ``score`` subparser."""
    parser.add_argument("--group-by", type=_list, default=None, metavar="COLS",
                        help="also summarise per group: 'class' (the label), 'folder' (the sub-folder of each image) "
                             "and/or columns of a CSV manifest, comma-separated (written to summary_quantiles.csv, "
                             "summary_histograms.csv, summary.md)")
    parser.add_argument("--worst", type=_count, default=10, metavar="N",
                        help="list the N lowest-quality images per metric in worst.csv (default 10)")


def score_config_kwargs(args: argparse.Namespace) -> dict:
    """The ScoreConfig fields set by :func:`add_score_options`' options."""
    return {"group_by": list(getattr(args, "group_by", None) or []), "worst_n": int(getattr(args, "worst", 10))}


def register(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add the ``compare`` subparser to ``sub`` (``add_subparsers()``'s result); return its handler."""
    c = sub.add_parser("compare", help="compare two scored datasets (e.g. training vs. production): shift of every "
                                       "metric, effect size, test, and expected accuracy under a prior")
    c.add_argument("a", help="score folder of dataset A (the reference, e.g. training data)")
    c.add_argument("b", help="score folder of dataset B (e.g. production images)")
    c.add_argument("--metrics", type=_list, default=None, help="comma-separated metrics (default: all in both folders)")
    c.add_argument("--prior", default=None, help="a performance prior (from `iqalign calibrate`): adds the expected "
                                                 "accuracy of A and B and its change")
    c.add_argument("--alpha", type=float, default=0.05, help="level for the verdict, on Holm-adjusted p (default 0.05)")
    c.add_argument("--out", default=None, help="also write the comparison to this JSON file")
    return {"compare": compare_command}


def _fmt(x, digits: int = 3) -> str:
    if isinstance(x, float):
        if x != x:
            return "-"
        return f"{x:.2g}" if 0 < abs(x) < 10 ** -digits else f"{x:.{digits}g}"
    return str(x)


def compare_command(args: argparse.Namespace) -> int:
    """``iqalign compare A B``: print the table (and write JSON with ``--out``)."""
    from .compare import compare_folders, comparison_json

    result = compare_folders(args.a, args.b, metrics=args.metrics, prior=args.prior, alpha=args.alpha)
    table = result["table"]
    print(f"A: {result['a']}\nB: {result['b']}\n")
    shown = table[["metric", "n_a", "n_b", "median_a", "median_b", "cliffs_delta", "magnitude", "smd",
                   "test", "p_mannwhitney", "p_wilcoxon", "p_holm", "p_ks", "direction", "verdict"]]
    cells = [list(shown.columns)] + [[_fmt(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    print("\ncliffs_delta = P(B > A) - P(B < A) in the metric's units; verdict uses its direction, "
          "the Holm-adjusted p of `test` (paired Wilcoxon when A and B hold the same photos, else Mann-Whitney) "
          "and |delta| >= 0.147")
    acc = result["expected_accuracy"]
    if acc is not None:
        a, b = acc["a"], acc["b"]
        print(f"\nexpected accuracy: A {a['estimate']:.3f} [{a['lo']:.3f}, {a['hi']:.3f}]  "
              f"B {b['estimate']:.3f} [{b['lo']:.3f}, {b['hi']:.3f}]  "
              f"change {acc['change']:+.3f} [{acc['change_lo']:+.3f}, {acc['change_hi']:+.3f}]")
    for note in result["notes"]:
        print(f"note: {note}")
    if args.out:
        out = Path(args.out)
        if out.is_dir():
            raise ValueError(f"--out {out} is a folder; name a .json file")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(comparison_json(result), indent=2))
        print(f"\nwritten: {out}")
    return 0
