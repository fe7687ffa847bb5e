"""Turn a condition-graph benchmark folder into a committed results page with a plot.

    python scripts/write_graph_doc.py RUN_DIR docs/results/NAME "the exact command that made RUN_DIR" [--model M]

RUN_DIR is an ``iqalign benchmark --conditions GRAPH`` folder (node_effects.csv, decomposition.csv,
alignment.csv, config.json; docs/condition-graphs.md explains the columns). Writes

* NAME.md: per target model, each node's effect on the model (p_true, top-1) with intervals beside its
  observational association; per metric, its effect on each node in SD units, agreement across nodes, hit
  and false-alarm rates; the alignment of every metric on the observational draws (all / between / within);
* NAME_effects.png: the model's node effects (top-1, with intervals) and the metrics' node effects (SD);
* NAME_node_effects.csv and NAME_config.json: copies of the folder's files.

A hand-written ``<!-- findings -->...<!-- /findings -->`` block in an existing NAME.md survives a
regeneration.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from iqalign.analysis.causal import format_ci  # noqa: E402

FINDINGS = re.compile(r"<!-- findings -->.*?<!-- /findings -->", re.S)


def _bold_if_clear(v: float, lo: float, hi: float) -> str:
    text = format_ci(v)
    return f"**{text}**" if (lo > 0 or hi < 0) else text


def model_table(effects: pd.DataFrame, model: str, metric: str) -> tuple[list[str], list[str]]:
    """Markdown rows: each node's effect on ``model`` (p_true and top-1), sorted by the top-1 effect."""
    sub = effects[(effects["kind"] == "node") & (effects["model"] == model) & (effects["metric"] == metric)]
    p = sub[sub["target"] == "p_true"].set_index("node")
    t = sub[sub["target"] == "top1"].set_index("node")
    order = list(t.sort_values("m_effect").index)
    lines = ["| node | do(low) -> do(high) | top-1 at low | top-1 effect [95% CI] | p_true effect [95% CI] | in SD "
             "(p_true) | observational rho (p_true) |", "|---|---|---:|---:|---:|---:|---:|"]
    for n in order:
        a, b = t.loc[n], p.loc[n]
        lines.append(f"| {n} | {a.low:g} -> {a.high:g} | {a.m_low:.3f} | "
                     f"{format_ci(a.m_effect, a.m_effect_lo, a.m_effect_hi, 3)} | "
                     f"{format_ci(b.m_effect, b.m_effect_lo, b.m_effect_hi, 3)} | {format_ci(b.m_effect_sd)} | "
                     f"{format_ci(b.m_obs_spearman)} |")
    return lines, order


def metric_table(effects: pd.DataFrame, model: str, order: list[str], families: dict) -> list[str]:
    sub = effects[(effects["model"] == model) & (effects["target"] == "p_true")]
    agree = sub[sub["kind"] == "agreement"].sort_values("spearman", ascending=False, na_position="last")
    lines = ["| metric | family | agreement across nodes [95% CI] | hit | false alarm | " + " | ".join(order) + " |",
             "|---|---|---:|---:|---:|" + "---:|" * len(order)]
    for a in agree.itertuples():
        q = sub[(sub["kind"] == "node") & (sub["metric"] == a.metric)].set_index("node")
        cells = [_bold_if_clear(q.loc[n, "q_effect_sd"], q.loc[n, "q_effect_lo"], q.loc[n, "q_effect_hi"])
                 for n in order]
        rate = lambda v: f"{v:.2f}" if np.isfinite(v) else "n/a"  # noqa: E731
        lines.append(f"| {a.metric} | {families.get(a.metric, '')} | "
                     f"{format_ci(a.spearman, a.spearman_lo, a.spearman_hi)} | {rate(a.hit_rate)} | "
                     f"{rate(a.false_alarm_rate)} | " + " | ".join(cells) + " |")
    m = sub[(sub["kind"] == "node") & (sub["metric"] == agree["metric"].iloc[0])].set_index("node")
    lines.append(f"| *{model} p_true* | model | | | | "
                 + " | ".join(_bold_if_clear(m.loc[n, "m_effect_sd"], m.loc[n, "m_effect_lo"], m.loc[n, "m_effect_hi"])
                              for n in order) + " |")
    return lines


