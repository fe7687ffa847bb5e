"""Turn a benchmark results folder into a committed results page.

    python scripts/write_results_doc.py RUN_DIR docs/results/NAME "the exact benchmark command"

Writes NAME.md (overview, task-guided vs classic comparison, accuracy per condition) and copies
alignment.csv / alignment.md / config.json next to it as NAME_alignment.csv etc.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from iqalign.reports import family_comparison, overview_markdown


def main(run_dir: str, dest: str, command: str) -> None:
    run, dest = Path(run_dir), Path(dest)
    config = json.loads((run / "config.json").read_text())
    alignment = pd.read_csv(run / "alignment.csv")
    rows = pd.read_parquet(run / "rows.parquet")
    families = {m["name"]: m["family"] for m in config["metrics"]}
    targets = config["targets"]
    for name in ("alignment.csv", "alignment.md", "config.json"):
        shutil.copy(run / name, dest.parent / f"{dest.name}_{name}")

    lines = [f"# Intervention benchmark on {config['n_images']} real ImageNet photos", "",
             "Reproduce (from the repository root, with `../shared/data/imagenet-sample` beside the checkout):", "",
             "```bash", command, f"python scripts/write_results_doc.py {run_dir} {dest} '{command}'", "```", "",
             f"- {config['n_images']} photos (evenly spaced over the 800, one per class) x {len(config['conditions'])} "
             f"conditions = {config['n_rows']} rows; seed {config['config']['seed']}",
             f"- targets: {', '.join(targets)}; reference for task-guided metrics: {', '.join(config['references'])}",
             f"- problems: {len(config['problems'])}",
             f"- full table: [{dest.name}_alignment.md]({dest.name}_alignment.md) "
             f"(CSV: [{dest.name}_alignment.csv]({dest.name}_alignment.csv)); settings and versions: "
             f"[{dest.name}_config.json]({dest.name}_config.json)", ""]

    old = dest.with_suffix(".md").read_text() if dest.with_suffix(".md").exists() else ""
    if "<!-- findings -->" in old:  # hand-written reading of the numbers survives a regeneration
        lines += [old[old.index("<!-- findings -->"):old.index("<!-- /findings -->") + len("<!-- /findings -->")], ""]
    lines += ["## Do task-guided metrics beat the classic ones?", ""]
    label_free = alignment[~alignment["metric"].isin([m["name"] for m in config["metrics"] if m["needs_labels"]])]
    for title, table in (("All metrics (task-guided includes the label-aware task_ptrue / task_truemargin)", alignment),
                         ("Label-free metrics only (what you can compute on unlabelled data)", label_free)):
        comp = pd.concat([family_comparison(table, families, t) for t in ("p_true", "top1")], ignore_index=True)
        lines += [f"### {title}", "",
                  "Best metric of each family by Spearman rho (95% bootstrap interval over photos). "
                  "'beats' = the task metric's interval lies wholly above the classic one's.", "",
                  "| model | target | scope | best task-guided | best classic IQA | best statistic | task beats classic |",
                  "|---|---|---|---|---|---|---|"]
        for r in comp.itertuples():
            cell = lambda fam: (f"{getattr(r, 'best_' + fam)} {getattr(r, fam + '_rho'):+.3f} "
                                f"[{getattr(r, fam + '_lo'):+.2f}, {getattr(r, fam + '_hi'):+.2f}]")
            lines.append(f"| {r.model} | {r.target} | {r.scope} | {cell('task')} | {cell('classic')} | "
                         f"{cell('statistic')} | {'yes' if r.task_beats_classic else 'no'} |")
        lines.append("")
    lines += ["", "## Overview", "", overview_markdown(alignment, families)]

    lines += _corruption_agreement(rows, config, targets)
    lines += ["## Accuracy of the target models under each condition", "",
              "| condition | " + " | ".join(f"{t} top-1" for t in targets) + " | " +
              " | ".join(f"mean {m}" for m in ("task_maxprob", "brisque", "niqe", "piqe") if m in rows) + " |",
              "|---|" + "---:|" * (len(targets) + sum(m in rows for m in ("task_maxprob", "brisque", "niqe", "piqe")))]
    agg = {f"{t}.top1": "mean" for t in targets}
    agg.update({m: "mean" for m in ("task_maxprob", "brisque", "niqe", "piqe") if m in rows})
    by = rows.groupby(["corruption", "severity"], sort=False).agg(agg).reset_index()
    for _, r in by.iterrows():
        cond = "clean" if r["severity"] == 0 else f"{r['corruption']} @ {r['severity']}"
        vals = [f"{r[c]:.3f}" if c.endswith("top1") else f"{r[c]:.3g}" for c in list(agg)]
        lines.append(f"| {cond} | " + " | ".join(vals) + " |")
    dest.with_suffix(".md").write_text("\n".join(lines) + "\n")


def _corruption_agreement(rows: pd.DataFrame, config: dict, targets: list[str]) -> list[str]:
    """Across corruptions: does the metric fall where the model's accuracy falls? (Spearman over corruptions)."""
    from scipy.stats import spearmanr

    metrics = [m for m in config["metrics"] if m["name"] in rows]
    clean = rows[rows["severity"] == 0]
    corrupted = rows[rows["severity"] > 0]
    if corrupted["corruption"].nunique() < 3:
        return []
    cols = [m["name"] for m in metrics] + [f"{t}.top1" for t in targets]
    # paired: change relative to the same photo's clean row, averaged per corruption
    base = clean.set_index("image_id")[cols]
    delta = corrupted[["image_id", "corruption"] + cols].set_index("image_id")
    delta[cols] = delta[cols] - base.loc[delta.index, cols].to_numpy()
    per = delta.groupby("corruption")[cols].mean()
    lines = ["## Across corruptions: does the metric fall where accuracy falls?", "",
             f"Spearman rho, over the {len(per)} corruptions, between the mean change in top-1 accuracy and the mean "
             "change in the (oriented) metric, each paired against the same photo's clean row (severities pooled).", "",
             "| metric | family | " + " | ".join(targets) + " |", "|---|---|" + "---:|" * len(targets)]
    for m in sorted(metrics, key=lambda m: (m["family"] != "task", m["family"], m["name"])):
        sign = 1.0 if m["higher_is_better"] else -1.0
        cells = [f"{spearmanr(per[f'{t}.top1'], sign * per[m['name']])[0]:+.2f}" for t in targets]
        lines.append(f"| {m['name']} | {m['family']} | " + " | ".join(cells) + " |")
    return lines + [""]


if __name__ == "__main__":
    main(*sys.argv[1:4])
