"""Command line: a thin layer over the Python API (``iqalign.pipeline``)."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path


def _list(value: str) -> list[str]:
    return [v for v in value.replace(",", " ").split() if v]


def _ints(value: str) -> list[int]:
    try:
        return [int(v) for v in _list(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like '1,3,5', got '{value}'") from None


class _Once(argparse.Action):
    """An option that may be given once: ``--conditions A --graph B`` (aliases) is an error, not "B wins"."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string}: a graph was already given ({getattr(namespace, self.dest)}); give one")
        setattr(namespace, self.dest, values)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", help="an image file, a folder (recursive), an ImageFolder tree (WordNet-id sub-folders; "
                                  "other class names with --source-kind imagefolder) or a CSV manifest (path, label)")
    p.add_argument("--out", required=True, help="results folder (a rerun with the same settings resumes)")
    p.add_argument("--metrics", type=_list, default=None, help="comma-separated metric names (default: all available)")
    p.add_argument("--references", type=_list, default=["efficientnet_lite0"],
                   help="reference models for task-guided metrics; several = population average")
    p.add_argument("--limit", type=int, default=None, help="use N evenly spaced images")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default: one per core)")
    p.add_argument("--source-kind", default="auto", choices=["auto", "folder", "imagefolder", "manifest"])
    p.add_argument("--engine", default="onnx", choices=["onnx", "torch", "ray"],
                   help="run models with ONNX Runtime (default; exported once, cached), PyTorch eager, or on Ray "
                        "(ONNX Runtime in Ray actors, same results as onnx; --workers = number of actors, default one "
                        "per CPU of the cluster; needs pip install 'iqalign[ray]')")
    p.add_argument("--ray-address", default=None,
                   help="with --engine ray: the Ray cluster to attach to (default: $RAY_ADDRESS; unset: start a local "
                        "instance). On a cluster the images must be at the same paths on every node")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    parser = argparse.ArgumentParser(prog="iqalign", description="Image quality aligned with DNN performance.")
    parser.add_argument("--version", action="version", version=f"iqalign {version('iqalign')}")
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("benchmark", help="intervene on imaging conditions and test metrics against models")
    _add_common(b)
    b.add_argument("--corruptions", type=_list, default=None, help="ImageNet-C corruption names (default: all 19)")
    b.add_argument("--severities", type=_ints, default=None,
                   help="severities 1-5 (default 1,3,5); clean (0) is always included")
    g = b.add_argument_group("condition graphs (in place of the corruption x severity grid; docs/condition-graphs.md)")
    g.add_argument("--conditions", "--graph", dest="graph", default=None, metavar="GRAPH", action=_Once,
                   help="a condition graph: a .yaml/.json file or a shipped example (outdoor_daylight, "
                        "low_light_indoor, compressed_web); each photo gets draws of the graph instead of the grid")
    g.add_argument("--samples-per-image", type=int, default=None, metavar="K",
                   help="draws of the graph per photo (default 3; >= 3 gives the within-photo scope)")
    g.add_argument("--intervene", action="append", default=None, metavar="NODE=VALUE",
                   help="do(NODE=VALUE) for the whole run, repeatable (--intervene illuminance=0.2 --intervene jpeg=0); "
                        "descendants respond through the graph, ancestors do not")
    g.add_argument("--no-node-effects", dest="node_effects", action="store_false",
                   help="skip the do(node=low)/do(node=high) contrast of every node (1 + 2 x nodes views per draw): "
                        "faster, but no node_effects.csv")
    g.add_argument("--node-contrast", choices=["spread", "range"], default="spread",
                   help="the two do() levels of each node's contrast: spread = the 10th and 90th percentiles of the "
                        "node's own draws (default: the variation it really has), range = the ends of its declared range")
    b.add_argument("--models", type=_list, default=["efficientnet_lite1", "efficientnet_lite2"], help="target models")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the intervals")

    s = sub.add_parser("score", help="score images with quality metrics (labels optional)")
    _add_common(s)
    from .audit import cli as audit_cli

    audit_cli.add_score_options(s)  # --group-by, --worst
    s.add_argument("--report", action="store_true",
                   help="also write OUT/report.html: one self-contained page (plots, worst images, config; docs/report.md)")
    s.add_argument("--benchmark", default=None, metavar="BENCH_DIR",
                   help="with --report: add this benchmark folder's alignment table, heat maps (or node effects) and "
                        "decomposition")
    s.add_argument("--jpeg-draft", action="store_true",
                   help="decode JPEGs with a short side >= 1024 px at reduced scale (about 4x faster on camera "
                        "photos; slightly different pixels, see docs/performance.md)")

    d = sub.add_parser("demo", help="a small benchmark on sample photos shipped by scikit-image / scikit-learn")
    d.add_argument("--out", default="iqalign-demo", help="results folder (default: ./iqalign-demo)")
    d.add_argument("--severities", type=_ints, default=[1, 3, 5])
    d.add_argument("--n-boot", type=int, default=500)
    d.add_argument("--quiet", action="store_true")

    m = sub.add_parser("simulate", help="a synthetic world where the causes are known: check the causal analysis")
    m.add_argument("--out", required=True, help="results folder (rows, alignment, sensitivity, decomposition)")
    m.add_argument("--n-images", type=int, default=300, help="source scenes, each under every condition")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--corruptions", type=_list, default=None,
                   help="blur, noise, contrast, jpeg, weather, tint (default: all six; tint never matters to the models)")
    m.add_argument("--severities", type=_ints, default=[1, 2, 3, 4, 5])
    m.add_argument("--image-size", type=int, default=32)
    m.add_argument("--n-train", type=int, default=5000, help="training scenes for the small task models")
    m.add_argument("--epochs", type=int, default=None)
    m.add_argument("--metrics", type=_list, default=None)
    m.add_argument("--n-boot", type=int, default=1000)
    m.add_argument("--n-perm", type=int, default=1000)
    m.add_argument("--threads", type=int, default=1, help="torch threads (results are reproducible per thread count)")
    m.add_argument("--quiet", action="store_true")

    a = sub.add_parser("analyse", help="recompute the analysis (alignment, sensitivity, decomposition) of a finished benchmark folder")
    a.add_argument("results", help="a benchmark --out folder (with rows.parquet and config.json)")
    a.add_argument("--n-boot", type=int, default=None, help="bootstrap resamples (default: as in the run)")

    _COMMANDS.update(audit_cli.register(sub))  # compare
    from .prior.cli import register as register_prior

    _COMMANDS.update(register_prior(sub))  # calibrate, predict
    from .reports import html_cli

    _COMMANDS.update(html_cli.register(sub))  # report

    for name, what in (("metrics", "quality metrics"), ("models", "task and reference models")):
        p = sub.add_parser(name, help=f"list {what} and whether they are available")
        p.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `iqalign metrics --json | head -1`: stop quietly, like other CLI tools
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        out = getattr(args, "out", None)
        print(f"\niqalign {args.command}: interrupted" + (f"; finished chunks are kept in {out}: rerun the same "
              "command to resume" if out else ""), file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"iqalign {args.command}: error: {message}", file=sys.stderr)
        return 2


