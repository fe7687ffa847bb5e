"""The views a graph benchmark makes of each photo: the experimental design behind its rows.

For every photo: its clean view; ``samples`` draws from the graph (the *observational* arm: what imagery
from these conditions looks like); and, for per-node effects, each draw again under ``do(node=low)`` and
``do(node=high)`` for every node that is not held fixed by the run's own interventions (the
*interventional* arms). The three views of one draw share every random number (node noise and the
corruptions' pixel noise), so ``high - low`` is the effect of that node alone on that photo under that
draw: its descendants respond through the graph, everything else stays put. Averaged over draws and
photos it is the node's average total effect between the two levels.

The levels (:func:`contrast_plan`): ``spread`` (default) takes the 10th and 90th percentiles of the node's
own values over 2,000 draws of the graph (under the run's interventions), so every node moves across the
variation it really has in this imagery and effects compare across nodes; ``range`` takes the ends of the
node's declared range (the whole plausible span, which may be far wider than what the graph draws).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .graph import ConditionGraph, check_interventions, format_value, row_fields, sample

CLEAN, SAMPLE, LOW, HIGH = "clean", "sample", "low", "high"
OBSERVED = "graph"  # the condition key of observational rows


@dataclass(frozen=True)
class View:
    """One view of one photo: which arm, which draw, which node values, which do()."""

    condition: str  # "clean", "graph" or "do(node=value)"
    arm: str  # CLEAN, SAMPLE, LOW or HIGH
    sample: int  # index of the draw; -1 for the clean view
    node: str  # the contrasted node (LOW/HIGH arms), else ""
    values: Mapping[str, float] | None  # every node's value (None: the clean view)
    do: Mapping[str, float]  # the interventions behind ``values`` (the run's plus the contrast's)

    def apply_id(self, image_id: str) -> str:
        """The ``image_id`` handed to the corruptions: one per (photo, draw), shared by the draw's arms."""
        return f"{image_id}#{self.sample}"

    def fields(self, graph: ConditionGraph) -> dict[str, Any]:
        """Row columns: ``condition``, ``arm``, ``sample``, ``node`` and the graph's ``cg_*`` columns
        (the clean view: node values NaN, empty order)."""
        base = {"condition": self.condition, "arm": self.arm, "sample": self.sample, "node": self.node}
        values = self.values if self.values is not None else {n: float("nan") for n in graph.order}
        steps = [] if self.values is None else None
        return {**base, **row_fields(graph, values, steps, self.do)}


CONTRAST_MODES = ("spread", "range")
SPREAD_DRAWS = 2000
SPREAD_QUANTILES = (0.1, 0.9)


def contrasted_nodes(graph: ConditionGraph, interventions: Mapping[str, float]) -> list[str]:
    """Nodes whose effect a run estimates: all except those the run fixes, in topological order."""
    return [n for n in graph.order if n not in interventions]


def contrast_plan(graph: ConditionGraph, interventions: Mapping[str, float] | None = None, mode: str = "spread",
                  seed: int = 0) -> dict[str, tuple[float, float]]:
    """node -> (low, high), the two do() values of each contrasted node (see the module doc). ``spread``
    falls back to the declared range for a node whose 10th and 90th percentiles coincide (e.g. a severity
    that is 0 in most draws); a node whose declared range is a single value cannot vary and is not contrasted.
    Levels are rounded to 4 decimals (they name rows)."""
    if mode not in CONTRAST_MODES:
        raise ValueError(f"node contrast must be one of {', '.join(CONTRAST_MODES)}, got {mode!r}")
    base = check_interventions(graph, interventions or {})
    nodes = [n for n in contrasted_nodes(graph, base) if graph.nodes[n].range[1] > graph.nodes[n].range[0]]
    if mode == "range" or not nodes:
        return {n: tuple(graph.nodes[n].range) for n in nodes}
    draws = sample(graph, "contrast-spread", seed, SPREAD_DRAWS, base)
    out = {}
    for n in nodes:
        r0, r1 = graph.nodes[n].range  # rounding must not step outside it (e.g. a range end at 0.12345)
        lo, hi = (min(max(round(float(q), 4), r0), r1) for q in np.quantile([d[n] for d in draws], SPREAD_QUANTILES))
        out[n] = (lo, hi) if hi > lo else (r0, r1)
    return out


def graph_views(graph: ConditionGraph, image_id: str, *, seed: int, samples: int,
                interventions: Mapping[str, float] | None = None,
                contrasts: Mapping[str, tuple[float, float]] | None = None) -> list[View]:
    """Every view of one photo, in a fixed order: clean, then per draw the observed view and its contrasts
    (``contrasts``: node -> (low, high), from :func:`contrast_plan`; empty or None: no contrasts)."""
    base = check_interventions(graph, interventions or {})
    observed = sample(graph, image_id, seed, samples, base)
    arms = []
    for node, levels in (contrasts or {}).items():
        if node in base:
            raise ValueError(f"node {node!r} is fixed by the run's interventions and cannot be contrasted")
        for arm, level in zip((LOW, HIGH), levels):
            do = {**base, node: float(level)}
            arms.append((node, arm, do, sample(graph, image_id, seed, samples, do)))
    views = [View(CLEAN, CLEAN, -1, "", None, {})]
    for k in range(samples):
        views.append(View(OBSERVED, SAMPLE, k, "", observed[k], base))
        for node, arm, do, draws in arms:
            views.append(View(f"do({node}={format_value(do[node])})", arm, k, node, draws[k], do))
    return views


def views_per_image(samples: int, contrasted: int) -> int:
    """How many views (rows) each photo gets: 1 + samples x (1 + 2 x contrasted nodes)."""
    return 1 + samples * (1 + 2 * contrasted)
