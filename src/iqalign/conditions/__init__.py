"""Condition graphs: causal models of imaging conditions, sampled per image, with do() interventions.

See ``docs/condition-graphs.md``. Example graphs ship in ``iqalign/conditions/graphs``.
"""
from __future__ import annotations

import importlib.resources

from .graph import (DEFAULT_STAGE, DISTRIBUTIONS, LATENT, STAGES, TRANSFORMS, ConditionGraph, Distribution,
                    GraphError, Node, Step, apply_graph_sample, check_interventions, graph_to_dict, load_graph,
                    node_rng, parse_interventions, plan, row_fields, sample)

_SUFFIXES = (".yaml", ".yml", ".json")


def _graph_files() -> dict:
    root = importlib.resources.files(__name__) / "graphs"
    return {p.name.rsplit(".", 1)[0]: p for p in sorted(root.iterdir(), key=lambda p: p.name)
            if p.name.endswith(_SUFFIXES)}


def list_graphs() -> list[str]:
    """Names of the shipped example graphs (``load_example(name)``)."""
    return list(_graph_files())


def load_example(name: str) -> ConditionGraph:
    """A shipped example graph by name, e.g. ``load_example("low_light_indoor")``."""
    files = _graph_files()
    if name not in files:
        raise GraphError(f"unknown example graph {name!r}; choose from: {', '.join(files)}")
    with importlib.resources.as_file(files[name]) as path:
        return load_graph(path)


def resolve_graph(spec: str) -> ConditionGraph:
    """A CLI ``--graph`` value: an example name or a path to a .yaml/.yml/.json file."""
    from pathlib import Path

    files = _graph_files()
    if spec in files:
        return load_example(spec)
    if not Path(spec).exists() and not Path(spec).suffix:
        raise GraphError(f"no example graph {spec!r} and no file of that name; examples: {', '.join(files)}; "
                         "or give a .yaml/.yml/.json file")
    return load_graph(spec)


__all__ = ["DEFAULT_STAGE", "DISTRIBUTIONS", "LATENT", "STAGES", "TRANSFORMS", "ConditionGraph", "Distribution",
           "GraphError", "Node", "Step", "apply_graph_sample", "check_interventions", "graph_to_dict", "list_graphs",
           "load_example", "load_graph", "node_rng", "parse_interventions", "plan", "resolve_graph",
           "row_fields", "sample"]
