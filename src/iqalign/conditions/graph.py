"""Condition graphs: imaging-condition factors, their causal dependencies, sampling and do().

A graph is a small DAG. Each node is one imaging-condition factor, bound either to one of the 19 ImageNet-C
corruptions (applied with :func:`iqalign.interventions.apply_continuous` at the node's value as severity) or
to ``latent`` (a factor such as illuminance that drives other nodes but changes no pixel). Root nodes draw
their value from a distribution; a child's value is ``clip(bias + sum(weight * parent) + noise_sd * z,
lo, hi)`` with ``z ~ N(0, 1)``. Transforms are applied in stage order (environment, optics, sensor,
processing), ties broken by topological order. See ``docs/condition-graphs.md``.

Seeding: every node draws from its own generator, seeded by a blake2b digest of (seed, image_id, sample
index, node name). A node's random draws therefore never depend on the other nodes or on interventions, so
``sample(..., interventions=...)`` and ``sample(...)`` with the same seed are paired: only the intervened
nodes and their descendants change.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..interventions.corruptions import CORRUPTIONS

LATENT = "latent"
TRANSFORMS: tuple[str, ...] = CORRUPTIONS + (LATENT,)
STAGES: tuple[str, ...] = ("environment", "optics", "sensor", "processing")
DISTRIBUTIONS: tuple[str, ...] = ("uniform", "normal", "beta", "constant", "choice")
MAX_SEVERITY = 5.0
RESERVED_NAMES = frozenset({"graph", "order", "do"})

#: The stage a node gets when its YAML omits ``stage``: where the corruption arises physically.
DEFAULT_STAGE: dict[str, str] = {
    "fog": "environment", "snow": "environment", "frost": "environment", "spatter": "environment",
    "defocus_blur": "optics", "glass_blur": "optics", "motion_blur": "optics", "zoom_blur": "optics",
    "gaussian_blur": "optics", "elastic_transform": "optics",
    "gaussian_noise": "sensor", "shot_noise": "sensor", "impulse_noise": "sensor", "speckle_noise": "sensor",
    "brightness": "sensor",
    "contrast": "processing", "saturate": "processing", "pixelate": "processing",
    "jpeg_compression": "processing", LATENT: "environment",
}

_GRAPH_FIELDS = {"name", "description", "nodes"}
_NODE_FIELDS = {"transform", "stage", "range", "distribution", "parents", "bias", "noise_sd", "description"}
_DIST_FIELDS = {
    "uniform": {"type", "low", "high"},
    "normal": {"type", "mean", "sd"},
    "beta": {"type", "a", "b"},
    "constant": {"type", "value"},
    "choice": {"type", "values", "weights"},
}


class GraphError(ValueError):
    """An invalid condition graph or intervention; the message names the graph, node and field."""


# --- Data model --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Distribution:
    """A root node's distribution. ``params`` as written in the file (``type`` excluded)."""

    type: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def draw(self, rng: np.random.Generator, lo: float, hi: float) -> float:
        p = self.params
        if self.type == "uniform":
            v = rng.uniform(p.get("low", lo), p.get("high", hi))
        elif self.type == "normal":
            v = p["mean"] + p["sd"] * rng.standard_normal()
        elif self.type == "beta":  # on [0, 1], scaled to the node's range
            v = lo + (hi - lo) * rng.beta(p["a"], p["b"])
        elif self.type == "constant":
            v = p["value"]
        else:  # choice
            values = p["values"]
            w = p.get("weights")
            probs = None if w is None else np.asarray(w, float) / float(np.sum(w))
            v = values[int(rng.choice(len(values), p=probs))]
        return float(min(max(v, lo), hi))


