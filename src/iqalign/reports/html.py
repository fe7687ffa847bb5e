"""One self-contained HTML report of a ``score`` folder (and optionally a ``benchmark`` folder).

The page opens offline: plots are inline base64 PNGs drawn with matplotlib (Agg), gallery
thumbnails are inline base64 JPEGs, the style sheet and the one small script are inline, and no
URL outside the file is referenced. Every piece of text taken from the data (file names, class
names, metric names, configuration) is escaped with :func:`html.escape`.

Sections: overview, distributions (histogram per metric), groups (box plots per class or
``--group-by`` column), quantile table, gallery of the lowest-quality images per metric, and with
a benchmark folder the alignment table, sensitivity heat maps (grid benchmarks) or the condition
graph's node effects (graph benchmarks: ``node_effects.csv``) and the between/within
decomposition; last the configuration. A missing piece (no labels, no benchmark, a metric
without values, an unreadable image) renders a short note instead of failing.

docs/report.md describes the page for users.
"""
from __future__ import annotations

import base64
import io
import json
import math
from html import escape
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = ["build_report", "render_report", "write_report", "MAX_GROUPS", "GALLERY_PER_METRIC", "THUMB_SIZE"]

#: box plots show at most this many groups (those with the most images)
MAX_GROUPS = 20
#: gallery: at most this many images per metric
GALLERY_PER_METRIC = 8
#: gallery thumbnails: longest side in pixels
THUMB_SIZE = 160
#: alignment table and plots: these performance targets, in this order
TARGETS = ("p_true", "top1")
#: heat maps: at most this many metrics
HEATMAP_METRICS = 4

_ID_COLUMNS = ("path", "image_id", "label", "error", "class_name")
_NO_GROUP = "(none)"


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------

