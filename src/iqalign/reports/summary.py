"""Short views of an alignment table: what a reader wants first.

``overview_markdown`` gives one line per (model, metric) with the few numbers that answer "does this
metric track this model?"; ``family_comparison`` puts the best task-guided metric beside the best
classic IQA metric and the best simple statistic, with their intervals.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

# (target, scope, column title) shown in the overview, in this order
_OVERVIEW = (("top1", "all", "rho top1 (all)"), ("p_true", "all", "rho p_true (all)"),
             ("p_true", "within", "rho p_true (within photo)"))
_FAMILY_ORDER = {"task": 0, "classic": 1, "statistic": 2}


def _ci(row) -> str:
    if not np.isfinite(row.spearman):
        return "n/a"
    text = f"{row.spearman:+.3f}"
    if np.isfinite(row.spearman_lo) and np.isfinite(row.spearman_hi):
        text += f" [{row.spearman_lo:+.2f}, {row.spearman_hi:+.2f}]"
    return text


def overview_markdown(alignment: pd.DataFrame, families: Mapping[str, str]) -> str:
    """One markdown table per target model: metrics sorted by rho with p_true over all rows."""
    if alignment.empty:
        return "_no alignment rows_\n"
    index = alignment.set_index(["model", "metric", "target", "scope"])
    out = []
    for model in dict.fromkeys(alignment["model"]):
        sub = alignment[(alignment["model"] == model) & (alignment["target"] == "p_true") & (alignment["scope"] == "all")]
        order = sub.sort_values("spearman", ascending=False, na_position="last")["metric"].tolist()
        out += [f"**{model}** (n = {int(sub['n'].max()) if len(sub) else 0} rows)", "",
                "| metric | family | " + " | ".join(t for _, _, t in _OVERVIEW) + " | AUROC top-1 error (all) |",
                "|---|---|" + "---:|" * (len(_OVERVIEW) + 1)]
        for metric in order:
            cells = []
            for target, scope, _ in _OVERVIEW:
                key = (model, metric, target, scope)
                cells.append(_ci(index.loc[key]) if key in index.index else "n/a")
            key = (model, metric, "top1", "all")
            auroc = index.loc[key].auroc if key in index.index else np.nan
            cells.append("n/a" if not np.isfinite(auroc) else f"{auroc:.3f}")
            out.append(f"| {metric} | {families.get(metric, '?')} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def family_comparison(alignment: pd.DataFrame, families: Mapping[str, str], target: str = "p_true") -> pd.DataFrame:
    """Per model and scope: the best metric of each family and its rho interval for ``target``.

    ``task_beats_classic`` is True only when the best task metric's interval lies wholly above the
    best classic metric's interval: a conservative reading, not a significance test of the gap.
    """
    sign = -1.0 if target == "loss" else 1.0
    rows = []
    for (model, scope), sub in alignment[alignment["target"] == target].groupby(["model", "scope"], sort=False):
        sub = sub.assign(family=sub["metric"].map(families), score=sign * sub["spearman"])
        best = {}
        for fam, fsub in sub.groupby("family"):
            top = fsub.sort_values("score", ascending=False).iloc[0]
            best[fam] = top
        record = {"model": model, "scope": scope, "target": target}
        for fam in sorted(best, key=lambda f: _FAMILY_ORDER.get(f, 9)):
            top = best[fam]
            record.update({f"best_{fam}": top.metric, f"{fam}_rho": top.spearman,
                           f"{fam}_lo": top.spearman_lo, f"{fam}_hi": top.spearman_hi})
        if "task" in best and "classic" in best:
            t, c = best["task"], best["classic"]
            record["task_beats_classic"] = bool(sign * t.spearman_lo > sign * c.spearman_hi) if sign > 0 else \
                bool(-t.spearman_hi > -c.spearman_lo)
        rows.append(record)
    return pd.DataFrame(rows)
