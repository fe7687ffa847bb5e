"""The views a graph benchmark makes of each photo: the experimental design behind its rows.

For every photo: its clean view; ``samples`` draws from the graph (the *observational* arm: what imagery
from these conditions looks like); and, for per-node effects, each draw again under ``do(node=low)`` and
``do(node=high)`` for every node that is not held fixed by the run's own interventions (the
*interventional* arms). The three views of one draw share every random number (node noise and the
corruptions' pixel noise), so ``high - low`` is the effect of that node alone on that photo under that
draw: its descendants respond through the graph, everything else stays put. Averaged over draws and
photos it is the node's average total effect across its declared range.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .graph import ConditionGraph, check_interventions, row_fields, sample

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


def contrast_levels(graph: ConditionGraph, node: str) -> tuple[float, float]:
    """The two do() values of a node's contrast: the ends of its declared ``range``."""
    return graph.nodes[node].range


def contrasted_nodes(graph: ConditionGraph, interventions: Mapping[str, float]) -> list[str]:
    """Nodes whose effect a run estimates: all except those the run fixes, in topological order."""
    return [n for n in graph.order if n not in interventions]


def graph_views(graph: ConditionGraph, image_id: str, *, seed: int, samples: int,
                interventions: Mapping[str, float] | None = None, node_effects: bool = True) -> list[View]:
    """Every view of one photo, in a fixed order: clean, then per draw the observed view and its contrasts."""
    base = check_interventions(graph, interventions or {})
    observed = sample(graph, image_id, seed, samples, base)
    contrasts = []
    if node_effects:
        for node in contrasted_nodes(graph, base):
            for arm, level in zip((LOW, HIGH), contrast_levels(graph, node)):
                do = {**base, node: level}
                contrasts.append((node, arm, do, sample(graph, image_id, seed, samples, do)))
    views = [View(CLEAN, CLEAN, -1, "", None, {})]
    for k in range(samples):
        views.append(View(OBSERVED, SAMPLE, k, "", observed[k], base))
        for node, arm, do, draws in contrasts:
            views.append(View(f"do({node}={do[node]:g})", arm, k, node, draws[k], do))
    return views


def views_per_image(graph: ConditionGraph, samples: int, interventions: Mapping[str, float] | None = None,
                    node_effects: bool = True) -> int:
    """How many views (rows) each photo gets: 1 + samples x (1 + 2 x contrasted nodes)."""
    n = len(contrasted_nodes(graph, interventions or {})) if node_effects else 0
    return 1 + samples * (1 + 2 * n)