@dataclass(frozen=True)
class Node:
    """One imaging-condition factor.

    ``transform``: a corruption name (the value is its severity) or ``"latent"``. ``stage``: when its
    transform is applied. ``range``: ``(lo, hi)``, every sampled value is clipped to it. Roots have a
    ``distribution``; children have ``parents`` (name -> weight), ``bias`` and ``noise_sd``.
    """

    name: str
    transform: str
    stage: str
    range: tuple[float, float]
    distribution: Distribution | None = None
    parents: Mapping[str, float] = field(default_factory=dict)
    bias: float = 0.0
    noise_sd: float = 0.0
    description: str = ""

    @property
    def is_root(self) -> bool:
        return not self.parents

    @property
    def is_latent(self) -> bool:
        return self.transform == LATENT

    @property
    def domain(self) -> tuple[float, float]:
        """Values do() accepts: the transform's whole severity scale [0, 5], or a latent node's range."""
        return self.range if self.is_latent else (0.0, MAX_SEVERITY)


@dataclass(frozen=True)
class ConditionGraph:
    """A validated condition graph; ``order`` is the topological order (ties: declaration order)."""

    name: str
    nodes: Mapping[str, Node]
    order: tuple[str, ...]
    description: str = ""

    def children(self, name: str) -> list[str]:
        return [n for n in self.order if name in self.nodes[n].parents]

    def descendants(self, name: str) -> set[str]:
        self._need(name)
        out: set[str] = set()
        stack = [name]
        while stack:
            for c in self.children(stack.pop()):
                if c not in out:
                    out.add(c)
                    stack.append(c)
        return out

    def ancestors(self, name: str) -> set[str]:
        self._need(name)
        out: set[str] = set()
        stack = [name]
        while stack:
            for p in self.nodes[stack.pop()].parents:
                if p not in out:
                    out.add(p)
                    stack.append(p)
        return out

    def apply_order(self) -> list[str]:
        """Non-latent nodes in the order their transforms are applied: stage, then topological order."""
        pos = {n: i for i, n in enumerate(self.order)}
        nodes = [n for n in self.order if not self.nodes[n].is_latent]
        return sorted(nodes, key=lambda n: (STAGES.index(self.nodes[n].stage), pos[n]))

    def _need(self, name: str) -> None:
        if name not in self.nodes:
            raise GraphError(f"graph {self.name!r}: unknown node {name!r}; nodes: {', '.join(self.order)}")


# --- Loading and validation --------------------------------------------------------------------------------

