"""`iqalign calibrate` and `iqalign predict`: wired into iqalign.cli through :func:`register`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable


def _list(value: str) -> list[str]:
    return [v for v in value.replace(",", " ").split() if v]


def register(sub) -> dict[str, Callable]:
    """Add the ``calibrate`` and ``predict`` sub-commands to ``sub`` (argparse subparsers); return
    {command name: handler(args) -> exit code}."""
    c = sub.add_parser("calibrate", help="fit a performance prior: quality metric -> expected accuracy of a model")
    c.add_argument("results", help="a finished benchmark --out folder (rows.parquet, config.json)")
    c.add_argument("--model", required=True, help="target model of the benchmark (e.g. efficientnet_lite2)")
    c.add_argument("--metric", required=True, help="label-free quality metric (e.g. task_maxprob, brisque)")
    c.add_argument("--out", required=True, help="prior file to write (JSON)")
    c.add_argument("--target", default="top1", choices=["top1", "top5", "p_true"],
                   help="performance to predict (default top1: accuracy)")
    c.add_argument("--conditions", type=_list, default=None,
                   help="fit only on these condition keys, e.g. clean,fog@1,fog@3 (default: all rows; on a condition-graph "
                        "benchmark: graph, its observational draws)")
    c.add_argument("--n-boot", type=int, default=50,
                   help="photo-bootstrap fits stored with the prior for the prediction interval (0: none)")
    c.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("predict", help="expected accuracy of a model on unlabelled images, from a performance prior")
    p.add_argument("images", help="images (file, folder, ImageFolder tree, CSV manifest) or a `iqalign score` folder "
                                  "holding scores.parquet with the prior's metric")
    p.add_argument("--prior", required=True, help="prior file from `iqalign calibrate`")
    p.add_argument("--out", default=None, help="folder for the scores and prediction.json (default: scores in a "
                                              "temporary folder; prediction.json only with --json)")
    p.add_argument("--json", default=None, help="write the prediction here (default: OUT/prediction.json, or "
                                               "prediction.json in a given score folder)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for the interval")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="use N evenly spaced images")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default: one per core)")
    p.add_argument("--source-kind", default="auto", choices=["auto", "folder", "imagefolder", "manifest"])
    p.add_argument("--engine", default="onnx", choices=["onnx", "torch", "ray"])
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return {"calibrate": _calibrate, "predict": _predict}


def _calibrate(args) -> int:
    from .fit import fit_prior, save_prior

    if args.n_boot < 0:
        raise ValueError(f"--n-boot must be >= 0, got {args.n_boot}")
    prior = fit_prior(args.results, model=args.model, metric=args.metric, target=args.target,
                      conditions=args.conditions, n_boot=args.n_boot, seed=args.seed)
    path = save_prior(prior, args.out)
    cal = prior["calibration"]
    bp = prior["breakpoints"]
    print(f"prior for {prior['model']} {prior['target']} from {prior['metric']} "
          f"({'higher' if prior['metric_spec']['higher_is_better'] else 'lower'} is better): "
          f"{cal['n_rows']} rows, {cal['n_photos']} photos, {len(cal['conditions'])} conditions; "
          f"{len(bp['x'])} breakpoints, expected {prior['target']} {bp['y'][0]:.3f} (worst) to {bp['y'][-1]:.3f} (best); "
          f"{prior['bootstrap']['n_boot']} bootstrap fits -> {path}")
    return 0


def _predict(args) -> int:
    from .fit import load_prior
    from .predict import predict, summary_text

    if args.n_boot < 1:
        raise ValueError(f"--n-boot must be >= 1, got {args.n_boot}")
    prior = load_prior(args.prior)
    result = predict(args.images, prior, out=args.out, n_boot=args.n_boot, level=args.level, seed=args.seed,
                     workers=args.workers, limit=args.limit, source_kind=args.source_kind, engine=args.engine,
                     quiet=args.quiet)
    result["prior_file"] = str(Path(args.prior).resolve())
    target = args.json
    if target is None and args.out is not None:
        target = Path(args.out) / "prediction.json"
    elif target is None and result.get("scores") == str(Path(args.images)):
        target = Path(args.images) / "prediction.json"
    print(summary_text(result))
    if target is not None:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"-> {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m iqalign.prior.cli``) until iqalign.cli wires :func:`register`."""
    parser = argparse.ArgumentParser(prog="iqalign")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = register(sub)
    args = parser.parse_args(argv)
    try:
        return commands[args.command](args)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"iqalign {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
