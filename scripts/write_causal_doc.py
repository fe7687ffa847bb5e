"""Turn the causal tables of a results folder into a committed results page with plots.

    python scripts/write_causal_doc.py RUN_DIR docs/results/NAME "the exact command that made RUN_DIR"

RUN_DIR is a benchmark folder (``iqalign benchmark``) or a synthetic world (``iqalign simulate``):
both hold ``config.json``, ``sensitivity.csv``, ``decomposition.csv`` and ``population.csv``
(docs/causal.md explains every column).  Writes

* NAME.md: per target model and metric the decomposition (all / between / within / given
  condition), the rank agreement across condition cells, hit and false alarm rates; the
  population summary; per corruption, where the metrics fall and where the model falls;
* NAME_decomposition.png: between- vs within-content rho with 95% intervals, metrics grouped by family;
* NAME_sensitivity.png: per condition cell, the metric's effect (SD units) against the model's effect;
* NAME_heatmap.png: per-cell effects (corruption x severity) of the model and of two metrics;
* NAME_decomposition.csv, NAME_population.csv, NAME_sensitivity_agreement.csv and NAME_config.json
  (copies of the folder's files; ``--no-csv`` skips them).

A hand-written ``<!-- findings -->...<!-- /findings -->`` block in an existing NAME.md survives a
regeneration.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from iqalign.analysis.causal import format_ci  # noqa: E402

FAMILY_ORDER = ["oracle", "task", "classic", "statistic", "image"]
FAMILY_TITLE = {"oracle": "known cause (oracle)", "task": "task-guided", "classic": "classic IQA",
                "statistic": "simple statistics", "image": "image metrics"}
# per-cell plots: the first metrics of these lists that the folder has (oracle lists for a synthetic world)
SCATTER_DEFAULT = ["task_negentropy", "brisque", "niqe", "sharpness"]
HEATMAP_DEFAULT = ["task_negentropy", "brisque", "niqe", "piqe"]
SCATTER_SIM = ["oracle_condition", "oracle_content", "oracle_irrelevant", "task_negentropy"]
HEATMAP_SIM = ["oracle_condition", "oracle_irrelevant", "task_negentropy", "colourfulness"]
DPI = 100


def _families(config: dict, metrics: list[str]) -> dict[str, str]:
    fam = {m["name"]: m.get("family", "") for m in config.get("metrics", []) if isinstance(m, dict)}
    for m in metrics:
        if m not in fam or not fam[m]:
            fam[m] = "oracle" if m.startswith("oracle_") else "task" if m.startswith("task_") else "other"
    return fam


def _order(metrics: list[str], fam: dict[str, str]) -> list[str]:
    rank = {f: i for i, f in enumerate(FAMILY_ORDER)}
    return sorted(metrics, key=lambda m: (rank.get(fam[m], len(rank)), metrics.index(m)))


def _short(model: str) -> str:
    return model.replace("efficientnet_", "")


# --------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------

def plot_decomposition(dec: pd.DataFrame, metrics: list[str], fam: dict[str, str], models: list[str],
                       target: str, path: Path, unit: str = "photo") -> None:
    """One panel per model: all / between / within rho with 95% intervals, metrics grouped by family."""
    scopes = [("all", "all rows", "0.55", "o"), ("between", f"between content ({unit} means)", "tab:blue", "s"),
              ("within", f"within content ({unit} fixed)", "tab:orange", "D")]
    d = dec[dec["target"] == target].set_index(["model", "metric", "scope"])
    n = len(metrics)
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models) + 1.6, 0.42 * n + 1.6), sharey=True,
                             squeeze=False)
    y = np.arange(n)[::-1].astype(float)
    for ax, model in zip(axes[0], models):
        for k, (scope, label, colour, marker) in enumerate(scopes):
            off = (1 - k) * 0.24
            v, lo, hi = (np.array([d.loc[(model, m, scope), c] if (model, m, scope) in d.index else np.nan
                                   for m in metrics]) for c in ("spearman", "spearman_lo", "spearman_hi"))
            err = np.vstack([v - lo, hi - v])
            ax.errorbar(v, y + off, xerr=np.where(np.isfinite(err), err, 0), fmt=marker, color=colour,
                        ms=4.5 if scope != "all" else 3.5, lw=1.2, capsize=2, label=label)
        # family separators and labels
        prev = None
        for i, m in enumerate(metrics):
            if prev is not None and fam[m] != prev:
                ax.axhline(y[i] + 0.5, color="0.7", lw=0.8, ls="--")
            prev = fam[m]
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlim(-0.45, 1.0)
        ax.set_title(model, fontsize=10)
        ax.set_xlabel(f"Spearman rho with {target} (95% CI)")
        ax.grid(axis="x", color="0.9")
    ax0 = axes[0][0]
    ax0.set_yticks(y)
    ax0.set_yticklabels(metrics, fontsize=9)
    ax0.set_ylim(-0.6, n - 0.4)
    # family names on the right edge
    axr = axes[0][-1]
    fams = list(dict.fromkeys(fam[m] for m in metrics))
    for f in fams:
        ys = [y[i] for i, m in enumerate(metrics) if fam[m] == f]
        axr.text(1.02, np.mean(ys), FAMILY_TITLE.get(f, f), transform=axr.get_yaxis_transform(), rotation=90,
                 va="center", ha="left", fontsize=8.5, color="0.3")
    handles, labels = ax0.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8.5, frameon=False)
    fig.suptitle(f"Where the association comes from: content (between {unit}s) or conditions (within a {unit})",
                 fontsize=10.5)
    fig.tight_layout(rect=(0, 0.05, 0.97, 0.97))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _corruption_colours(corruptions: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab20")
    return {c: cmap(i % 20) for i, c in enumerate(corruptions)}


def plot_sensitivity(sens: pd.DataFrame, metrics: list[str], model: str, target: str, path: Path,
                     unit: str = "photo") -> None:
    """Per metric: per condition cell, Q effect (SD units) against M effect, coloured by corruption."""
    cells = sens[(sens["kind"] == "cell") & (sens["model"] == model) & (sens["target"] == target)]
    agree = sens[(sens["kind"] == "agreement") & (sens["model"] == model) & (sens["target"] == target)]
    agree = agree.set_index("metric")
    corruptions = list(dict.fromkeys(cells["corruption"]))
    colours = _corruption_colours(corruptions)
    ncol = 2
    nrow = int(np.ceil(len(metrics) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(10, 3.6 * nrow + 0.6), squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        c = cells[cells["metric"] == m]
        for corr in corruptions:
            s = c[c["corruption"] == corr]
            ax.errorbar(s["m_effect"], s["q_effect_sd"],
                        xerr=np.vstack([s["m_effect"] - s["m_effect_lo"], s["m_effect_hi"] - s["m_effect"]]),
                        fmt="none", ecolor=colours[corr], alpha=0.35, lw=0.8)
            ax.scatter(s["m_effect"], s["q_effect_sd"], s=8 + 8 * s["severity"], color=colours[corr],
                       edgecolor="k", linewidth=0.3, label=corr, zorder=3)
        ax.axhline(0, color="k", lw=0.7)
        ax.axvline(0, color="k", lw=0.7)
        if m in agree.index:
            a = agree.loc[m]
            ax.set_title(f"{m}: rank agreement {format_ci(a.spearman, a.spearman_lo, a.spearman_hi)}\n"
                         f"hit rate {a.hit_rate:.2f}, false alarms {a.false_alarm_rate:.2f} "
                         f"(M clearly worse in {int(a.n_worse_cells)}/{int(a.n_cells)} cells)", fontsize=8.5)
        else:
            ax.set_title(m, fontsize=9)
        ax.set_xlabel(f"M effect: change in {model} {target} vs the clean view", fontsize=9)
        ax.set_ylabel("Q effect (metric SDs, higher = better)", fontsize=9)
        ax.grid(color="0.92")
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, frameon=False, title="corruption\n(size = severity)",
               title_fontsize=8)
    fig.suptitle(f"Per condition cell: does the metric fall where {model} falls? (paired vs the same {unit}'s "
                 f"clean view; bars: 95% CI of M)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.84, 0.97))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_heatmap(sens: pd.DataFrame, metrics: list[str], model: str, target: str, path: Path,
                 unit: str = "photo") -> None:
    """Corruption x severity grids: the model's effect and each metric's effect, both in SD units."""
    cells = sens[(sens["kind"] == "cell") & (sens["model"] == model) & (sens["target"] == target)]
    corruptions = list(dict.fromkeys(cells["corruption"]))
    sevs = sorted(cells["severity"].dropna().astype(int).unique())
    grids = []
    first = cells[cells["metric"] == metrics[0]]
    grids.append((f"M: {model} {target}\n(m_effect_sd)",
                  first.pivot_table(index="corruption", columns="severity", values="m_effect_sd")))
    for m in metrics:
        grids.append((f"Q: {m}\n(q_effect_sd)", cells[cells["metric"] == m].pivot_table(
            index="corruption", columns="severity", values="q_effect_sd")))
    grids = [(t, g.reindex(index=corruptions, columns=sevs)) for t, g in grids]
    lim = max(1.0, np.nanmax([np.nanmax(np.abs(g.to_numpy())) for _, g in grids]))
    lim = min(lim, 3.0)
    fig, axes = plt.subplots(1, len(grids), figsize=(1.9 * len(grids) + 2.4, 0.28 * len(corruptions) + 2.0),
                             sharey=True, squeeze=False, layout="constrained")
    im = None
    for ax, (title, g) in zip(axes[0], grids):
        im = ax.imshow(g.to_numpy(), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(len(sevs)))
        ax.set_xticklabels(sevs, fontsize=8)
        ax.set_xlabel("severity", fontsize=8)
        ax.set_title(title, fontsize=8.5)
        for (i, j), v in np.ndenumerate(g.to_numpy()):
            if np.isfinite(v):
                ax.text(j, i, f"{np.round(v, 1) + 0.0:.1f}", ha="center", va="center", fontsize=5.5,
                        color="w" if abs(v) > 0.6 * lim else "k")
    axes[0][0].set_yticks(range(len(corruptions)))
    axes[0][0].set_yticklabels(corruptions, fontsize=8)
    cb = fig.colorbar(im, ax=list(axes[0]), shrink=0.8, pad=0.01)
    cb.set_label(f"change vs clean, in SDs (clipped at +-{lim:.0f}; red = worse)", fontsize=8)
    fig.suptitle(f"Per condition cell: change against the same {unit}'s clean view, in standard deviations "
                 "(red = worse)", fontsize=9.5)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------

def model_table(dec: pd.DataFrame, sens: pd.DataFrame, metrics: list[str], fam: dict[str, str], model: str,
                target: str) -> list[str]:
    d = dec[(dec["model"] == model) & (dec["target"] == target)].set_index(["metric", "scope"])
    a = sens[(sens["kind"] == "agreement") & (sens["model"] == model) & (sens["target"] == target)]
    a = a.set_index("metric")
    lines = [f"### {model}, target `{target}`", "",
             "| metric | family | all rows | between content | within content | given condition (p) "
             "| within, given condition (p) | rank agreement across cells | hit rate | false alarm rate |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in metrics:
        cells = []
        for s in ("all", "between", "within", "given_condition", "within_given_condition"):
            if (m, s) not in d.index:
                cells.append("n/a")
                continue
            r = d.loc[(m, s)]
            text = format_ci(r.spearman, r.spearman_lo, r.spearman_hi)
            if s == "within":
                text = f"**{r.spearman:+.2f}**" + text[len(f"{r.spearman:+.2f}"):] if np.isfinite(r.spearman) \
                    else text
            if s in ("given_condition", "within_given_condition") and np.isfinite(r.p_value):
                text += f" (p={r.p_value:.2g})"
            cells.append(text)
        if m in a.index:
            r = a.loc[m]
            cells += [format_ci(r.spearman, r.spearman_lo, r.spearman_hi),
                      f"{r.hit_rate:.2f} (of {int(r.n_worse_cells)})" if np.isfinite(r.hit_rate) else "n/a",
                      f"{r.false_alarm_rate:.2f} (of {int(r.n_cells - r.n_worse_cells)})"
                      if np.isfinite(r.false_alarm_rate) else "n/a"]
        else:
            cells += ["n/a"] * 3
        lines.append(f"| {m} | {fam[m]} | " + " | ".join(cells) + " |")
    return lines + [""]


def population_table(pop: pd.DataFrame, metrics: list[str], fam: dict[str, str], target: str) -> list[str]:
    p = pop[pop["target"] == target].set_index(["metric", "scope"])
    lines = ["| metric | family | within: mean | within: worst (model) | within: worst bound "
             "| between: mean | given condition: mean | rank agreement: mean | rank agreement: worst (model) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]

    def get(m, s, c):
        return p.loc[(m, s), c] if (m, s) in p.index else np.nan

    def f(v):
        return f"{v:+.2f}" if isinstance(v, (float, np.floating)) and np.isfinite(v) else "n/a"

    for m in metrics:
        lines.append(f"| {m} | {fam[m]} | {f(get(m, 'within', 'mean'))} | {f(get(m, 'within', 'worst'))} "
                     f"({_short(str(get(m, 'within', 'worst_model')))}) | {f(get(m, 'within', 'worst_bound'))} | "
                     f"{f(get(m, 'between', 'mean'))} | {f(get(m, 'given_condition', 'mean'))} | "
                     f"{f(get(m, 'rank_agreement', 'mean'))} | {f(get(m, 'rank_agreement', 'worst'))} "
                     f"({_short(str(get(m, 'rank_agreement', 'worst_model')))}) |")
    return lines + [""]


def corruption_table(sens: pd.DataFrame, metrics: list[str], model: str, target: str,
                     min_effect: float = 0.1) -> list[str]:
    """Per corruption: the model's effect and, per metric, its mean effect and how often it clearly falls/rises."""
    cells = sens[(sens["kind"] == "cell") & (sens["model"] == model) & (sens["target"] == target)]
    corruptions = list(dict.fromkeys(cells["corruption"]))
    lines = ["| corruption | M effect, mean over severities | M effect at the highest severity (95% CI) | "
             "M clearly worse | " + " | ".join(metrics) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(metrics)]
    for corr in corruptions:
        c = cells[cells["corruption"] == corr]
        ref = c[c["metric"] == metrics[0]].sort_values("severity")
        top = ref.iloc[-1]
        worse = ((ref["m_effect_hi"] < 0) & (ref["m_effect_sd"] <= -min_effect)).sum()
        row = [corr, f"{ref['m_effect'].mean():+.3f}",
               f"{format_ci(top.m_effect, top.m_effect_lo, top.m_effect_hi, 3)} (@{int(top.severity)})",
               f"{worse}/{len(ref)}"]
        for m in metrics:
            q = c[c["metric"] == m]
            down = ((q["q_effect_hi"] < 0) & (q["q_effect_sd"] <= -min_effect)).sum()
            up = ((q["q_effect_lo"] > 0) & (q["q_effect_sd"] >= min_effect)).sum()
            text = f"{q['q_effect_sd'].mean():+.2f} ({down}/{len(q)} down"
            text += f", {up} up)" if up else ")"
            row.append(text)
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""]