def _number(x: Any, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        raise GraphError(f"{where}: expected a finite number, got {x!r}")
    return float(x)


def _unknown_fields(d: Mapping, allowed: set[str], where: str) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise GraphError(f"{where}: unknown field(s) {', '.join(map(repr, extra))}; "
                         f"allowed: {', '.join(sorted(allowed))}")


def _distribution(raw: Any, where: str, lo: float, hi: float) -> Distribution:
    if not isinstance(raw, Mapping):
        raise GraphError(f"{where}: expected a mapping with a 'type', got {raw!r}")
    kind = raw.get("type")
    if kind not in DISTRIBUTIONS:
        raise GraphError(f"{where}.type: unknown distribution {kind!r}; choose from: {', '.join(DISTRIBUTIONS)}")
    _unknown_fields(raw, _DIST_FIELDS[kind], where)
    p: dict[str, Any] = {}
    if kind == "uniform":
        for k in ("low", "high"):
            if k in raw:
                p[k] = _number(raw[k], f"{where}.{k}")
        a, b = p.get("low", lo), p.get("high", hi)
        if not lo <= a <= b <= hi:
            raise GraphError(f"{where}: uniform bounds [{a:g}, {b:g}] must lie within the range [{lo:g}, {hi:g}]"
                             " with low <= high")
    elif kind == "normal":
        for k in ("mean", "sd"):
            if k not in raw:
                raise GraphError(f"{where}: normal distribution needs {k!r}")
            p[k] = _number(raw[k], f"{where}.{k}")
        if p["sd"] < 0:
            raise GraphError(f"{where}.sd: must be >= 0, got {p['sd']:g}")
    elif kind == "beta":
        for k in ("a", "b"):
            if k not in raw:
                raise GraphError(f"{where}: beta distribution needs {k!r}")
            p[k] = _number(raw[k], f"{where}.{k}")
            if p[k] <= 0:
                raise GraphError(f"{where}.{k}: must be > 0, got {p[k]:g}")
    elif kind == "constant":
        if "value" not in raw:
            raise GraphError(f"{where}: constant distribution needs 'value'")
        p["value"] = _number(raw["value"], f"{where}.value")
        if not lo <= p["value"] <= hi:
            raise GraphError(f"{where}.value: {p['value']:g} is outside the range [{lo:g}, {hi:g}]")
    else:  # choice
        values = raw.get("values")
        if not isinstance(values, Sequence) or isinstance(values, str) or not values:
            raise GraphError(f"{where}.values: choice needs a non-empty list of values")
        p["values"] = [_number(v, f"{where}.values[{i}]") for i, v in enumerate(values)]
        for v in p["values"]:
            if not lo <= v <= hi:
                raise GraphError(f"{where}.values: {v:g} is outside the range [{lo:g}, {hi:g}]")
        if raw.get("weights") is not None:
            w = raw["weights"]
            if not isinstance(w, Sequence) or isinstance(w, str) or len(w) != len(values):
                raise GraphError(f"{where}.weights: need one weight per value ({len(values)})")
            p["weights"] = [_number(x, f"{where}.weights[{i}]") for i, x in enumerate(w)]
            if min(p["weights"]) < 0 or sum(p["weights"]) <= 0:
                raise GraphError(f"{where}.weights: must be >= 0 with a positive sum")
    return Distribution(kind, p)


def _node(name: Any, raw: Any, gname: str) -> Node:
    where = f"graph {gname!r}: node {name!r}"
    if (not isinstance(name, str) or not name or name != name.strip() or any(c in name for c in "=,>()")
            or not name.isprintable()):
        raise GraphError(f"graph {gname!r}: invalid node name {name!r} (a non-empty printable string without "
                         "'=', ',', '>', '(' or ')': they separate names in cg_do, cg_order and do(...) keys)")
    if name in RESERVED_NAMES:
        raise GraphError(f"graph {gname!r}: node name {name!r} is reserved (row columns cg_graph, cg_order, cg_do)")
    if not isinstance(raw, Mapping):
        raise GraphError(f"{where}: expected a mapping of fields, got {raw!r}")
    _unknown_fields(raw, _NODE_FIELDS, where)
    for k in ("transform", "range"):
        if k not in raw:
            raise GraphError(f"{where}: missing field {k!r}")
    transform = raw["transform"]
    if transform not in TRANSFORMS:
        raise GraphError(f"{where}: field 'transform': unknown transform {transform!r}; "
                         f"choose from: {', '.join(TRANSFORMS)}")
    stage = raw.get("stage", DEFAULT_STAGE[transform])
    if stage not in STAGES:
        raise GraphError(f"{where}: field 'stage': unknown stage {stage!r}; choose from: {', '.join(STAGES)}")
    rng_raw = raw["range"]
    if not isinstance(rng_raw, Sequence) or isinstance(rng_raw, str) or len(rng_raw) != 2:
        raise GraphError(f"{where}: field 'range': expected [lo, hi], got {rng_raw!r}")
    lo, hi = (_number(v, f"{where}: field 'range'") for v in rng_raw)
    if lo > hi:
        raise GraphError(f"{where}: field 'range': lo {lo:g} > hi {hi:g}")
    if not math.isfinite(hi - lo):
        raise GraphError(f"{where}: field 'range': [{lo:g}, {hi:g}] is too wide to sample (hi - lo overflows)")
    if transform != LATENT and not (0.0 <= lo and hi <= MAX_SEVERITY):
        raise GraphError(f"{where}: field 'range': severity range [{lo:g}, {hi:g}] is outside [0, 5]")
    parents = raw.get("parents") or {}
    if not isinstance(parents, Mapping):
        raise GraphError(f"{where}: field 'parents': expected a mapping parent -> weight, got {parents!r}")
    weights = {}
    for p, w in parents.items():
        if p == name:
            raise GraphError(f"{where}: field 'parents': a node cannot be its own parent (cycle: {name} -> {name})")
        weights[str(p)] = _number(w, f"{where}: field 'parents.{p}'")
    has_dist = raw.get("distribution") is not None
    if weights and has_dist:
        raise GraphError(f"{where}: has both 'parents' and 'distribution'; a child's value comes from its parents")
    if not weights and not has_dist:
        raise GraphError(f"{where}: missing field 'distribution' (a root node needs one)")
    if not weights:
        for k in ("bias", "noise_sd"):
            if k in raw:
                raise GraphError(f"{where}: field {k!r} only applies to nodes with parents")
    dist = _distribution(raw["distribution"], f"{where}: field 'distribution'", lo, hi) if has_dist else None
    bias = _number(raw.get("bias", 0.0), f"{where}: field 'bias'")
    noise_sd = _number(raw.get("noise_sd", 0.0), f"{where}: field 'noise_sd'")
    if noise_sd < 0:
        raise GraphError(f"{where}: field 'noise_sd': must be >= 0, got {noise_sd:g}")
    desc = raw.get("description", "")
    return Node(name=name, transform=transform, stage=stage, range=(lo, hi), distribution=dist,
                parents=weights, bias=bias, noise_sd=noise_sd, description=str(desc))


def _topological(nodes: Mapping[str, Node], gname: str) -> tuple[str, ...]:
    names = list(nodes)
    for n in names:
        for p in nodes[n].parents:
            if p not in nodes:
                raise GraphError(f"graph {gname!r}: node {n!r}: field 'parents': unknown parent {p!r}; "
                                 f"nodes: {', '.join(names)}")
    # Kahn's algorithm, always taking the earliest-declared ready node: a stable, documented order.
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(names):
        ready = [n for n in names if n not in placed and all(p in placed for p in nodes[n].parents)]
        if not ready:
            raise GraphError(f"graph {gname!r}: cycle: {' -> '.join(_find_cycle(nodes, placed))}")
        done.append(ready[0])
        placed.add(ready[0])
    return tuple(done)


def _find_cycle(nodes: Mapping[str, Node], placed: set[str]) -> list[str]:
    """A cycle among the unplaced nodes, as [a, b, ..., a] following parent -> child edges."""
    rest = [n for n in nodes if n not in placed]
    # Walk parent links (every unplaced node has an unplaced parent) until a node repeats.
    path, seen = [rest[0]], {rest[0]: 0}
    while True:
        nxt = next(p for p in nodes[path[-1]].parents if p not in placed)
        if nxt in seen:
            cyc = path[seen[nxt]:] + [nxt]
            return cyc[::-1]  # parent -> child direction
        seen[nxt] = len(path)
        path.append(nxt)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise GraphError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start}); a graph is YAML or "
                         "JSON text") from None
    if not text.strip():
        raise GraphError(f"{path}: the file is empty; a graph needs at least 'nodes'")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise GraphError(f"{path}: invalid JSON: {e}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover - pyyaml is a dependency
            raise GraphError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); or write the graph as "
                             "JSON") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise GraphError(f"{path}: invalid YAML: {e}") from None
    raise GraphError(f"{path}: unknown graph file type {path.suffix!r}; use .yaml, .yml or .json")


