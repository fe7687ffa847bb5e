"""``iqalign report``: the self-contained HTML report of a score folder (docs/report.md).

``iqalign/cli.py`` wires it in::

    from .reports import html_cli
    _COMMANDS.update(html_cli.register(sub))        # adds the "report" subparser
    html_cli.write_report(out_dir, benchmark_dir)   # e.g. after `iqalign score --report`
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

__all__ = ["register", "report_command", "write_report"]


def write_report(score_dir, benchmark_dir=None, out=None) -> Path:
    """Write the report of ``score_dir`` (default ``SCORE_DIR/report.html``) and return its path."""
    from .html import write_report as _write

    return _write(score_dir, benchmark_dir, out)


def register(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add the ``report`` subparser to ``sub`` (``add_subparsers()``'s result); return its handler."""
    r = sub.add_parser("report", help="write one self-contained HTML report (plots, worst images, alignment) "
                                      "of a score folder, optionally with a benchmark folder")
    r.add_argument("score_dir", help="a `iqalign score` output folder (scores.parquet, config.json, summaries)")
    r.add_argument("--benchmark", default=None, metavar="BENCH_DIR",
                   help="a `iqalign benchmark` output folder: adds the alignment table, sensitivity heat maps (or, "
                        "for a condition-graph benchmark, the node effects) and the between/within decomposition")
    r.add_argument("--out", default=None, metavar="FILE.html", help="report file (default: SCORE_DIR/report.html)")
    return {"report": report_command}


def report_command(args: argparse.Namespace) -> int:
    path = write_report(args.score_dir, args.benchmark, args.out)
    size = path.stat().st_size
    print(f"report: {path} ({size / 1e6:.1f} MB)")
    return 0