# --------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------

def _flags(args: argparse.Namespace) -> str:
    """The optional arguments given, for the page's reproduce line."""
    out = ""
    for name in ("target", "model", "scatter", "heatmap", "title"):
        v = getattr(args, name)
        if v is not None and not (name == "target" and v == "p_true"):
            out += f" --{name} '{v}'" if " " in str(v) else f" --{name} {v}"
    return out + (" --no-csv" if args.no_csv else "")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("dest", help="docs/results/NAME (no suffix)")
    ap.add_argument("command", help="the command that produced RUN_DIR (shown on the page)")
    ap.add_argument("--target", default="p_true")
    ap.add_argument("--model", default=None, help="model for the per-cell plots and table (default: last target)")
    ap.add_argument("--scatter", default=None, help="comma-separated metrics for the sensitivity plot")
    ap.add_argument("--heatmap", default=None, help="comma-separated metrics for the heat map")
    ap.add_argument("--title", default=None)
    ap.add_argument("--no-csv", action="store_true", help="do not copy the CSVs / config next to the page")
    args = ap.parse_args(argv)

    run, dest = Path(args.run_dir), Path(args.dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    config = json.loads((run / "config.json").read_text())
    dec = pd.read_csv(run / "decomposition.csv")
    sens = pd.read_csv(run / "sensitivity.csv")
    pop = pd.read_csv(run / "population.csv")
    target = args.target
    models = [m for m in config.get("targets", list(dict.fromkeys(dec["model"]))) if m in set(dec["model"])]
    model = args.model or models[-1]
    metrics_all = list(dict.fromkeys(dec["metric"]))
    fam = _families(config, metrics_all)
    metrics = _order(metrics_all, fam)
    present = set(sens.loc[sens["kind"] == "cell", "metric"])
    is_sim = config.get("command") == "simulate" or any(m.startswith("oracle_") for m in metrics)
    unit = "scene" if is_sim else "photo"
    scatter = args.scatter.split(",") if args.scatter else \
        [m for m in (SCATTER_SIM if is_sim else SCATTER_DEFAULT) if m in present][:4]
    heat = args.heatmap.split(",") if args.heatmap else \
        [m for m in (HEATMAP_SIM if is_sim else HEATMAP_DEFAULT) if m in present][:4]

    name = dest.name
    plots = {"decomposition": dest.parent / f"{name}_decomposition.png",
             "sensitivity": dest.parent / f"{name}_sensitivity.png",
             "heatmap": dest.parent / f"{name}_heatmap.png"}
    plot_decomposition(dec, metrics, fam, models, target, plots["decomposition"], unit)
    if not sens.empty and scatter:
        plot_sensitivity(sens, scatter, model, target, plots["sensitivity"], unit)
    else:
        plots.pop("sensitivity")
    if not sens.empty and heat:
        plot_heatmap(sens, heat, model, target, plots["heatmap"], unit)
    else:
        plots.pop("heatmap")

    copies = {}
    if not args.no_csv:
        for src, suffix in (("decomposition.csv", "decomposition.csv"), ("population.csv", "population.csv"),
                            ("config.json", "config.json")):
            copies[suffix] = dest.parent / f"{name}_{suffix}"
            shutil.copy(run / src, copies[suffix])
        copies["sensitivity_agreement.csv"] = dest.parent / f"{name}_sensitivity_agreement.csv"
        sens[sens["kind"] == "agreement"].to_csv(copies["sensitivity_agreement.csv"], index=False)

    n_images = config.get("n_images", dec.loc[dec["scope"] == "between", "n"].max())
    conditions = config.get("conditions") or sorted(set(sens.loc[sens["kind"] == "cell", "condition"]) | {"clean"})
    n_rows = config.get("n_rows", int(dec.loc[dec["scope"] == "all", "n"].max()))
    title = args.title or (f"Causal reading of the synthetic world ({n_images} scenes)" if is_sim else
                           f"Causal reading of the intervention benchmark on {n_images} real ImageNet photos")
    refs = config.get("references") or []
    negated = [m["name"] for m in config.get("metrics", []) if isinstance(m, dict)
               and m.get("higher_is_better") is False and m["name"] in metrics]
    seed = config.get("config", {}).get("seed", config.get("seed", ""))
    lines = [f"# {title}", "",
             "What the numbers mean: [docs/causal.md](../causal.md) (the causal model, and which number answers "
             "which question). Reproduce (from the repository root):", "",
             "```bash", args.command,
             f"python scripts/write_causal_doc.py {args.run_dir} {args.dest} '{args.command}'{_flags(args)}", "```", "",
             f"- {n_images} {unit}s x {len(conditions)} conditions (clean + "
             f"{len(conditions) - 1} corruption x severity cells) = {n_rows} rows; seed {seed}",
             f"- target models: {', '.join(models)}" + (f"; reference for the task-guided metrics: {', '.join(refs)}"
                                                       if refs else ""),
             f"- performance measure on this page: `{target}`"
             + (" (the target model's probability of the true class)" if target == "p_true" else "") +
             f"; every interval is a 95% percentile bootstrap over source {unit}s, p-values are permutation tests "
             "(1000 permutations: p = 0.001 is the smallest possible)",
             "- metrics are oriented so that higher = better quality" +
             (f" ({', '.join(f'`{m}`' for m in negated)} negated)" if negated else "")]
    if copies:
        lines.append("- tables as CSV: " + ", ".join(f"[{p.name}]({p.name})" for p in copies.values()) +
                     " (the per-cell rows are in the folder's `sensitivity.csv`, recomputed by `iqalign analyse`)")
    else:
        lines.append(f"- the full tables are the folder's `decomposition.csv`, `sensitivity.csv` and `population.csv` "
                     f"({args.run_dir}, not committed: the command above recreates them)")
    lines.append("")

    old = dest.with_suffix(".md").read_text() if dest.with_suffix(".md").exists() else ""
    if "<!-- findings -->" in old and "<!-- /findings -->" in old:  # hand-written reading survives a rerun
        lines += [old[old.index("<!-- findings -->"):old.index("<!-- /findings -->") + len("<!-- /findings -->")], ""]

    lines += ["## Where does the association come from?", "",
              f"![decomposition]({plots['decomposition'].name})", "",
              f"Per metric: the all-rows rank correlation with the model's `{target}` (grey), split into its "
              f"between-content part (blue: do the metric's {unit} means rank {unit}s as the model does?) and its "
              f"within-content part (orange: with the {unit} fixed, does the metric move with the model as the "
              "imaging conditions change?). Bars: 95% intervals.", ""]
    lines += ["## Per model", "",
              "Spearman rho [95% CI]. *given condition*: the association left after removing each condition cell's "
              "mean (does the metric know anything about the model beyond the corruption name?); *within, given "
              f"condition*: after removing {unit} and cell effects (does it know which {unit} a condition hurts "
              "most?). *rank agreement*: Spearman across condition cells between the metric's and the model's "
              "mean paired change. *hit rate*: of the cells where the model clearly gets worse, the fraction where "
              "the metric clearly falls; *false alarm rate*: the same among the other cells (the number of "
              "cells each rate is over is in brackets: a rate over a handful of cells is coarse).", ""]
    for mo in reversed(models):
        lines += model_table(dec, sens, metrics, fam, mo, target)
    if len(models) > 1:
        lines += [f"## Over the population of target models ({', '.join(models)})", "",
                  "*worst*: the less aligned model's value; *worst bound*: the lower end of that model's interval.", ""]
        lines += population_table(pop, metrics, fam, target)
    if "sensitivity" in plots:
        lines += ["## Per condition cell", "", f"![sensitivity]({plots['sensitivity'].name})", "",
                  f"Each point is a condition cell (corruption x severity; bigger = more severe): x = mean paired "
                  f"change of {model}'s `{target}` against the same {unit}'s clean view, y = mean paired change of the "
                  "metric in its standard deviations (over all rows). A useful metric puts points in the lower left "
                  "and none in the lower right (falls where the model does not) or upper left (misses a drop).", ""]
    if "heatmap" in plots:
        lines += [f"![heat map]({plots['heatmap'].name})", "",
                  "The same cells as grids, the model's change and the metrics' changes both in standard "
                  "deviations (so the colours are comparable; red = worse).", ""]
    if not sens.empty:
        cm = list(dict.fromkeys([*heat, *scatter]))
        lines += [f"### Per corruption ({model}, `{target}`)", "",
                  "Metric columns: the mean of `q_effect_sd` over the severities, and in how many of them the metric "
                  "*clearly* falls (`q_effect_hi` < 0 and `q_effect_sd` <= -0.1) or clearly rises. *M clearly "
                  "worse*: severities where the model's interval excludes 0 and the effect is at least 0.1 SD.", ""]
        lines += corruption_table(sens, cm, model, target)
    dest.with_suffix(".md").write_text("\n".join(lines) + "\n")
    for p in [*plots.values()]:
        print(f"{p}: {p.stat().st_size / 1024:.0f} KB")
    print(dest.with_suffix(".md"))


if __name__ == "__main__":
    main()