def load_graph(source: str | Path | Mapping[str, Any] | ConditionGraph) -> ConditionGraph:
    """Load and validate a graph from a .yaml/.yml/.json file or an already parsed mapping.

    Raises :class:`GraphError` naming the node and field at fault (unknown transform, stage or distribution,
    unknown parent, cycle, severity range outside [0, 5] or lo > hi, missing or unknown fields).
    """
    if isinstance(source, ConditionGraph):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            raise GraphError(f"graph file {str(path)!r} is a folder, not a .yaml/.yml/.json file")
        if not path.is_file():
            raise GraphError(f"graph file {str(path)!r} not found")
        try:
            return _validated(_read(path), path.stem)
        except GraphError as e:  # name the file: the graph's own name may not say which file it is
            raise GraphError(str(e) if str(path) in str(e) else f"{path}: {e}") from None
    return _validated(source, "graph")


def _validated(raw: Any, default_name: str) -> ConditionGraph:
    if not isinstance(raw, Mapping):
        raise GraphError(f"graph {default_name!r}: expected a mapping with 'nodes', got {type(raw).__name__}")
    gname = str(raw.get("name", default_name))
    _unknown_fields(raw, _GRAPH_FIELDS, f"graph {gname!r}")
    nodes_raw = raw.get("nodes")
    if not isinstance(nodes_raw, Mapping) or not nodes_raw:
        raise GraphError(f"graph {gname!r}: field 'nodes': expected a non-empty mapping name -> node")
    nodes = {name: _node(name, spec, gname) for name, spec in nodes_raw.items()}
    order = _topological(nodes, gname)
    return ConditionGraph(name=gname, nodes=nodes, order=order, description=str(raw.get("description", "")))