def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if not math.isfinite(x):
            return "–"
        if x != 0 and (abs(x) >= 10 ** 5 or abs(x) < 10 ** -digits):
            return f"{x:.2e}"
        return f"{x:.{digits}g}" if abs(x) >= 1 else f"{x:.{digits}f}".rstrip("0").rstrip(".") or "0"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return str(x)


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_csv(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def _png(fig) -> str:
    """A matplotlib figure as an <img> with a base64 PNG data URI; closes the figure."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="plot" alt="plot" src="data:image/png;base64,{data}">'


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _table(frame: pd.DataFrame, numeric_digits: int = 3, cls: str = "data") -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for v in row:
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            cells.append(f'<td class="num">{_e(_fmt(v, numeric_digits))}</td>' if num else f"<td>{_e(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _finite(series: pd.Series) -> np.ndarray:
    v = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return v[np.isfinite(v)]


# ----------------------------------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------------------------------

def _load_score(score_dir: Path) -> tuple[pd.DataFrame, dict, list[dict]]:
    scores_path = score_dir / "scores.parquet"
    if not scores_path.is_file():
        raise FileNotFoundError(f"{score_dir} is not a score folder: scores.parquet is missing")
    scores = pd.read_parquet(scores_path)
    config = _read_json(score_dir / "config.json") or {}
    specs = [m for m in config.get("metrics") or [] if isinstance(m, Mapping) and "name" in m]
    if not specs:  # no config: every numeric column but the id columns, direction unknown (assume higher = better)
        numeric = pd.api.types.is_numeric_dtype
        specs = [{"name": c, "family": "?", "higher_is_better": True} for c in scores.columns
                 if c not in _ID_COLUMNS and numeric(scores[c]) and not pd.api.types.is_bool_dtype(scores[c])]
    names = {s["name"] for s in specs}
    specs = [s for s in specs if s["name"] in scores.columns and s["name"] in names]
    return scores, config, specs


def _class_names(labels: pd.Series) -> list[str]:
    try:
        from iqalign.sources import class_name
    except ImportError:  # pragma: no cover
        class_name = None
    out = []
    for v in labels:
        if v is None or (isinstance(v, float) and not math.isfinite(v)) or pd.isna(v):
            out.append(_NO_GROUP)
            continue
        try:
            out.append(class_name(int(v)) if class_name else f"class {int(v)}")
        except (ValueError, TypeError, IndexError, KeyError):
            out.append(f"class {v}")
    return out


def _group_values(scores: pd.DataFrame, config: dict) -> tuple[str | None, pd.Series | None, str]:
    """(group name, per-row group values, note). Uses the first ``--group-by`` name that can be
    rebuilt from the scores (``class``, ``folder``, or a column of the CSV manifest), else the
    class when the images have labels."""
    group_by = list((config.get("config") or {}).get("group_by") or [])
    notes = []
    candidates = []  # (name, values) in the order of --group-by, then the class as a fallback
    for g in group_by:
        if g == "class":
            if "label" in scores and scores["label"].notna().any():
                candidates.append(("class", pd.Series(_class_names(scores["label"]), index=scores.index)))
            else:
                notes.append("class: the images have no labels")
        elif g == "folder":
            if "image_id" in scores:
                vals = [str(PurePosixPath(str(i)).parent) for i in scores["image_id"]]
                candidates.append(("folder", pd.Series(vals, index=scores.index)))
        elif g in scores.columns:
            candidates.append((g, scores[g].astype("string").fillna(_NO_GROUP).astype(str)))
        else:
            source = (config.get("config") or {}).get("source")
            values = _manifest_column(source, g, scores) if source else None
            if values is not None:
                candidates.append((g, values))
            else:
                notes.append(f"{g}: the manifest column could not be read again")
    if "label" in scores and scores["label"].notna().any() and "class" not in group_by:
        candidates.append(("class", pd.Series(_class_names(scores["label"]), index=scores.index)))
    for name, values in candidates:  # the first grouping with something to box-plot
        if (values.value_counts() >= 2).any():
            return name, values, "; ".join(notes)
        notes.append(f"{name}: every group has a single image")
    if candidates:  # nothing to box-plot anywhere: the first one, so the section can say why
        return candidates[0][0], candidates[0][1], "; ".join(notes[:-len(candidates)])
    return None, None, "; ".join(notes)


def _manifest_column(source: str, column: str, scores: pd.DataFrame) -> pd.Series | None:
    path = Path(source)
    if not path.is_file() or path.suffix.lower() != ".csv":
        return None
    try:
        manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError):
        return None
    if column not in manifest.columns or "path" not in manifest.columns:
        return None
    base = path.parent
    lookup = {}
    for p, v in zip(manifest["path"], manifest[column]):
        full = Path(p) if Path(p).is_absolute() else base / p
        lookup[str(Path(full).resolve())] = v.strip() or "(empty)"
    vals = []
    for p in scores["path"]:
        try:
            vals.append(lookup.get(str(Path(str(p)).resolve()), _NO_GROUP))
        except (OSError, ValueError):
            vals.append(_NO_GROUP)
    return pd.Series(vals, index=scores.index)


# ----------------------------------------------------------------------------------------------
# sections: score folder
# ----------------------------------------------------------------------------------------------

def _overview(score_dir: Path, scores: pd.DataFrame, config: dict, specs: list[dict],
              benchmark_dir: Path | None) -> str:
    n_err = int(scores["error"].fillna("").astype(str).str.strip().astype(bool).sum()) if "error" in scores else 0
    labelled = int(scores["label"].notna().sum()) if "label" in scores else 0
    cfg = config.get("config") or {}
    items = [("score folder", str(score_dir)), ("source", cfg.get("source", "–")), ("images (rows)", len(scores)),
             ("rows with an error", n_err), ("labelled images", labelled), ("metrics", len(specs)),
             ("reference models", ", ".join(config.get("references") or cfg.get("references") or []) or "–"),
             ("benchmark folder", str(benchmark_dir) if benchmark_dir else "none given")]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    body = f'<dl class="kv">{dl}</dl>'
    if n_err and "error" in scores:
        bad = scores[scores["error"].fillna("").astype(str).str.strip().astype(bool)][["image_id", "error"]].head(20)
        body += "<details><summary>rows with an error (first 20)</summary>" + _table(bad) + "</details>"
    return body


def _directions(specs: list[dict]) -> dict[str, bool]:
    return {s["name"]: bool(s.get("higher_is_better", True)) for s in specs}


def _histograms(scores: pd.DataFrame, specs: list[dict]) -> str:
    names = [s["name"] for s in specs]
    if not names:
        return _note("No metric columns in scores.parquet.")
    plt = _pyplot()
    hib = _directions(specs)
    ncols = min(4, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.4 * nrows), squeeze=False)
    empty = []
    for ax, name in zip(axes.flat, names):
        v = _finite(scores[name])
        arrow = "↑" if hib[name] else "↓"
        ax.set_title(f"{name} ({arrow} better)", fontsize=9)
        ax.tick_params(labelsize=7)
        if len(v) == 0:
            empty.append(name)
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes, color="#a33")
            ax.set_xticks([]), ax.set_yticks([])
            continue
        ax.hist(v, bins=20, color="#4c78a8", edgecolor="white", linewidth=0.4)
        ax.axvline(float(np.median(v)), color="#e45756", linewidth=1)
        ax.text(0.98, 0.95, f"n={len(v)}", ha="right", va="top", transform=ax.transAxes, fontsize=7, color="#555")
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    out = ('<p class="hint">20 equal-width bins per metric over its finite values; the red line is the median. '
           '↑ / ↓: the direction of better quality.</p>' + _png(fig))
    if empty:
        out += _note("No finite values (nothing to plot): " + ", ".join(empty) + ".")
    return out


def _boxplots(scores: pd.DataFrame, specs: list[dict], config: dict) -> str:
    group, values, why = _group_values(scores, config)
    if group is None:
        return _note("No labels and no --group-by column: no per-group box plots." + (f" ({why})" if why else ""))
    counts = values.value_counts()
    counts = counts[counts.index != _NO_GROUP] if (counts.index != _NO_GROUP).any() else counts
    usable = counts[counts >= 2]
    if usable.empty:
        return _note(f"Grouped by {group}: {len(counts)} groups, each with a single image, so there is "
                     "nothing to box-plot (see the quantile table and the gallery).")
    shown = usable.sort_values(ascending=False, kind="stable").head(MAX_GROUPS)
    order = list(shown.index)
    names = [s["name"] for s in specs if len(_finite(scores[s["name"]]))]
    if not names:
        return _note("No metric has finite values: no box plots.")
    plt = _pyplot()
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    height = max(2.2, 0.22 * len(order) + 0.9)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, height * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        data = [_finite(scores.loc[(values == g).to_numpy(), name]) for g in order]
        data = [d if len(d) else np.array([np.nan]) for d in data]
        style = dict(widths=0.6, showfliers=True, flierprops={"markersize": 2}, medianprops={"color": "#e45756"})
        try:  # matplotlib >= 3.10
            ax.boxplot(data, orientation="horizontal", **style)
        except TypeError:
            ax.boxplot(data, vert=False, **style)
        ax.set_yticks(range(1, len(order) + 1))
        ax.set_yticklabels([str(g)[:22] for g in order], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(name, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    text = (f"Grouped by <b>{_e(group)}</b>: {len(order)} of {len(counts)} groups shown "
            f"(those with at least 2 images, the {MAX_GROUPS} largest at most).")
    if why:
        text += " " + _e(why)
    return f'<p class="hint">{text}</p>' + _png(fig)


def _quantiles(score_dir: Path, scores: pd.DataFrame, specs: list[dict]) -> str:
    q = _read_csv(score_dir / "summary_quantiles.csv")
    if q is None or q.empty:
        try:
            from iqalign.audit import quantile_table

            q = quantile_table(scores, [s["name"] for s in specs])
        except Exception as exc:  # noqa: BLE001 - the report must render
            return _note(f"No quantile table ({exc}).")
    if "group" in q:
        q = q[q["group"] == "all"].drop(columns=["group", "group_value"], errors="ignore")
    hib = _directions(specs)
    q = q.copy()
    q.insert(1, "better", [("↑" if hib.get(m, True) else "↓") for m in q["metric"]])
    return _table(q.drop(columns=["n_rows"], errors="ignore"))


def _thumbnail(path: Path) -> str | None:
    """A base64 JPEG thumbnail (EXIF orientation applied), or None when the image cannot be read."""
    from PIL import Image

    try:
        from iqalign.sources import load_rgb

        rgb = load_rgb(path)
        im = Image.fromarray(rgb)
    except Exception:  # noqa: BLE001 - ImageDecodeError, or anything else: the card says so
        return None
    im.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _resolve_image(path: str, score_dir: Path, source: str | None) -> Path:
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    for base in (Path(source).parent if source else None, score_dir):
        if base is not None and (base / p).exists():
            return base / p
    return p


def _gallery(score_dir: Path, scores: pd.DataFrame, specs: list[dict], config: dict, per_metric: int) -> str:
    worst = _read_csv(score_dir / "worst.csv")
    hib = _directions(specs)
    if worst is not None and worst.empty and (config.get("config") or {}).get("worst_n") == 0:
        return _note("No gallery: the scores were summarised with --worst 0.")
    if worst is None or worst.empty:
        try:
            from iqalign.audit import worst_images

            spec_map = {s["name"]: s for s in specs}
            worst = worst_images(scores, [s["name"] for s in specs if len(_finite(scores[s["name"]]))], spec_map,
                                 n=per_metric)
        except Exception as exc:  # noqa: BLE001
            return _note(f"No worst-image list (worst.csv missing and not computable: {exc}).")
        if worst.empty:
            return _note("No worst-image list: no metric has values.")
    source = (config.get("config") or {}).get("source")
    cache: dict[str, str | None] = {}
    blocks = []
    for metric in dict.fromkeys(worst["metric"]):
        rows = worst[worst["metric"] == metric].sort_values("rank").head(per_metric)
        arrow = "↑" if hib.get(metric, True) else "↓"
        cards = []
        for r in rows.itertuples(index=False):
            key = str(r.path)
            if key not in cache:
                cache[key] = _thumbnail(_resolve_image(key, score_dir, source))
            data = cache[key]
            name = str(getattr(r, "image_id", "") or PurePosixPath(key).name)
            label = getattr(r, "label", None)
            label_text = ""
            if label is not None and not (isinstance(label, float) and math.isnan(label)):
                try:
                    label_text = _class_names(pd.Series([label]))[0]
                except Exception:  # noqa: BLE001
                    label_text = str(label)
            img = (f'<img class="thumb" alt="{_e(name)}" src="data:image/jpeg;base64,{data}">' if data else
                   '<div class="thumb missing">image could not be read</div>')
            pct = getattr(r, "percentile", np.nan)
            cards.append(
                f'<figure class="card">{img}<figcaption><b>#{_e(int(r.rank))}</b> <span class="fname" title="{_e(key)}">'
                f'{_e(name)}</span><br>{_e(metric)} = {_e(_fmt(r.value))}'
                f' · pct {_e(_fmt(pct, 2))}' + (f'<br><span class="muted">{_e(label_text)}</span>' if label_text else "")
                + "</figcaption></figure>")
        blocks.append(f'<h3>{_e(metric)} <span class="muted">({arrow} better; rank 1 = lowest quality)</span></h3>'
                      f'<div class="gallery">{"".join(cards)}</div>')
    hint = (f'<p class="hint">Per metric the lowest-quality images (worst.csv, at most {per_metric} each) with their '
            'value and percentile rank in this dataset (low = low quality for every metric).</p>')
    return hint + "".join(blocks)


# ----------------------------------------------------------------------------------------------
# sections: benchmark folder
# ----------------------------------------------------------------------------------------------

def _alignment(bench: Path, families: Mapping[str, str]) -> str:
    table = _read_csv(bench / "alignment.csv")
    if table is None or table.empty:
        return _note("alignment.csv is missing or empty in the benchmark folder.")
    parts = []
    for model in dict.fromkeys(table["model"]):
        sub = table[table["model"] == model]
        key_order = []
        for target in TARGETS:
            for scope in ("all", "within"):
                if ((sub["target"] == target) & (sub["scope"] == scope)).any():
                    key_order.append((target, scope))
        if not key_order:
            continue
        idx = sub.set_index(["metric", "target", "scope"])
        first = key_order[0]
        base = sub[(sub["target"] == first[0]) & (sub["scope"] == first[1])]
        order = base.sort_values("spearman", ascending=False, na_position="last")["metric"].tolist()
        order += [m for m in dict.fromkeys(sub["metric"]) if m not in order]
        head = ("<th>metric</th><th>family</th>" + "".join(f"<th>ρ {_e(t)} ({_e(s)})</th>" for t, s in key_order)
                + "<th>AUROC top-1 error</th><th>n</th>")
        rows = []
        for m in order:
            cells = [f"<td>{_e(m)}</td><td>{_e(families.get(m, '?'))}</td>"]
            for t, s in key_order:
                if (m, t, s) in idx.index:
                    r = idx.loc[(m, t, s)]
                    r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
                    rho, lo, hi = float(r.spearman), float(r.spearman_lo), float(r.spearman_hi)
                    shade = "" if not math.isfinite(rho) else f' style="background:{_rho_colour(rho)}"'
                    ci = f' <span class="ci">[{lo:+.2f}, {hi:+.2f}]</span>' if math.isfinite(lo) and math.isfinite(hi) else ""
                    cells.append(f'<td class="num"{shade}>{_e(f"{rho:+.3f}" if math.isfinite(rho) else "–")}{ci}</td>')
                else:
                    cells.append('<td class="num">–</td>')
            auroc = np.nan
            if (m, "top1", "all") in idx.index:
                r = idx.loc[(m, "top1", "all")]
                auroc = float((r.iloc[0] if isinstance(r, pd.DataFrame) else r).auroc)
            n = sub[(sub["metric"] == m) & (sub["scope"] == "all")]["n"].max()
            cells.append(f'<td class="num">{_e(_fmt(auroc))}</td><td class="num">{_e(_fmt(n))}</td>')
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(f"<h3>target model {_e(model)}</h3><div class=\"scroll\"><table class=\"data\"><thead><tr>{head}"
                     f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    if not parts:
        return _note("alignment.csv has no rows for the targets p_true / top1.")
    hint = ('<p class="hint">Spearman ρ between each metric (oriented: higher = better quality) and the model\'s '
            'performance, with its 95% photo-bootstrap interval; <i>within</i> = within one photo across '
            'conditions. AUROC: how well the metric separates correct from wrong top-1 answers. Sorted by the first '
            'column.</p>')
    return hint + "".join(parts)


def _rho_colour(rho: float) -> str:
    a = min(1.0, abs(rho)) * 0.55
    return f"rgba(76,120,168,{a:.2f})" if rho >= 0 else f"rgba(228,87,86,{a:.2f})"


def _pick_target(frame: pd.DataFrame) -> str | None:
    for t in TARGETS:
        if (frame["target"] == t).any():
            return t
    return None


def _first_model_table(bench: Path, name: str):
    """(rows of ``name`` for the first model and the preferred target, model, target) or a note."""
    table = _read_csv(bench / name)
    if table is None or table.empty:
        return _note(f"{name} is missing or empty in the benchmark folder.")
    target = _pick_target(table)
    if target is None:
        return _note(f"{name} has no p_true / top1 rows.")
    model = str(table["model"].iloc[0])
    return table[(table["model"] == model) & (table["target"] == target)], model, target


def _heatmaps(bench: Path) -> str:
    found = _first_model_table(bench, "sensitivity.csv")
    if isinstance(found, str):
        return found
    sub, model, target = found
    cells = sub[sub["kind"] == "cell"].copy()
    if cells.empty:
        return _note("sensitivity.csv has no cell rows.")
    agree = sub[sub["kind"] == "agreement"].set_index("metric")
    metrics = list(dict.fromkeys(cells["metric"]))
    if len(agree):  # the metrics whose effects agree best with the model's, then the classic ones
        ranked = agree.reindex(metrics)["spearman"].sort_values(ascending=False, na_position="last")
        metrics = list(ranked.index)
    chosen = metrics[:HEATMAP_METRICS - 1] + [m for m in metrics[HEATMAP_METRICS - 1:] if m in ("brisque", "niqe", "piqe")][:1]
    if len(chosen) < HEATMAP_METRICS:
        chosen += [m for m in metrics if m not in chosen][:HEATMAP_METRICS - len(chosen)]
    corruptions = list(dict.fromkeys(cells["corruption"]))
    severities = sorted({int(s) for s in cells["severity"].dropna()})
    plt = _pyplot()
    panels = [("model: " + model, "m_effect_sd", chosen[0])] + [(m, "q_effect_sd", m) for m in chosen]
    ncols = len(panels)
    fig, axes = plt.subplots(1, ncols, figsize=(1.0 + 0.45 * len(severities) * ncols + 1.6 * ncols,
                                                 0.8 + 0.28 * len(corruptions)), squeeze=False)
    vmax = 0.0
    grids = []
    for title, column, metric in panels:
        part = cells[cells["metric"] == metric]
        grid = np.full((len(corruptions), len(severities)), np.nan)
        for r in part.itertuples(index=False):
            if pd.isna(r.severity):
                continue
            grid[corruptions.index(r.corruption), severities.index(int(r.severity))] = getattr(r, column)
        grids.append((title, grid))
        if np.isfinite(grid).any():
            vmax = max(vmax, float(np.nanmax(np.abs(grid))))
    vmax = vmax or 1.0
    image = None
    for i, (ax, (title, grid)) in enumerate(zip(axes.flat, grids)):
        image = ax.imshow(grid, cmap="RdBu", vmin=-vmax, vmax=vmax, aspect="auto")
        ax.set_title(title, fontsize=8)
        ax.set_xticks(range(len(severities)))
        ax.set_xticklabels([str(s) for s in severities], fontsize=7)
        ax.set_yticks(range(len(corruptions)))
        ax.set_yticklabels(corruptions if i == 0 else [], fontsize=7)
        ax.set_xlabel("severity", fontsize=7)
    fig.colorbar(image, ax=list(axes.flat), shrink=0.8, label="effect (SD units)")
    hint = (f'<p class="hint">Paired effect of each condition cell (corruption × severity) against the same photo\'s '
            f'clean view, in standard deviations: first the model <b>{_e(model)}</b> ({_e(target)}), then the metrics '
            f'({_e(", ".join(chosen))}), oriented so that blue = better, red = worse. A useful metric turns red where '
            'the model does. Full table: sensitivity.csv.</p>')
    return hint + _png(fig)


def _node_order(nodes: pd.DataFrame) -> list[str]:
    """Nodes sorted by the model's effect, most harmful first (NaN last)."""
    ranked = nodes.drop_duplicates("node").sort_values("m_effect", na_position="last", kind="stable")
    return [str(n) for n in ranked["node"]]


def _graph_figure(sub: pd.DataFrame, model: str, target: str) -> tuple[str, list[str]]:
    """One figure for one target model: the model's effect per node (bars) beside the metrics' effects
    (heat map, rows = the same nodes). Returns (<img>, node order)."""
    nodes_rows = sub[sub["kind"] == "node"]
    metrics = list(dict.fromkeys(nodes_rows["metric"]))
    # the model's effect is the same for every metric up to missing values: take the most complete metric's
    per_metric = nodes_rows.groupby("metric", sort=False)["n_images"].sum()
    ref = nodes_rows[nodes_rows["metric"] == per_metric.idxmax()].drop_duplicates("node").set_index("node")
    order = _node_order(ref.reset_index())
    ref = ref.reindex(order)
    agree = sub[sub["kind"] == "agreement"].drop_duplicates("metric").set_index("metric").reindex(metrics)
    metrics = list(agree["spearman"].sort_values(ascending=False, na_position="last", kind="stable").index)
    agree = agree.reindex(metrics)

    grid = np.full((len(order), len(metrics) + 1), np.nan)  # column 0: the model, in SD units
    sig = np.zeros_like(grid, dtype=bool)
    grid[:, 0] = ref["m_effect_sd"].to_numpy(dtype=float)
    sig[:, 0] = ((ref["m_effect_lo"] > 0) | (ref["m_effect_hi"] < 0)).to_numpy()
    for j, metric in enumerate(metrics, start=1):
        part = nodes_rows[nodes_rows["metric"] == metric].drop_duplicates("node").set_index("node").reindex(order)
        grid[:, j] = part["q_effect_sd"].to_numpy(dtype=float)
        sig[:, j] = ((part["q_effect_lo"] > 0) | (part["q_effect_hi"] < 0)).to_numpy()

    plt = _pyplot()
    n, k = len(order), grid.shape[1]
    bar_w, cell_w = 3.6, 0.55
    fig, (ax_bar, ax_map) = plt.subplots(
        1, 2, figsize=(bar_w + 1.6 + cell_w * k + 1.4, 1.9 + 0.34 * n),
        gridspec_kw={"width_ratios": [bar_w, cell_w * k], "wspace": 0.05}, sharey=True)
    y = np.arange(n)
    eff = ref["m_effect"].to_numpy(dtype=float)
    lo, hi = ref["m_effect_lo"].to_numpy(dtype=float), ref["m_effect_hi"].to_numpy(dtype=float)
    worse_is_up = target == "loss"
    colours = ["#bbbbbb" if not (math.isfinite(e) and (a > 0 or b < 0)) else
               ("#e45756" if (e > 0) == worse_is_up else "#4c78a8") for e, a, b in zip(eff, lo, hi)]
    err = np.vstack([np.where(np.isfinite(lo), eff - lo, 0), np.where(np.isfinite(hi), hi - eff, 0)])
    ax_bar.barh(y, np.nan_to_num(eff), color=colours, height=0.62, xerr=np.nan_to_num(np.clip(err, 0, None)),
                error_kw={"elinewidth": 0.9, "capsize": 2, "ecolor": "#333"})
    ax_bar.axvline(0, color="#666", linewidth=0.8)
    labels = []
    for node, r in ref.iterrows():
        rng = f"{_fmt(r['low'], 2)}→{_fmt(r['high'], 2)}" if math.isfinite(r["low"]) and math.isfinite(r["high"]) else ""
        labels.append(f"{node}  {rng}".rstrip())
    ax_bar.set_yticks(y)
    ax_bar.set_yticklabels(labels, fontsize=8)
    ax_bar.set_ylim(n - 0.5, -0.5)
    ax_bar.set_xlabel(f"effect on {target} (high − low)", fontsize=8)
    ax_bar.tick_params(axis="x", labelsize=7)
    ax_bar.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.3g}"))  # no offset text (tiny effects)
    ax_bar.set_title(f"{model}: {target}", fontsize=9)
    ax_bar.grid(axis="x", color="#eee", linewidth=0.6)
    ax_bar.set_axisbelow(True)

    finite = np.abs(grid[np.isfinite(grid)])
    vmax = float(min(3.0, max(0.5, finite.max()))) if finite.size else 1.0
    image = ax_map.imshow(grid, cmap="RdBu", vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest")
    for (i, j), v in np.ndenumerate(grid):
        if not math.isfinite(v):
            ax_map.text(j, i, "–", ha="center", va="center", fontsize=6.5, color="#999")
            continue
        strong = abs(v) > 0.6 * vmax
        colour = ("white" if strong else "black") if sig[i, j] else ("#dddddd" if strong else "#777777")
        text = f"{v:+.1f}" if abs(v) < 9.95 else f"{v:+.0f}"
        ax_map.text(j, i, text, ha="center", va="center", fontsize=7, color=colour,
                    fontweight="bold" if sig[i, j] else "normal")
    ax_map.axvline(0.5, color="black", linewidth=1.2)
    ax_map.set_xticks(range(k))
    ax_map.set_xticklabels([f"model: {target}"] + metrics, fontsize=7.5, rotation=55, ha="left",
                           rotation_mode="anchor")
    ax_map.xaxis.tick_top()
    ax_map.tick_params(axis="y", left=False)
    # the agreement per metric under its column: Spearman across nodes of its effects with the model's
    rho = agree["spearman"].to_numpy(dtype=float)
    for j, r in enumerate(rho, start=1):
        ax_map.text(j, n - 0.5 + 0.2, f"{r:+.2f}" if math.isfinite(r) else "–", ha="center", va="top",
                    fontsize=7, color="#1d2430", fontweight="bold", clip_on=False)
    ax_map.text(0, n - 0.5 + 0.2, "ρ:", ha="center", va="top", fontsize=7.5, color="#1d2430", clip_on=False)
    ax_map.set_xlabel("ρ: agreement with the model's node effects\n(Spearman across nodes)", fontsize=7.5,
                      labelpad=14)
    cbar = fig.colorbar(image, ax=ax_map, shrink=0.85, pad=0.02,
                        extend="both" if finite.size and finite.max() > vmax else "neither")
    cbar.set_label("effect (SD units)", fontsize=7.5)
    cbar.ax.tick_params(labelsize=7)
    return _png(fig), order


def _graph_effects(bench: Path, bench_config: dict | None) -> str:
    table = _read_csv(bench / "node_effects.csv")
    graph = (bench_config or {}).get("graph") or {}
    if (table is None or table.empty) and graph and not graph.get("contrasts"):
        return _note("This condition-graph benchmark was run without node contrasts (node effects off, or every "
                     "node fixed by --intervene): no node effects to draw.")
    if table is None or table.empty:
        return _note("node_effects.csv is missing or empty in the benchmark folder.")
    name = ((graph.get("definition") or {}).get("name")) or graph.get("spec") or "?"
    draws = graph.get("samples_per_image")
    interventions = graph.get("interventions") or {}
    n_nodes = table.loc[table["kind"] == "node", "node"].nunique()
    facts = [f"condition graph <b>{_e(name)}</b>",
             f"{_e(draws if draws is not None else '?')} draw(s) per photo",
             f"{_e(n_nodes)} contrasted nodes"]
    if interventions:
        facts.append("run under do(" + _e(", ".join(f"{k}={_fmt(v)}" for k, v in interventions.items())) + ")")
    n_images = pd.to_numeric(table["n_images"], errors="coerce").max()
    if math.isfinite(n_images):
        facts.append(f"{_e(int(n_images))} photos")
    parts = []
    for model in dict.fromkeys(table["model"]):
        sub = table[table["model"] == model]
        target = _pick_target(sub)
        if target is None:
            parts.append(f"<h3>target model {_e(model)}</h3>" + _note("node_effects.csv has no p_true / top1 rows."))
            continue
        sub = sub[sub["target"] == target]
        if not (sub["kind"] == "node").any():
            parts.append(f"<h3>target model {_e(model)}</h3>" + _note("node_effects.csv has no node rows."))
            continue
        img, order = _graph_figure(sub, str(model), target)
        parts.append(f'<h3>target model {_e(model)} <span class="muted">({_e(target)}; nodes from most harmful '
                     f'to most helpful: {_e(", ".join(order))})</span></h3>' + img)
    if not parts:
        return _note("node_effects.csv has no node rows.")
    levels = {"spread": "the 10th and the 90th percentile of the node's own draws",
              "range": "the low and the high end of its declared range"}.get(graph.get("node_contrast", "range"),
                                                                            "a low and a high level")
    hint = (f'<p class="hint">{" · ".join(facts)}. Each draw of the graph is also rendered with one node set to '
            f'{_e(levels)} (the levels are in node_effects.csv and config.json), everything else shared; a node\'s '
            '<i>effect</i> is the mean over photos of high − low. Left: the effect on the model with its 95% photo-bootstrap interval (red: worse, '
            'blue: better, grey: the interval includes 0); nodes sorted from most harmful down. Right, on the same '
            'rows: the effect on each metric in SD units of its spread over the draws, oriented so that blue = the '
            'metric says quality rose, red = fell; the first column is the model in the same units. Bold values: '
            'the interval excludes 0. Under each metric its agreement ρ (Spearman across nodes of its effects with '
            'the model\'s); metrics sorted by it. A useful metric\'s column looks like the model\'s. '
            'Full table: node_effects.csv (causal.md).</p>')
    return hint + "".join(parts)


def _decomposition(bench: Path, graph_mode: bool = False) -> str:
    found = _first_model_table(bench, "decomposition.csv")
    if isinstance(found, str):
        return found
    sub, model, target = found
    metrics = list(dict.fromkeys(sub["metric"]))
    if not metrics:
        return _note("decomposition.csv has no rows for this model.")
    plt = _pyplot()
    scopes = [("between", "#f58518"), ("within", "#4c78a8")]
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.32 * len(metrics)))
    y = np.arange(len(metrics))
    for k, (scope, colour) in enumerate(scopes):
        part = sub[sub["scope"] == scope].drop_duplicates("metric").set_index("metric").reindex(metrics)
        rho = part["spearman"].to_numpy(dtype=float)
        lo = part["spearman_lo"].to_numpy(dtype=float)
        hi = part["spearman_hi"].to_numpy(dtype=float)
        err = np.vstack([np.where(np.isfinite(lo), rho - lo, 0), np.where(np.isfinite(hi), hi - rho, 0)])
        ax.errorbar(rho, y + (k - 0.5) * 0.3, xerr=np.nan_to_num(err), fmt="o", color=colour, markersize=4,
                    capsize=2, linewidth=1, label=f"{scope} photos" if scope == "between" else "within a photo")
    ax.axvline(0, color="#999", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(metrics, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"Spearman ρ with {model} {target}", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    if graph_mode:
        hint = ('<p class="hint">On the condition graph\'s observational draws (not the do() contrasts): '
                '<i>between</i>: does the metric rank photos (content) as the model does; <i>within</i>: with the '
                'photo fixed, does it move with the model from one draw of the graph to the next. '
                '95% photo-bootstrap intervals. Full table: decomposition.csv (scopes all, between, within).</p>')
    else:
        hint = ('<p class="hint"><i>between</i>: does the metric rank photos (content) as the model does; '
                '<i>within</i>: with the photo fixed, does it move with the model as the imaging conditions change. '
                '95% photo-bootstrap intervals. Full table: decomposition.csv (docs/causal.md).</p>')
    return hint + _png(fig)


# ----------------------------------------------------------------------------------------------
# page
# ----------------------------------------------------------------------------------------------

_CSS = """
:root { --fg:#1d2430; --muted:#5b6575; --line:#d9dee7; --bg:#f6f7f9; --accent:#2f5d8a; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color:var(--fg); background:var(--bg); }
header { background:#1f3b57; color:#fff; padding:14px 24px; }
header h1 { margin:0; font-size:20px; font-weight:600; }
header p { margin:4px 0 0; color:#c9d6e4; font-size:12px; }
nav { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line); padding:6px 24px; }
nav a { color:var(--accent); text-decoration:none; margin-right:16px; font-size:13px; }
nav a:hover { text-decoration:underline; }
main { max-width:1240px; margin:0 auto; padding:8px 24px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:6px; padding:8px 18px 16px; margin:16px 0; }
h2 { font-size:17px; margin:10px 0 8px; color:var(--accent); }
h3 { font-size:14px; margin:14px 0 6px; }
.hint { color:var(--muted); font-size:12.5px; margin:4px 0 8px; }
.note { background:#fff8e6; border-left:3px solid #e0a800; padding:6px 10px; margin:8px 0; font-size:13px; }
.muted { color:var(--muted); font-weight:normal; }
img.plot { max-width:100%; height:auto; display:block; margin:6px 0; }
.scroll { overflow-x:auto; }
table.data { border-collapse:collapse; font-size:12px; margin:6px 0; }
table.data th, table.data td { border-bottom:1px solid var(--line); padding:3px 8px; text-align:left; white-space:nowrap; }
table.data th { background:#eef1f5; position:sticky; top:0; }
table.data td.num { text-align:right; font-variant-numeric:tabular-nums; }
.ci { color:var(--muted); font-size:11px; }
dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:2px 16px; margin:6px 0; }
dl.kv dt { color:var(--muted); } dl.kv dd { margin:0; word-break:break-all; }
.gallery { display:flex; flex-wrap:nowrap; gap:10px; overflow-x:auto; padding-bottom:4px; }
figure.card { margin:0; flex:0 0 172px; width:172px; border:1px solid var(--line); border-radius:4px; padding:5px; background:#fafbfc; }
img.thumb { display:block; max-width:160px; max-height:160px; margin:0 auto; }
div.thumb.missing { width:160px; height:100px; display:flex; align-items:center; justify-content:center;
                    background:#f2dede; color:#a33; font-size:12px; text-align:center; }
figcaption { font-size:11.5px; margin-top:4px; line-height:1.3; }
.fname { word-break:break-all; }
pre { background:#f3f4f6; padding:10px; overflow:auto; font-size:11.5px; max-height:520px; }
details summary { cursor:pointer; color:var(--accent); margin:6px 0; }
footer { color:var(--muted); font-size:11.5px; text-align:center; padding:10px; }
"""

# Marks the page once every image has decoded: <body data-images="ok|broken" data-image-count="N">.
# The tests read it back from Chromium's --dump-dom.
_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (im) { return !(im.complete && im.naturalWidth > 0); });
  document.body.setAttribute('data-image-count', String(imgs.length));
  document.body.setAttribute('data-images', broken.length ? 'broken' : 'ok');
});
"""


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


def _safe(fn, *args) -> str:
    """Run a section builder; a failure becomes a note, never a broken report."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001
        return _note(f"This section could not be drawn: {type(exc).__name__}: {exc}")


