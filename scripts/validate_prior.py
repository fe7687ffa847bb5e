"""Validate the performance prior on held-out photos under imaging conditions never used for fitting.

    nice -n 10 python scripts/validate_prior.py [--fit runs/imagenet-200-s5] [--out runs/prior-validation] \
        [--doc docs/results/prior_validation.md]

Fit: the rows of a finished benchmark (default runs/imagenet-200-s5: 200 of the 800 ImageNet-sample photos,
clean + 19 corruptions x severities 1-5) for efficientnet_lite2 top-1, one prior per metric (task_maxprob,
task_negentropy from the reference efficientnet_lite0; brisque for contrast). The main prior ("A") uses only
the clean rows and severities 1, 3 and 5; prior "B" uses every row (severities 2 and 4 too).

Evaluate: the photos of labels.csv that are NOT in the fitting rows (600), each set a different mixture of
conditions (corruption seeds differ from the benchmark's): severities 2/4 (never fitted by A), random mixtures,
compositions of two corruptions, pixel blends of adjacent severities (between-severity conditions), a 50 %
clean / 50 % severity-5 split, and single-corruption sets. For each set: measured top-1 of efficientnet_lite2
(labels known) vs. the prior's prediction from the metric alone, its 95 % interval, the error.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from iqalign.interventions import CORRUPTIONS, Condition, apply_condition
from iqalign.metrics.registry import get_metric
from iqalign.models import load_for_inference, performance
from iqalign.prior import fit_prior, predict_from_values, save_prior
from iqalign.sources import discover, load_view

MODEL, REFERENCE = "efficientnet_lite2", "efficientnet_lite0"
METRICS = ("task_maxprob", "task_negentropy", "brisque")
SEED = 12345  # corruption seeds: not the benchmark's (0)


def _single(rng, severities, corruptions=CORRUPTIONS):
    return [("single", str(rng.choice(corruptions)), int(rng.choice(severities)))]


def eval_sets(rng) -> dict[str, tuple[str, callable]]:
    """name -> (description, recipe(rng) -> list of steps). A step: (kind, corruption, severity)."""
    two = lambda r: [("single", c, int(r.integers(1, 4))) for c in r.choice(CORRUPTIONS, 2, replace=False)]
    return {
        "clean": ("no corruption", lambda r: []),
        "sev2or4": ("one random corruption (of 19) at severity 2 or 4: severities prior A never saw",
                    lambda r: _single(r, [2, 4])),
        "mix_all": ("30 % clean, 70 % one random corruption at a random severity 1-5",
                    lambda r: [] if r.random() < 0.3 else _single(r, [1, 2, 3, 4, 5])),
        "compose2": ("two different random corruptions applied in sequence, each at severity 1-3",
                     two),
        "between": ("pixel average of one random corruption at severities s and s+1 (s = 1-4): "
                    "between-severity strength", lambda r: [("blend", str(r.choice(CORRUPTIONS)), int(r.integers(1, 5)))]),
        "clean_or_s5": ("50 % clean, 50 % one random corruption at severity 5",
                        lambda r: [] if r.random() < 0.5 else _single(r, [5])),
        "mild": ("one random corruption at severity 1 or 2 (a mostly good dataset)",
                 lambda r: _single(r, [1, 2])),
        "noise24": ("gaussian_noise at severity 2 or 4", lambda r: _single(r, [2, 4], ["gaussian_noise"])),
        "fog24": ("fog at severity 2 or 4", lambda r: _single(r, [2, 4], ["fog"])),
        "motion24": ("motion_blur at severity 2 or 4", lambda r: _single(r, [2, 4], ["motion_blur"])),
        "jpeg24": ("jpeg_compression at severity 2 or 4", lambda r: _single(r, [2, 4], ["jpeg_compression"])),
        "contrast24": ("contrast at severity 2 or 4", lambda r: _single(r, [2, 4], ["contrast"])),
    }


def apply_steps(view: np.ndarray, steps, image_id: str) -> np.ndarray:
    for i, (kind, corruption, severity) in enumerate(steps):
        key = f"{image_id}|step{i}"
        if kind == "single":
            view = apply_condition(view, Condition(corruption, severity), seed=SEED, image_id=key)
        else:  # blend of adjacent severities
            a = apply_condition(view, Condition(corruption, severity), seed=SEED, image_id=key).astype(np.float32)
            b = apply_condition(view, Condition(corruption, severity + 1), seed=SEED, image_id=key).astype(np.float32)
            view = np.clip(np.rint((a + b) / 2), 0, 255).astype(np.uint8)
    return view


def measure(source: str, fit_ids: set[str], out: Path, limit: int | None, seed: int) -> pd.DataFrame:
    cache = out / "views.parquet"
    records, _ = discover(source)
    held = [r for r in records if r.image_id not in fit_ids and r.label is not None]
    if limit:
        held = held[:limit]
    print(f"held-out photos: {len(held)} (fit photos: {len(fit_ids)})", file=sys.stderr)
    key = {"seed": seed, "corruption_seed": SEED, "sets": list(eval_sets(None)), "photos": sorted(r.image_id for r in held)}
    key_path = out / "views_key.json"
    if cache.is_file() and key_path.is_file() and json.loads(key_path.read_text()) == key:
        print(f"reusing {cache} (same photos, sets and seeds)", file=sys.stderr)
        return pd.read_parquet(cache)
    lite2, lite0 = load_for_inference(MODEL), load_for_inference(REFERENCE)
    brisque = get_metric("brisque").image_fn
    task = {m: get_metric(m).task_fn for m in METRICS if get_metric(m).task_fn is not None}
    bases = {r.image_id: load_view(r.path) for r in held}
    frames = []
    for set_index, (name, (what, recipe)) in enumerate(eval_sets(None).items()):
        t0 = time.time()
        rng = np.random.default_rng([seed, set_index])
        meta, views = [], []
        for r in held:
            steps = recipe(rng)
            views.append(apply_steps(bases[r.image_id], steps, f"{name}|{r.image_id}"))
            meta.append({"set": name, "image_id": r.image_id, "label": r.label,
                         "steps": " + ".join(f"{c}@{s}" if k == "single" else f"{c}@{s}.5" for k, c, s in steps) or "clean"})
        frame = pd.DataFrame(meta)
        labels = frame["label"].to_numpy(dtype=np.int64)
        perf = performance(lite2.predict_proba(views), labels)
        frame[f"{MODEL}.top1"] = perf["top1"]
        probs0 = lite0.predict_proba(views)
        for m, fn in task.items():
            frame[m] = fn(probs0, None)
        frame["brisque"] = [brisque(v) for v in views]
        frames.append(frame)
        print(f"  {name}: {len(views)} views, measured top-1 {frame[f'{MODEL}.top1'].mean():.3f} "
              f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    frame = pd.concat(frames, ignore_index=True)
    frame.to_parquet(cache, index=False)
    key_path.write_text(json.dumps(key))
    return frame


def bootstrap_mean(values: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    return tuple(float(v) for v in np.quantile(draws, [0.025, 0.975]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--fit", default=str(root / "runs/imagenet-200-s5"), help="benchmark folder to fit on")
    ap.add_argument("--source", default=None, help="labels.csv of the photos (default: the benchmark's source)")
    ap.add_argument("--out", default=str(root / "runs/prior-validation"))
    ap.add_argument("--doc", default=str(root / "docs/results/prior_validation.md"))
    ap.add_argument("--limit", type=int, default=None, help="first N held-out photos (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    fit_dir = Path(args.fit)
    config = json.loads((fit_dir / "config.json").read_text())
    source = args.source or config["config"]["source"]
    rows = pd.read_parquet(fit_dir / "rows.parquet", columns=["image_id", "condition", "severity"])
    fit_ids = set(rows["image_id"])
    conds_a = sorted(rows.loc[rows["severity"].isin([0, 1, 3, 5]), "condition"].unique())
    priors = {}
    for metric in METRICS:
        for tag, conds in (("A", conds_a), ("B", None)):
            prior = fit_prior(fit_dir, model=MODEL, metric=metric, conditions=conds, n_boot=50, seed=args.seed)
            save_prior(prior, out / f"prior_{metric}_{tag}.json")
            priors[(metric, tag)] = prior
    print(f"fitted {len(priors)} priors ({time.time() - t_start:.0f} s)", file=sys.stderr)

    views = measure(source, fit_ids, out, args.limit, args.seed)
    results = []
    sets = eval_sets(None)
    for name, group in views.groupby("set", sort=False):
        y = group[f"{MODEL}.top1"].to_numpy(dtype=float)
        measured = float(y.mean())
        m_lo, m_hi = bootstrap_mean(y)
        for (metric, tag), prior in priors.items():
            pred = predict_from_values(prior, group[metric].to_numpy(), n_boot=2000, seed=args.seed)
            lo, hi = pred["interval"]
            results.append({"set": name, "description": sets[name][0], "n": len(group), "measured": measured,
                            "measured_lo": m_lo, "measured_hi": m_hi, "metric": metric, "prior": tag,
                            "predicted": pred["prediction"], "lo": lo, "hi": hi,
                            "error": pred["prediction"] - measured, "covered": bool(lo <= measured <= hi)})
    table = pd.DataFrame(results)
    table.to_csv(out / "results.csv", index=False)
    # the same shrinkage on the fitting rows themselves (prior B applied to its own rows, by severity)
    fit_rows = pd.read_parquet(fit_dir / "rows.parquet", columns=["severity", METRICS[0], f"{MODEL}.top1"])
    insample = [{"severity": int(sev), "n": len(g), "measured": float(g[f"{MODEL}.top1"].mean()),
                 "predicted": predict_from_values(priors[(METRICS[0], "B")], g[METRICS[0]].to_numpy(), n_boot=1)["prediction"]}
                for sev, g in fit_rows.groupby("severity")]
    elapsed = time.time() - t_start
    doc = render(table, priors, config, fit_dir, source, len(fit_ids), views["image_id"].nunique(), elapsed, args,
                 pd.DataFrame(insample))
    Path(args.doc).write_text(doc)
    print(doc)
    print(f"written: {args.doc}, {out / 'results.csv'} ({elapsed:.0f} s)", file=sys.stderr)
    return 0


def render(table, priors, config, fit_dir, source, n_fit, n_held, elapsed, args, insample) -> str:
    a = table[table["prior"] == "A"]
    lines = [
        "# Performance prior: predicted vs. measured accuracy on held-out photos",
        "",
        f"Can the accuracy of {MODEL} on an unlabelled dataset be predicted from a quality metric alone? A prior "
        f"(`iqalign calibrate`, isotonic regression of top-1 correctness on the metric) is fitted on the benchmark rows of "
        f"{n_fit} photos and used (`iqalign.prior.predict_from_values`, the computation behind `iqalign predict`) on the "
        f"other {n_held} photos of the 800-photo ImageNet sample, under mixtures of conditions the fit never saw. The "
        "measured accuracy comes from the labels, which the prediction never reads.",
        "",
        "Reproduce (about 6 minutes on 2 CPU cores; the held-out views' measurements are cached in "
        "`runs/prior-validation/views.parquet`, so a rerun with the same photos, sets and seeds takes seconds):",
        "",
        "```bash",
        "iqalign benchmark ../shared/data/imagenet-sample/labels.csv --out runs/imagenet-200-s5 --limit 200 \\",
        "    --severities 1,2,3,4,5 --models efficientnet_lite1,efficientnet_lite2 --references efficientnet_lite0",
        "nice -n 10 python scripts/validate_prior.py --fit runs/imagenet-200-s5",
        "```",
        "",
        "The same prior from the command line, and its use on an unlabelled folder:",
        "",
        "```bash",
        "iqalign calibrate runs/imagenet-200-s5 --model efficientnet_lite2 --metric task_maxprob --out lite2_maxprob.json",
        "iqalign predict my_photos/ --prior lite2_maxprob.json --out runs/my_photos_pred   # prints; writes prediction.json",
        "```",
        "",
        "## Setup",
        "",
        f"- fitting rows: `{fit_dir.name}` ({n_fit} photos, `--limit 200` evenly spaced over the 800, benchmark seed "
        f"{config['config'].get('seed')}); prior **A** uses only the clean rows and severities 1, 3, 5 "
        f"({priors[(METRICS[0], 'A')]['calibration']['n_rows']} rows), prior **B** all rows with severities 1-5 "
        f"({priors[(METRICS[0], 'B')]['calibration']['n_rows']} rows). Target: `{MODEL}.top1`.",
        f"- metrics: `task_maxprob` and `task_negentropy` read from the reference {REFERENCE} (never the model under "
        "test), `brisque` (classic, lower is better) for contrast.",
        f"- held-out: the {n_held} photos of `{Path(source).name}` not in the fitting rows; every set below corrupts each "
        f"of them once, with corruption seeds unlike the benchmark's (seed {SEED}).",
        "- interval: 95 % percentile bootstrap over the held-out images, each resample paired with one of 50 "
        "photo-bootstrap refits of the prior (so it covers the sampling of the new images and of the calibration "
        "photos, not a shift of conditions). `in?`: the measured accuracy lies in it.",
        "",
        "## Evaluation sets",
        "",
        "| set | conditions |",
        "|---|---|",
    ]
    for name, what in table.drop_duplicates("set")[["set", "description"]].itertuples(index=False):
        lines.append(f"| {name} | {what} |")
    lines += ["", f"## Prior A (fitted without severities 2 and 4): predicted vs. measured top-1 of {MODEL}", ""]
    head = "| set | n | measured [95 % CI] | " + " | ".join(f"{m}: predicted [interval] | error | in?" for m in METRICS) + " |"
    lines += [head, "|---|---|---|" + "---|---|---|" * len(METRICS)]
    for name, g in a.groupby("set", sort=False):
        r0 = g.iloc[0]
        cells = [name, str(int(r0["n"])), f"{r0['measured']:.3f} [{r0['measured_lo']:.3f}, {r0['measured_hi']:.3f}]"]
        for m in METRICS:
            r = g[g["metric"] == m].iloc[0]
            cells += [f"{r['predicted']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]", f"{r['error']:+.3f}", "yes" if r["covered"] else "no"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Summary of absolute errors", "",
              "| metric | prior | mean abs error | median | max | RMSE | intervals holding the measured value |",
              "|---|---|---|---|---|---|---|"]
    for (m, tag), g in table.groupby(["metric", "prior"], sort=False):
        e = g["error"].abs()
        lines.append(f"| {m} | {tag} | {e.mean():.3f} | {e.median():.3f} | {e.max():.3f} | "
                     f"{np.sqrt((g['error'] ** 2).mean()):.3f} | {int(g['covered'].sum())}/{len(g)} |")
    mixed = ["clean", "sev2or4", "mix_all", "compose2", "between", "clean_or_s5", "mild"]
    for m in METRICS:
        g = a[(a["metric"] == m) & a["set"].isin(mixed)]
        lines.append("")
        lines.append(f"- `{m}`, prior A, the {len(g)} mixed sets (all but the single-corruption ones): mean abs error "
                     f"{g['error'].abs().mean():.3f}, max {g['error'].abs().max():.3f}.")
    lines += ["", "## Prior B (all severities) for comparison", "",
              "| set | measured | " + " | ".join(f"{m} predicted (error)" for m in METRICS) + " |",
              "|---|---|" + "---|" * len(METRICS)]
    for name, g in table[table["prior"] == "B"].groupby("set", sort=False):
        cells = [name, f"{g.iloc[0]['measured']:.3f}"]
        for m in METRICS:
            r = g[g["metric"] == m].iloc[0]
            cells.append(f"{r['predicted']:.3f} ({r['error']:+.3f})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"## The same prior on its own fitting rows ({METRICS[0]}, prior B, by severity)", "",
              "| severity | rows | measured | predicted | error |", "|---|---|---|---|---|"]
    for r in insample.itertuples(index=False):
        lines.append(f"| {r.severity} | {r.n} | {r.measured:.3f} | {r.predicted:.3f} | {r.predicted - r.measured:+.3f} |")
    mp = a[a["metric"] == METRICS[0]].set_index("set")
    mixed_mp = mp.loc[[m for m in mixed if m in mp.index]]
    single = mp.loc[[m for m in mp.index if m not in mixed]]
    br = a[(a["metric"] == "brisque")]
    lines += ["", "## Reading", "",
              f"- **Mixed datasets are predicted within a few points.** With `{METRICS[0]}` (prior A), the {len(mixed_mp)} "
              f"mixed held-out sets are predicted with a mean absolute error of {mixed_mp['error'].abs().mean():.3f} "
              f"(max {mixed_mp['error'].abs().max():.3f}); the sets whose mixture of conditions resembles the benchmark's "
              "(random corruption at severities 2/4 that prior A never saw, random mixtures, between-severity blends, "
              "50 % clean / 50 % severity 5) within about 0.04. `task_negentropy` does the same; leaving severities 2 "
              "and 4 out of the fit (A vs. B) changes nothing measurable.",
              f"- **The prior shrinks toward the benchmark's mixture.** It is E[top-1 | Q] pooled over the benchmark's "
              "conditions, and at equal reference confidence a clean image is more often right than a corrupted one. So an "
              f"all-clean dataset is under-predicted ({mp.loc['clean', 'error']:+.3f}), mildly corrupted ones too "
              f"({mp.loc['mild', 'error']:+.3f}), and the hardest set, two corruptions composed, is over-predicted "
              f"({mp.loc['compose2', 'error']:+.3f}). The table above shows the same shrinkage on the fitting rows "
              "themselves, so it is a property of a one-number prior, not of the photo split.",
              f"- **One corruption across the whole dataset** carries that corruption's own bias: errors "
              f"{', '.join(f'{n} {e:+.3f}' for n, e in single['error'].items())} (mean absolute "
              f"{single['error'].abs().mean():.3f}).",
              f"- **The interval is not the error bar.** It covers the sampling of the images and of the calibration photos "
              f"and holds the measured value in {int(mp['covered'].sum())}/{len(mp)} sets: the rest of the error is the shift "
              "between the new conditions and the benchmark's. Documented error for this prior: about "
              f"±{mixed_mp['error'].abs().mean():.2f} on average, up to ±{mp['error'].abs().max():.2f} for a dataset at one "
              "extreme of the conditions (all clean, heavily composed); add it to the interval.",
              f"- **BRISQUE is a poor prior** (mean absolute error {br['error'].abs().mean():.3f}, clean "
              f"{br.set_index('set').loc['clean', 'error']:+.3f}): its map from quality to accuracy is flat, so every dataset "
              "is predicted near the benchmark's average.",
              "",
              f"Raw numbers: `{Path(args.out).name}/results.csv` (per set, metric and prior) and "
              f"`{Path(args.out).name}/views.parquet` (per held-out view: set, conditions, label, top-1, metric values); "
              "the priors as `prior_METRIC_A.json` / `_B.json` in the same folder.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