def graph_to_dict(graph: ConditionGraph) -> dict[str, Any]:
    """The graph as the plain mapping ``load_graph`` reads (``load_graph(graph_to_dict(g)) == g``): for
    config.json and for the fingerprint that keeps a changed graph from resuming old results."""
    nodes: dict[str, Any] = {}
    for name in graph.order:
        n = graph.nodes[name]
        spec: dict[str, Any] = {"transform": n.transform, "stage": n.stage, "range": list(n.range)}
        if n.distribution is not None:
            spec["distribution"] = {"type": n.distribution.type, **dict(n.distribution.params)}
        else:
            spec.update(parents=dict(n.parents), bias=n.bias, noise_sd=n.noise_sd)
        if n.description:
            spec["description"] = n.description
        nodes[name] = spec
    return {"name": graph.name, "description": graph.description, "nodes": nodes}


# --- Interventions -----------------------------------------------------------------------------------------

def parse_interventions(items: Iterable[str] | None, graph: ConditionGraph | None = None) -> dict[str, float]:
    """``["exposure=0.8", "jpeg=0"]`` -> ``{"exposure": 0.8, "jpeg": 0.0}``; validated against ``graph``
    when given (node exists, value in its domain)."""
    out: dict[str, float] = {}
    for item in items or ():
        name, sep, value = str(item).partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise GraphError(f"--intervene {item!r}: expected NODE=VALUE, e.g. exposure=0.8")
        try:
            v = float(value)
        except ValueError:
            raise GraphError(f"--intervene {item!r}: value {value!r} is not a number") from None
        if not math.isfinite(v):
            raise GraphError(f"--intervene {item!r}: value must be finite")
        v += 0.0  # -0 -> 0
        if name in out:
            raise GraphError(f"--intervene {item!r}: node {name!r} is intervened on twice")
        out[name] = v
    if graph is not None:
        check_interventions(graph, out)
    return out


def check_interventions(graph: ConditionGraph, interventions: Mapping[str, float]) -> dict[str, float]:
    """Validate do() values: the node exists and the value lies in its domain (``Node.domain``)."""
    out = {}
    for name, v in interventions.items():
        if name not in graph.nodes:
            raise GraphError(f"intervention {name}={v!r}: graph {graph.name!r} has no node {name!r}; "
                             f"nodes: {', '.join(graph.order)}")
        node = graph.nodes[name]
        x = _number(v, f"intervention {name}={v!r}")
        lo, hi = node.domain
        if not lo <= x <= hi:
            what = "latent range" if node.is_latent else f"{node.transform} severity scale"
            raise GraphError(f"intervention {name}={x:g}: outside node {name!r}'s {what} [{lo:g}, {hi:g}]")
        out[name] = x
    return out


# --- Sampling ----------------------------------------------------------------------------------------------

