"""The causal analysis of a condition-graph benchmark: node_effects.csv, decomposition.csv, population.csv
and causal.md (docs/condition-graphs.md explains them).

A graph run has no corruption x severity cells, so ``sensitivity.csv`` (cells against clean) gives way to
``node_effects.csv`` (each node's do(low) -> do(high) contrast), and the decomposition keeps the scopes
that need no condition label: all rows, between photos and within a photo, on the graph's observational
draws.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..models import TARGETS

OBSERVED_ARM = "sample"
GRAPH_SCOPES = ("all", "between", "within")


def observed_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows drawn from the graph as it is (no clean view, no contrast arm): what its imagery looks like."""
    return rows[rows["arm"] == OBSERVED_ARM]


def _usable(rows: pd.DataFrame, saved_config: dict) -> tuple[dict, list[str], list[str], list[tuple[str, str]]]:
    specs = {m["name"]: m for m in saved_config["metrics"]}
    references = set(saved_config["references"])
    targets = [m for m in saved_config["targets"] if f"{m}.top1" in rows]
    metrics = [n for n in specs if n in rows and rows[n].notna().any()]
    exclude = [(n, model) for model in targets for n in metrics if specs[n]["family"] == "task" and model in references]
    return specs, metrics, targets, exclude


def graph_causal_tables(rows: pd.DataFrame, saved_config: dict, n_boot: int, seed: int) -> dict:
    """``{"node_effects", "decomposition", "population"}`` for a graph benchmark's rows."""
    from ..analysis.causal import decomposition_table, population_summary
    from ..analysis.node_effects import node_effects_table

    specs, metrics, targets, exclude = _usable(rows, saved_config)
    hib = {n: specs[n]["higher_is_better"] for n in metrics}
    nodes = list(saved_config["graph"]["contrasts"])
    effects = node_effects_table(rows, metrics, targets, hib, nodes=nodes, targets=TARGETS, n_boot=n_boot, seed=seed,
                                 exclude=exclude) if nodes and len(rows) else None
    obs = observed_rows(rows).assign(_cell="graph", _draw=lambda f: f["sample"].astype(int) + 1)
    # n_perm=0: the permutation p-values belong to the "given a condition" scopes, dropped below
    dec = decomposition_table(obs, metrics, targets, hib, targets=TARGETS, n_boot=n_boot, n_perm=0, seed=seed,
                              cell_cols=("_cell", "_draw"), exclude=exclude)
    # the draws are not conditions shared across photos: the scopes "given a condition" do not apply
    dec = dec[dec["scope"].isin(GRAPH_SCOPES)].drop(columns=["p_value"]).reset_index(drop=True)
    pops = [population_summary(dec, keys=["metric", "target", "scope"])]
    if effects is not None:
        agree = effects[effects["kind"] == "agreement"].assign(scope="node_agreement")
        pops.append(population_summary(agree, keys=["metric", "target", "scope"]))
    out = {"decomposition": dec, "population": pd.concat(pops, ignore_index=True)}
    if effects is not None:
        out["node_effects"] = effects
    return out


def write_graph_causal_analysis(out: Path, rows: pd.DataFrame, saved_config: dict, n_boot: int, seed: int) -> dict:
    tables = graph_causal_tables(rows, saved_config, n_boot, seed)
    for name in ("node_effects", "decomposition", "population"):
        if name in tables:
            tables[name].to_csv(out / f"{name}.csv", index=False)
    (out / "causal.md").write_text(graph_causal_markdown(tables, saved_config, n_boot))
    return tables


def _fmt(v: float, lo: float = np.nan, hi: float = np.nan, digits: int = 2) -> str:
    from ..analysis.causal import format_ci

    return format_ci(v, lo, hi, digits)


def _rate(v: float) -> str:
    return f"{v:.2f}" if np.isfinite(v) else "n/a"