def _benchmark(args) -> int:
    from .pipeline import BenchmarkConfig, run_benchmark

    config = BenchmarkConfig(source=args.images, out=args.out, corruptions=args.corruptions, severities=args.severities,
                             metrics=args.metrics, models=args.models, references=args.references, limit=args.limit,
                             seed=args.seed, n_boot=args.n_boot, workers=args.workers, source_kind=args.source_kind,
                             engine=args.engine, ray_address=args.ray_address, graph=args.graph,
                             samples_per_image=args.samples_per_image, interventions=args.intervene,
                             node_effects=args.node_effects, node_contrast=args.node_contrast)
    result = run_benchmark(config, quiet=args.quiet)
    _print_summary(result)
    return 0


def _print_summary(result) -> None:
    """Rows and problems, then the overview part of alignment.md (the full table stays in the file)."""
    out = result["out"]
    print(f"\nrows: {len(result['rows'])}  ->  {out / 'rows.parquet'}")
    if result["problems"]:
        print(f"problems: {len(result['problems'])} (listed in {out / 'problems.csv'})")
    text = (out / "alignment.md").read_text()
    print("\n" + text.split("\n## Full table")[0].rstrip())
    print(f"\nfull table with top-5, loss and Kendall's tau: {out / 'alignment.md'}")
    if "graph" in json.loads((out / "config.json").read_text()):
        effects = "effect of each graph node on every metric and model, " if (out / "node_effects.csv").is_file() else ""
        print(f"causal analysis ({effects}between/within-photo decomposition of the graph's draws): "
              f"{out / 'causal.md'}, " + ("node_effects.csv, " if effects else "") + "decomposition.csv, population.csv")
    elif (out / "causal.md").is_file():
        print(f"causal analysis (sensitivity per condition, between/within-photo decomposition): {out / 'causal.md'}, "
              "sensitivity.csv, decomposition.csv, population.csv")


def _score(args) -> int:
    from .audit import cli as audit_cli
    from .pipeline import ScoreConfig, run_score

    config = ScoreConfig(source=args.images, out=args.out, metrics=args.metrics, references=args.references,
                         limit=args.limit, workers=args.workers, source_kind=args.source_kind, engine=args.engine,
                         ray_address=args.ray_address, jpeg_draft=args.jpeg_draft, **audit_cli.score_config_kwargs(args))
    scores = run_score(config, quiet=args.quiet)["scores"]
    has_error = scores["error"].fillna("").astype(bool)
    metric_cols = [c for c in scores.columns if c not in ("path", "image_id", "label", "error")]
    no_value = scores[metric_cols].isna().all(axis=1) if metric_cols else has_error
    unusable, partial = int((has_error & no_value).sum()), int((has_error & ~no_value).sum())
    print(f"scored {len(scores) - unusable} of {len(scores)} images ({unusable} unusable, {partial} with a metric "
          f"undefined; reasons in the error column) -> {Path(args.out) / 'scores.parquet'}")
    numeric = scores.select_dtypes("number").drop(columns=["label"], errors="ignore")
    if len(numeric.columns):
        print(numeric.describe().T[["count", "mean", "std", "min", "50%", "max"]].to_string(float_format="%.4g"))
    print(f"distribution, percentiles and the worst images per metric: {Path(args.out) / 'summary.md'}")
    if args.report:
        from .reports.html_cli import write_report

        print(f"report: {write_report(args.out, args.benchmark)}")
    else:
        if args.benchmark:
            print("note: --benchmark is only used with --report", file=sys.stderr)
        if (Path(args.out) / "report.html").is_file():
            print(f"note: {Path(args.out) / 'report.html'} is from an earlier run; add --report to refresh it",
                  file=sys.stderr)
    return 0


def _demo(args) -> int:
    from .demo import write_demo_photos
    from .pipeline import BenchmarkConfig, run_benchmark

    out = Path(args.out)
    manifest = write_demo_photos(out / "photos")
    print(f"demo photos and labels: {manifest}")
    config = BenchmarkConfig(source=str(manifest), out=str(out), severities=args.severities, n_boot=args.n_boot)
    result = run_benchmark(config, quiet=args.quiet)
    _print_summary(result)
    return 0


def _simulate(args) -> int:
    from .simulate import SimulationConfig, run_simulation

    config = SimulationConfig(out=args.out, n_images=args.n_images, seed=args.seed, corruptions=args.corruptions,
                              severities=args.severities, image_size=args.image_size, n_train=args.n_train,
                              epochs=args.epochs, metrics=args.metrics, n_boot=args.n_boot, n_perm=args.n_perm,
                              threads=args.threads)
    run_simulation(config, quiet=args.quiet)
    print((Path(args.out) / "summary.md").read_text())
    return 0


def _analyse(args) -> int:
    from .pipeline.benchmark import reanalyse

    reanalyse(args.results, n_boot=args.n_boot)
    out = Path(args.results)
    print((out / "alignment.md").read_text().split("\n## Full table")[0].rstrip())
    names = ("alignment.csv", "alignment.md", "sensitivity.csv", "node_effects.csv", "decomposition.csv",
             "population.csv", "causal.md")
    print("\nwritten: " + ", ".join(str(out / n) for n in names if (out / n).is_file()))
    return 0


def _metrics(args) -> int:
    from .metrics.registry import list_metrics

    entries = [s.to_dict() for s in list_metrics()]
    _print_entries(entries, args.json, ["name", "family", "higher_is_better", "needs_labels", "version", "available"])
    return 0


def _models(args) -> int:
    from .models import available_models

    _print_entries(available_models(), args.json, ["name", "family", "input_size", "available"])
    return 0


def _print_entries(entries: list[dict], as_json: bool, columns: list[str]) -> None:
    if as_json:
        for e in entries:
            print(json.dumps(e, default=str))
        return
    widths = {c: max(len(c), *(len(str(e.get(c))) for e in entries)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns) + "  description / reason")
    for e in entries:
        note = e.get("reason") or e.get("description", "")
        print("  ".join(str(e.get(c)).ljust(widths[c]) for c in columns) + "  " + note)


_COMMANDS = {"benchmark": _benchmark, "score": _score, "demo": _demo, "simulate": _simulate, "analyse": _analyse, "metrics": _metrics, "models": _models}

if __name__ == "__main__":
    sys.exit(main())