def node_rng(seed: int, image_id: str, index: int, node: str) -> np.random.Generator:
    """The generator of one node for one (seed, image, sample index): independent of every other node."""
    text = f"condition-graph\x1f{seed}\x1f{image_id}\x1f{index}\x1f{node}".encode()
    return np.random.default_rng(int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little"))


def sample(graph: ConditionGraph, image_id: str = "", seed: int = 0, n: int = 1,
           interventions: Mapping[str, float] | None = None) -> list[dict[str, float]]:
    """``n`` joint samples of every node for one image, in topological order (dict insertion order).

    Sample ``i`` depends only on (seed, image_id, i) and the interventions. ``do(node=value)``: the node is set
    to ``value`` (no clipping to its natural range; must lie in ``Node.domain``) and not sampled; its
    descendants are computed from it; every other node gets exactly the value it has without the intervention.
    """
    graph = load_graph(graph)
    do = check_interventions(graph, interventions or {})
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out = []
    for i in range(n):
        values: dict[str, float] = {}
        for name in graph.order:
            node = graph.nodes[name]
            rng = node_rng(seed, image_id, i, name)  # drawn from even when intervened on: see module doc
            if node.is_root:
                v = node.distribution.draw(rng, *node.range)  # type: ignore[union-attr]
            else:
                v = node.bias + sum(w * values[p] for p, w in node.parents.items())
                v = float(min(max(v + node.noise_sd * rng.standard_normal(), node.range[0]), node.range[1]))
            values[name] = do[name] if name in do else v
        out.append(values)
    return out


# --- Applying a sample to an image -------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One transform applied: node, corruption, severity, stage."""

    node: str
    transform: str
    severity: float
    stage: str


def plan(graph: ConditionGraph, values: Mapping[str, float]) -> list[Step]:
    """The transforms ``apply_graph_sample`` applies, in order: non-latent nodes with value > 0, by stage
    (environment, optics, sensor, processing), ties by topological order."""
    missing = [n for n in graph.order if n not in values]
    if missing:
        raise GraphError(f"graph {graph.name!r}: values lack node(s) {', '.join(missing)}")
    steps = []
    for name in graph.apply_order():
        node, v = graph.nodes[name], float(values[name])
        if not 0.0 <= v <= MAX_SEVERITY:
            raise GraphError(f"node {name!r}: severity {v:g} is outside [0, 5]")
        if v > 0.0:
            steps.append(Step(name, node.transform, v, node.stage))
    return steps


def apply_graph_sample(image: np.ndarray, graph: ConditionGraph, values: Mapping[str, float], *, seed: int = 0,
                       image_id: str = "") -> tuple[np.ndarray, list[Step]]:
    """Apply one sample's transforms to ``image`` (RGB uint8) in :func:`plan` order.

    Returns ``(image, steps)``; ``steps`` is the order actually applied (record it with the row). Each
    transform is :func:`~iqalign.interventions.apply_continuous` with the run ``seed`` and ``image_id``, so a
    node at an integer severity gives the pixels that corruption gives on its own image; all-zero values
    return an unmodified copy.
    """
    from ..interventions.continuous import apply_continuous

    steps = plan(graph, values)
    out = np.array(image, copy=True)
    for s in steps:
        out = apply_continuous(out, s.transform, s.severity, seed=seed, image_id=image_id)
    return out, steps


def format_value(v: float) -> str:
    """A node value as it names a row (``cg_do``, ``do(node=value)``): 10 significant digits, so two
    different levels never print alike (``:g`` keeps 6: 100000.11 and 100000.91 would both be 100000)."""
    return f"{float(v):.10g}"


def row_fields(graph: ConditionGraph, values: Mapping[str, float], steps: Sequence[Step] | None = None,
               interventions: Mapping[str, float] | None = None, prefix: str = "cg_") -> dict[str, Any]:
    """Flat columns for a benchmark row: ``cg_<node>`` per node value, ``cg_graph``, ``cg_order`` (applied
    transforms joined by '>') and ``cg_do`` (``node=value`` pairs joined by ',', empty when none)."""
    row: dict[str, Any] = {f"{prefix}graph": graph.name}
    row.update({f"{prefix}{n}": float(values[n]) for n in graph.order})
    if steps is None:
        steps = plan(graph, values)
    row[f"{prefix}order"] = ">".join(s.node for s in steps)
    row[f"{prefix}do"] = ",".join(f"{k}={format_value(v)}" for k, v in (interventions or {}).items())
    return row