def render_report(score_dir: str | Path, benchmark_dir: str | Path | None = None, *,
                  gallery_per_metric: int = GALLERY_PER_METRIC, title: str | None = None) -> str:
    """The report of ``score_dir`` (and ``benchmark_dir``) as one HTML string."""
    score_dir = Path(score_dir)
    scores, config, specs = _load_score(score_dir)
    bench = Path(benchmark_dir) if benchmark_dir else None
    families = {s["name"]: s.get("family", "?") for s in specs}
    bench_config = None
    if bench is not None:
        bench_config = _read_json(bench / "config.json")
        for s in (bench_config or {}).get("metrics") or []:
            if isinstance(s, Mapping) and "name" in s:
                families.setdefault(s["name"], s.get("family", "?"))

    sections = [
        ("overview", "Overview", _safe(_overview, score_dir, scores, config, specs, bench)),
        ("distributions", "Distributions", _safe(_histograms, scores, specs)),
        ("groups", "Per group", _safe(_boxplots, scores, specs, config)),
        ("quantiles", "Quantiles", _safe(_quantiles, score_dir, scores, specs)),
        ("gallery", "Lowest-quality images", _safe(_gallery, score_dir, scores, specs, config, gallery_per_metric)),
    ]
    if bench is None:
        sections.append(("benchmark", "Benchmark", _note(
            "No benchmark folder given (iqalign report SCORE_DIR --benchmark BENCH_DIR): no alignment table, "
            "heat maps or decomposition.")))
    elif not bench.is_dir():
        sections.append(("benchmark", "Benchmark", _note(f"The benchmark folder {bench} does not exist.")))
    else:
        graph_mode = (bench / "node_effects.csv").is_file() or "graph" in (bench_config or {})
        sections.append(("alignment", "Alignment", _safe(_alignment, bench, families)))
        if graph_mode:  # a condition-graph benchmark: node effects in place of the grid's sensitivity cells
            sections.append(("graph", "Condition graph: what moves the model, and which metrics follow",
                             _safe(_graph_effects, bench, bench_config)))
        if not graph_mode or (bench / "sensitivity.csv").is_file():
            sections.append(("sensitivity", "Sensitivity heat maps", _safe(_heatmaps, bench)))
        sections.append(("decomposition", "Between / within photos", _safe(_decomposition, bench, graph_mode)))
    cfg_body = ("<details><summary>score config.json</summary><pre>"
                + _e(json.dumps(config, indent=2, default=str)) + "</pre></details>")
    if bench_config is not None:
        cfg_body += ("<details><summary>benchmark config.json</summary><pre>"
                     + _e(json.dumps(bench_config, indent=2, default=str)) + "</pre></details>")
    if not config:
        cfg_body = _note("config.json is missing or unreadable in the score folder.") + cfg_body
    sections.append(("configuration", "Configuration", cfg_body))

    nav = "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t, _ in sections)
    body = "".join(_section(a, t, b) for a, t, b in sections)
    try:
        from importlib.metadata import version

        ver = version("iqalign")
    except Exception:  # noqa: BLE001
        ver = "?"
    title = title or f"iqalign report: {score_dir.name}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{_e(title)}</h1><p>{_e(len(scores))} images · {_e(len(specs))} metrics · iqalign {_e(ver)}"
            "</p></header>"
            f"<nav>{nav}</nav><main>{body}</main><footer>Self-contained page written by iqalign report; "
            f"it references no file or address outside itself.</footer><script>{_SCRIPT}</script></body></html>\n")


build_report = render_report


def write_report(score_dir: str | Path, benchmark_dir: str | Path | None = None,
                 out: str | Path | None = None) -> Path:
    """Write the report of ``score_dir`` (default ``score_dir/report.html``); return its path."""
    out = Path(out) if out else Path(score_dir) / "report.html"
    text = render_report(score_dir, benchmark_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
