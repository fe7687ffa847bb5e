"""Per-node interventional effects of a condition-graph benchmark on every metric Q and model performance M.

A graph benchmark (``iqalign benchmark --conditions GRAPH``) renders each draw of the graph three times
per contrasted node: as drawn, under ``do(node=low)`` and under ``do(node=high)`` (the ends of the node's
declared range), with every random number shared (``iqalign.conditions.design``). The effect of a node on
a photo is the mean over its draws of ``Y(high) - Y(low)``: its *total* effect across its range, carried
by its descendants, with the rest of the graph as drawn. The table averages it over photos, with
percentile intervals from a bootstrap over photos, and puts it in SD units of the quantity's spread over
the graph's observational draws so metrics and models compare. Across nodes it asks the question of
``sensitivity.csv``: does the metric move on the nodes that move the model (Spearman across nodes,
hit and false-alarm rates)? For contrast it also gives the *observational* association (Spearman of the
node's drawn value with Q and with M over the observational rows), which confounding can make differ
from the effect: a node can correlate with the model's errors only because it shares a cause with the
node that does the harm.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .causal import DEFAULT_TARGETS, _check, _counts, _inputs, paired_effects

__all__ = ["NODE_EFFECT_COLUMNS", "node_effects_table"]

NODE_EFFECT_COLUMNS = [
    "metric", "model", "target", "kind", "node", "low", "high", "n_images", "n_nodes",
    "q_low", "q_effect", "q_effect_lo", "q_effect_hi", "q_effect_sd", "q_obs_spearman",
    "m_low", "m_effect", "m_effect_lo", "m_effect_hi", "m_effect_sd", "m_obs_spearman",
    "spearman", "spearman_lo", "spearman_hi", "n_worse_nodes", "hit_rate", "false_alarm_rate",
]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    return float(stats.spearmanr(a[ok], b[ok])[0])


def node_effects_table(rows: pd.DataFrame, metrics: Sequence[str], models: Sequence[str],
                       higher_is_better: Mapping[str, bool], nodes: Sequence[str] | None = None,
                       targets: Sequence[str] = DEFAULT_TARGETS, n_boot: int = 1000, confidence: float = 0.95,
                       seed: int = 0, exclude: Iterable[tuple[str, str]] = (), min_effect: float = 0.1,
                       group_col: str = "image_id", prefix: str = "cg_") -> pd.DataFrame:
    """Effect of each graph node on Q and on M, from the paired ``low``/``high`` arms of a graph benchmark.

    ``rows``: the rows of a graph benchmark: ``group_col``, ``arm`` (``sample``, ``low``, ``high``; others
    ignored), ``sample`` (draw index), ``node`` (the contrasted node of ``low``/``high`` rows),
    ``f"{prefix}{node}"`` (drawn node values, for the observational association), a float column per metric
    and ``f"{model}.{target}"``. ``nodes``: which nodes, in order (default: those with contrast rows, in
    order of appearance). Other arguments as in :func:`iqalign.analysis.causal.sensitivity_table`.

    Returns :data:`NODE_EFFECT_COLUMNS`: per (metric, model, target), one ``kind == "node"`` row per node
    then one ``kind == "agreement"`` row (``node == "all"``):

    * ``low``, ``high``: the node's two do() values. ``n_images``: photos with a complete pair.
    * ``q_low`` / ``m_low``: mean oriented Q / mean M under ``do(node=low)``.
    * ``q_effect`` (``_lo``, ``_hi``, ``_sd``): mean over photos of the per-photo mean over draws of
      Q(high) - Q(low), its interval, and the same in SD units of oriented Q over the observational rows;
      ``m_effect*`` likewise for M (negative = worse for top1/top5/p_true, positive = worse for loss).
    * ``q_obs_spearman`` / ``m_obs_spearman``: Spearman of the node's drawn value with Q / M over the
      observational rows (no intervals; association, not effect).
    * agreement rows: ``spearman`` across nodes of the Q and M effects (with interval), ``n_worse_nodes``,
      ``hit_rate`` and ``false_alarm_rate`` as ``sensitivity_table`` defines them over cells.
    """
    who = "node_effects_table"
    _check(n_boot, confidence, who)
    for c in (group_col, "arm", "sample", "node"):
        if c not in rows.columns:
            raise ValueError(f"{who}: missing column {c!r}: are these the rows of a condition-graph benchmark?")
    contrast = rows[rows["arm"].isin(["low", "high"])]
    if nodes is None:
        nodes = list(dict.fromkeys(contrast["node"]))
    nodes = list(nodes)
    if not nodes:
        raise ValueError(f"{who}: no do(node=low)/do(node=high) rows (was the benchmark run without node effects?)")
    observed = rows[rows["arm"] == "sample"]
    codes, images = pd.factorize(rows[group_col], sort=True)
    rows = rows.assign(_g=codes)
    g, u = len(images), len(nodes)
    x, y, combos = _inputs(rows, metrics, models, higher_is_better, targets, exclude, who)
    obs_mask = (rows["arm"] == "sample").to_numpy()
    counts = _counts(g, n_boot, seed).astype(float)

    # index of the low and high row of each (photo, draw, node): paired on the shared random numbers
    keyed = rows.reset_index(drop=True)
    keyed = keyed[keyed["arm"].isin(["low", "high"]) & keyed["node"].isin(nodes)]
    pos = keyed.index.to_numpy()
    frame = pd.DataFrame({"g": keyed["_g"].to_numpy(), "k": keyed["sample"].to_numpy(),
                          "u": pd.Categorical(keyed["node"], categories=nodes).codes, "arm": keyed["arm"].to_numpy(),
                          "pos": pos})
    if frame.duplicated(["g", "k", "u", "arm"]).any():
        raise ValueError(f"{who}: several {group_col}/sample/node/arm rows alike; give one row per view")
    pairs = frame.pivot_table(index=["g", "k", "u"], columns="arm", values="pos", aggfunc="first")
    pairs = pairs.reindex(columns=["low", "high"]).dropna()  # a view without its partner pairs with nothing
    gi = pairs.index.get_level_values("g").to_numpy()
    ui = pairs.index.get_level_values("u").to_numpy()
    lo_pos, hi_pos = pairs["low"].to_numpy(int), pairs["high"].to_numpy(int)
    levels = {}
    for n in nodes:
        sub = contrast[contrast["node"] == n]
        col = f"{prefix}{n}"
        low_v = sub.loc[sub["arm"] == "low", col] if col in sub else pd.Series(dtype=float)
        high_v = sub.loc[sub["arm"] == "high", col] if col in sub else pd.Series(dtype=float)
        levels[n] = (float(low_v.iloc[0]) if len(low_v) else np.nan, float(high_v.iloc[0]) if len(high_v) else np.nan)

    def per_photo(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(G, U) mean over draws of high - low and of low; and whether the photo has a complete pair."""
        d, lo = v[hi_pos] - v[lo_pos], v[lo_pos]
        ok = np.isfinite(d)
        s = np.zeros((g, u))
        s_lo = np.zeros((g, u))
        n = np.zeros((g, u))
        np.add.at(s, (gi[ok], ui[ok]), d[ok])
        np.add.at(s_lo, (gi[ok], ui[ok]), lo[ok])
        np.add.at(n, (gi[ok], ui[ok]), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return s / n, s_lo / n, n > 0

    obs_values = {n: pd.to_numeric(observed[f"{prefix}{n}"], errors="coerce").to_numpy(float)
                  if f"{prefix}{n}" in observed else np.full(len(observed), np.nan) for n in nodes}
    out: list[dict] = []
    for m, mo, t in combos:
        qv, yv = x[m], y[(mo, t)]
        both = obs_mask & np.isfinite(qv) & np.isfinite(yv)
        sd = float(np.std(qv[both])) if both.any() else float("nan")
        sd_m = float(np.std(yv[both])) if both.any() else float("nan")
        dq, ql, okq = per_photo(qv)
        dy, yl, oky = per_photo(yv)
        valid = okq & oky
        e = paired_effects(dq, dy, ql, yl, valid, counts, sd, sd_m, t, confidence, min_effect)
        q_obs, y_obs = qv[obs_mask], yv[obs_mask]
        for j, n in enumerate(nodes):
            out.append(dict(metric=m, model=mo, target=t, kind="node", node=n, low=levels[n][0], high=levels[n][1],
                            n_images=int(e.n_images[j]), n_nodes=1, q_low=e.q_base[j], q_effect=e.q_effect[j],
                            q_effect_lo=e.q_lo[j], q_effect_hi=e.q_hi[j], q_effect_sd=e.q_effect_sd[j],
                            q_obs_spearman=_spearman(obs_values[n], q_obs), m_low=e.m_base[j],
                            m_effect=e.m_effect[j], m_effect_lo=e.m_lo[j], m_effect_hi=e.m_hi[j],
                            m_effect_sd=e.m_effect_sd[j], m_obs_spearman=_spearman(obs_values[n], y_obs)))
        out.append(dict(metric=m, model=mo, target=t, kind="agreement", node="all",
                        n_images=int(valid.any(axis=1).sum()), n_nodes=e.n_defined, spearman=e.spearman,
                        spearman_lo=e.spearman_lo, spearman_hi=e.spearman_hi, n_worse_nodes=e.n_worse,
                        hit_rate=e.hit_rate, false_alarm_rate=e.false_alarm_rate))
    table = pd.DataFrame(out, columns=NODE_EFFECT_COLUMNS)
    table["n_worse_nodes"] = table["n_worse_nodes"].astype("Int64")
    for c in ("n_images", "n_nodes"):
        table[c] = table[c].astype(np.int64)
    for c in NODE_EFFECT_COLUMNS[5:]:
        if c not in ("n_images", "n_nodes", "n_worse_nodes"):
            table[c] = table[c].astype(float)
    return table