def decomposition_table(dec: pd.DataFrame, model: str, families: dict) -> list[str]:
    sub = dec[(dec["model"] == model) & (dec["target"] == "p_true")]
    within = sub[sub["scope"] == "within"].set_index("metric")["spearman"]
    lines = ["| metric | family | all rows | between photos | within a photo |", "|---|---|---:|---:|---:|"]
    for metric in within.sort_values(ascending=False).index:
        cells = []
        for scope in ("all", "between", "within"):
            r = sub[(sub["metric"] == metric) & (sub["scope"] == scope)].iloc[0]
            cells.append(format_ci(r.spearman, r.spearman_lo, r.spearman_hi))
        lines.append(f"| {metric} | {families.get(metric, '')} | " + " | ".join(cells) + " |")
    return lines


def plot(effects: pd.DataFrame, model: str, order: list[str], path: Path) -> None:
    """Left: the model's top-1 effect per node with its interval. Right: every metric's effect (SD units)."""
    node = effects[(effects["kind"] == "node") & (effects["model"] == model)]
    first = node["metric"].iloc[0]
    t = node[(node["target"] == "top1") & (node["metric"] == first)].set_index("node").loc[order]
    p = node[node["target"] == "p_true"]
    agree = effects[(effects["kind"] == "agreement") & (effects["model"] == model) & (effects["target"] == "p_true")]
    metrics = list(agree.sort_values("spearman", ascending=False, na_position="last")["metric"])
    grid = np.array([[p[(p["metric"] == m) & (p["node"] == n)]["q_effect_sd"].iloc[0] for n in order]
                     for m in metrics])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 0.42 * len(metrics) + 2.2),
                                   gridspec_kw={"width_ratios": [1, 2.2]})
    y = np.arange(len(order))
    err = np.vstack([t["m_effect"] - t["m_effect_lo"], t["m_effect_hi"] - t["m_effect"]])
    colours = ["#c0392b" if hi < 0 else "#2e86c1" if lo > 0 else "#999999"
               for lo, hi in zip(t["m_effect_lo"], t["m_effect_hi"])]
    ax1.barh(y, t["m_effect"], xerr=err, color=colours, capsize=3)
    ax1.set_yticks(y, [f"{n} ({t.loc[n, 'low']:g}->{t.loc[n, 'high']:g})" for n in order], fontsize=8)
    ax1.invert_yaxis()
    ax1.axvline(0, color="black", lw=0.8)
    ax1.set_xlabel(f"{model}: change in top-1 accuracy, do(low) -> do(high)", fontsize=8)
    ax1.set_title("what moves the model (95% CI over photos)", fontsize=9)
    lim = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    lim = min(lim, 3.0)
    im = ax2.imshow(grid, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    ax2.set_xticks(range(len(order)), order, rotation=40, ha="right", fontsize=8)
    rho = agree.set_index("metric")["spearman"]
    ax2.set_yticks(range(len(metrics)), [f"{m}  (rho {rho[m]:+.2f})" for m in metrics], fontsize=8)
    for i in range(len(metrics)):
        for j in range(len(order)):
            if np.isfinite(grid[i, j]):
                ax2.text(j, i, f"{grid[i, j]:+.1f}", ha="center", va="center", fontsize=6.5,
                         color="white" if abs(grid[i, j]) > 0.6 * lim else "black")
    ax2.set_title("metric effect per node, SD units (red: the metric says quality fell; "
                  "rho: agreement with the model's p_true effects)", fontsize=9)
    fig.colorbar(im, ax=ax2, fraction=0.025, pad=0.01)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("name", help="output path without suffix, e.g. docs/results/condition_graph_low_light")
    ap.add_argument("command", help="the command that made RUN_DIR (quoted into the page)")
    ap.add_argument("--model", default=None, help="the model the page is about (default: the last target)")
    args = ap.parse_args()
    run, name = Path(args.run_dir), Path(args.name)
    config = json.loads((run / "config.json").read_text())
    if "graph" not in config:
        raise SystemExit(f"{run} is not a condition-graph benchmark (no 'graph' in config.json)")
    effects = pd.read_csv(run / "node_effects.csv")
    dec = pd.read_csv(run / "decomposition.csv")
    families = {m["name"]: m["family"] for m in config["metrics"]}
    g = config["graph"]
    targets = config["targets"]
    model = args.model or targets[-1]
    first_metric = effects["metric"].iloc[0]
    title = f"# Condition graph `{g['definition']['name']}` on the ImageNet sample: what drives {model}'s errors"
    if g.get("node_contrast", "range") == "range":
        title += " (contrasts across each node's whole range)"
    md = [title,
          "", "<!-- findings -->", "<!-- /findings -->", "",
          "## How this was made", "", "```bash", args.command,
          f"python scripts/write_graph_doc.py {args.run_dir} {args.name} \"...\"", "```", "",
          f"- {config['n_images']} photos, {g['samples_per_image']} draws of the graph per photo, "
          f"{g['views_per_image']} views per photo ({config['n_rows']} rows): the clean view, each draw, and each draw "
          f"under do(node=low) and do(node=high) for the {len(g['contrasts'])} nodes (low, high: "
          + {"spread": "the 10th and 90th percentiles of the node's own draws, `--node-contrast spread`",
             "range": "the ends of the node's declared range, `--node-contrast range`"}[g.get("node_contrast", "range")]
          + "), all other random numbers shared (docs/condition-graphs.md)",
          f"- target models: {', '.join(targets)}; reference models of the task-guided metrics: "
          f"{', '.join(config['references'])}; seed {config['config']['seed']}; "
          f"{config['config']['n_boot']} bootstrap resamples over photos for every interval",
          "- effect = mean over photos of (mean over draws of Y(high) - Y(low)); SD = the quantity's standard "
          "deviation over the observational draws; metrics oriented so that higher = better quality", ""]
    for m in targets:
        lines, order = model_table(effects, m, first_metric)
        md += [f"## What moves {m}", "", *lines, ""]
        if m == model:
            model_order = order
    md += [f"## Which metrics move on the nodes that move {model}", "",
           f"Effect of each node on each metric in SD units (bold: the 95% interval excludes 0; negative = the "
           f"metric says quality fell), nodes in the order of their effect on {model}'s top-1 accuracy. Agreement: "
           f"Spearman across the nodes of the metric's effects and {model}'s p_true effects. Hit: share of the "
           f"nodes that clearly hurt {model} on which the metric clearly falls; false alarm: share of the other "
           "nodes on which it clearly falls.", "",
           *metric_table(effects, model, model_order, families), "",
           f"![node effects]({name.name}_effects.png)", "",
           f"## Alignment on the observational draws ({model}, p_true)", "",
           "Spearman rho [95% CI] over the draws of the graph as it is (no contrasts, no clean view): all rows, "
           "between photos (per-photo means) and within a photo (the draws of one photo).", "",
           *decomposition_table(dec, model, families), ""]
    text = "\n".join(md) + "\n"
    out_md = name.with_suffix(".md")
    if out_md.exists():
        old = FINDINGS.search(out_md.read_text())
        if old:
            text = FINDINGS.sub(lambda _: old.group(0), text, count=1)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(text)
    plot(effects, model, model_order, name.parent / f"{name.name}_effects.png")
    shutil.copy(run / "node_effects.csv", name.parent / f"{name.name}_node_effects.csv")
    shutil.copy(run / "config.json", name.parent / f"{name.name}_config.json")
    print(f"wrote {out_md} and its plot and copies")


if __name__ == "__main__":
    main()