def graph_causal_markdown(tables: dict, saved_config: dict, n_boot: int, target: str = "p_true") -> str:
    """Which nodes move each model, and which metrics move on the same nodes."""
    g = saved_config["graph"]
    levels = {"spread": "the 10th and 90th percentiles of the node's own draws",
              "range": "the ends of its declared range"}.get(g.get("node_contrast", "range"), "")
    lines = [f"# Causal analysis of condition graph `{g['definition']['name']}`", "",
             f"{g['samples_per_image']} draw(s) of the graph per photo"
             + (f", run under do({', '.join(f'{k}={v:g}' for k, v in g['interventions'].items())})"
                if g["interventions"] else "")
             + (f"; each draw also rendered under do(node=low) and do(node=high) for every contrasted node (low, high: "
                f"{levels}), all other random numbers shared. Effect = mean over photos of the mean over draws of "
                f"high - low; 95% bootstrap intervals over photos ({n_boot} resamples); SD = the quantity's standard "
                "deviation over the observational draws. Columns of node_effects.csv: docs/condition-graphs.md."
                if g["contrasts"] else "."), ""]
    effects = tables.get("node_effects")
    if effects is None:
        lines += ["Run without node contrasts (node_effects off, or every node fixed by --intervene): no node effects.",
                  ""]
    else:
        lines += _effects_markdown(effects, target)
    dec = tables["decomposition"]
    dec = dec[dec["target"] == target]
    if len(dec):
        lines += [f"## Alignment on the observational draws (target `{target}`)", "",
                  "Within a photo: the draws' ranks centred per photo, pooled (defined from 2 draws per photo; "
                  "alignment.md's within scope, a rho per photo averaged, needs 3).", "",
                  "| model | metric | all rows | between photos | within a photo |", "|---|---|---:|---:|---:|"]
        for (model, metric), sub in dec.groupby(["model", "metric"], sort=False):
            cells = []
            for scope in GRAPH_SCOPES:
                r = sub[sub["scope"] == scope]
                cells.append(_fmt(*r[["spearman", "spearman_lo", "spearman_hi"]].iloc[0]) if len(r) else "n/a")
            lines.append(f"| {model} | {metric} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _effects_markdown(effects: pd.DataFrame, target: str) -> list[str]:
    lines = []
    nodes_rows = effects[effects["kind"] == "node"]
    for model in dict.fromkeys(nodes_rows["model"]):
        sub = nodes_rows[(nodes_rows["model"] == model)]
        first = sub["metric"].iloc[0]
        lines += [f"## What moves {model}", "",
                  f"Effect of each node (low -> high) on {model}: `{target}` and top-1 accuracy. Observational rho: "
                  "Spearman of the node's drawn value with the model's p_true over the observational draws.", "",
                  f"| node | low -> high | {target} effect [95% CI] | in SD | top-1 effect [95% CI] | "
                  "observational rho |", "|---|---|---:|---:|---:|---:|"]
        m = sub[(sub["metric"] == first) & (sub["target"] == target)]
        t1 = sub[(sub["metric"] == first) & (sub["target"] == "top1")].set_index("node")
        for r in m.sort_values("m_effect").itertuples():
            top1 = t1.loc[r.node] if r.node in t1.index else None
            lines.append(f"| {r.node} | {r.low:g} -> {r.high:g} | {_fmt(r.m_effect, r.m_effect_lo, r.m_effect_hi, 3)} | "
                         f"{_fmt(r.m_effect_sd)} | "
                         + (_fmt(top1.m_effect, top1.m_effect_lo, top1.m_effect_hi, 3) if top1 is not None else "n/a")
                         + f" | {_fmt(r.m_obs_spearman)} |")
        lines += ["", f"Do the metrics move on the nodes that move {model}? Q effect of each node in SD units "
                  "(oriented: negative = the metric says quality fell; **bold**: interval excludes 0); agreement = "
                  f"Spearman across nodes of Q and {target} effects [95% CI]; hit: share of the nodes that clearly hurt "
                  f"{model} on which the metric clearly falls; false alarm: share of the other nodes on which it clearly "
                  "falls (clearly: 95% interval excludes 0 and |effect| >= 0.1 SD).",
                  ""]
        order = list(m.sort_values("m_effect")["node"])
        head = "| metric | agreement | hit | false alarm | " + " | ".join(order) + " |"
        lines += [head, "|---|---:|---:|---:|" + "---:|" * len(order)]
        agree = effects[(effects["kind"] == "agreement") & (effects["model"] == model) & (effects["target"] == target)]
        agree = agree.sort_values("spearman", ascending=False, na_position="last")
        for a in agree.itertuples():
            q = sub[(sub["metric"] == a.metric) & (sub["target"] == target)].set_index("node")
            cells = []
            for n in order:
                r = q.loc[n]
                text = _fmt(r.q_effect_sd)
                cells.append(f"**{text}**" if (r.q_effect_lo > 0 or r.q_effect_hi < 0) else text)
            lines.append(f"| {a.metric} | {_fmt(a.spearman, a.spearman_lo, a.spearman_hi)} | {_rate(a.hit_rate)} | "
                         f"{_rate(a.false_alarm_rate)} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines
