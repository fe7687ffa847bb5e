"""Pictures of condition graphs: one column per stage, arrows labelled with their weights.

``python -m iqalign.conditions.draw [OUT_DIR]`` redraws ``docs/images/graph-<name>.png`` for every shipped
example graph.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .graph import STAGES, ConditionGraph, load_graph

_STAGE_COLOURS = {"environment": "#dcefd9", "optics": "#d9e6f5", "sensor": "#f8e3c8", "processing": "#eadcf2"}


def _label(graph: ConditionGraph, name: str) -> str:
    node = graph.nodes[name]
    lo, hi = node.range
    head = f"{name}\n{node.transform} [{lo:g}, {hi:g}]"
    d = node.distribution
    if d is None:
        tail = f"bias {node.bias:+g}" + (f", noise sd {node.noise_sd:g}" if node.noise_sd else "")
    elif d.type == "uniform":
        tail = f"uniform({d.params.get('low', lo):g}, {d.params.get('high', hi):g})"
    elif d.type == "normal":
        tail = f"normal({d.params['mean']:g}, {d.params['sd']:g})"
    elif d.type == "beta":
        tail = f"beta({d.params['a']:g}, {d.params['b']:g})"
    elif d.type == "constant":
        tail = f"constant {d.params['value']:g}"
    else:
        tail = "choice {" + ", ".join(f"{v:g}" for v in d.params["values"]) + "}"
    return f"{head}\n{tail}"


def _column_depth(graph: ConditionGraph, name: str) -> int:
    """Length of the longest chain of same-stage parents above ``name``."""
    stage = graph.nodes[name].stage
    ps = [p for p in graph.nodes[name].parents if graph.nodes[p].stage == stage]
    return 1 + max(_column_depth(graph, p) for p in ps) if ps else 0


def _has_column_edges(graph: ConditionGraph, stage: str) -> bool:
    return any(graph.nodes[p].stage == stage for n in graph.order if graph.nodes[n].stage == stage
               for p in graph.nodes[n].parents)


def _arc_point(p0, p1, rad, t, xu, yu):
    """Point at ``t`` on matplotlib's arc3 curve from p0 to p1 (the bend is computed in inches)."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = (x1 - x0) * xu, (y1 - y0) * yu
    cx, cy = (x0 + x1) / 2 + rad * dy / xu, (y0 + y1) / 2 - rad * dx / yu
    return ((1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t ** 2 * x1,
            (1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t ** 2 * y1)


def _pick_rad(pos, parent, child, xu, yu):
    """The first bend whose arc misses every other node's box (boxes ~0.27 columns x 0.3 rows)."""
    p0, p1 = pos[parent], pos[child]
    others = [xy for n, xy in pos.items() if n not in (parent, child)]
    first = (0.45, -0.45, 0.7, -0.7) if abs(p0[0] - p1[0]) < 0.5 else (0.0, 0.15, -0.15, 0.3, -0.3, 0.45, -0.45)
    for rad in first:
        pts = [_arc_point(p0, p1, rad, t / 40, xu, yu) for t in range(2, 39)]
        if not any(abs(x - ox) < 0.25 and abs(y - oy) < 0.3 for x, y in pts for ox, oy in others):
            return rad
    return first[0]


def draw_graph(graph: ConditionGraph | str | Path | dict, path: str | Path, *, dpi: int = 110) -> Path:
    """Draw ``graph`` to ``path`` (PNG): nodes in columns by stage, in topological order within a column;
    latent nodes dashed; arrows labelled with the parent's weight. Returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    graph = load_graph(graph)
    columns = {s: [n for n in graph.order if graph.nodes[n].stage == s] for s in STAGES}
    rows = max(len(c) for c in columns.values())
    xu, yu = 3.1, 1.3  # inches per column / per row
    width, height = xu * len(STAGES), yu * (rows + 0.5) + 1.4
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(-0.5, len(STAGES) - 0.5)
    ax.set_ylim(-rows + 0.0, 1.0)
    ax.axis("off")
    texts = {}
    pos = {}
    for x, stage in enumerate(STAGES):
        ax.add_patch(plt.Rectangle((x - 0.46, -rows + 0.05), 0.92, rows + 0.5, color=_STAGE_COLOURS[stage],
                                   alpha=0.45, zorder=0, lw=0))
        ax.text(x, 0.75, stage, ha="center", va="center", fontsize=12, fontweight="bold")
        for i, name in enumerate(columns[stage]):
            node = graph.nodes[name]
            y = -i - 0.5 * (x % 2)  # odd columns sit half a row lower: fewer arrows through boxes
            # chains inside a column zig-zag (parent left, child right, ...) so their arrows stay visible
            depth = _column_depth(graph, name)
            px = x + (0.0 if not _has_column_edges(graph, stage) else (0.16 if depth % 2 else -0.16))
            pos[name] = (px, y)
            texts[name] = ax.text(
                px, y, _label(graph, name), ha="center", va="center", fontsize=8.5, zorder=3,
                bbox=dict(boxstyle="round,pad=0.4", fc="#f2f2f2" if node.is_latent else "white",
                          ec="#555555", ls="--" if node.is_latent else "-", lw=1.2))
    for child in graph.order:
        for parent, w in graph.nodes[child].parents.items():
            (x0, y0), (x1, y1) = pos[parent], pos[child]
            rad = _pick_rad(pos, parent, child, xu, yu)
            colour = "#1f6fb4" if w > 0 else "#c0392b"
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2,
                        arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.3, shrinkA=2, shrinkB=2,
                                        patchA=texts[parent].get_bbox_patch(),
                                        patchB=texts[child].get_bbox_patch(),
                                        connectionstyle=f"arc3,rad={rad}"))
            # the label sits on the (quadratic Bezier) arc, 60% of the way to the child; arc3 bends in inches
            lx, ly = _arc_point((x0, y0), (x1, y1), rad, 0.6, xu, yu)
            ax.text(lx, ly, f"{w:+g}", fontsize=8, color=colour, ha="center", va="center", zorder=4,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.85))
    title = graph.name + (f": {graph.description}" if graph.description else "")
    ax.set_title(title, fontsize=11, loc="left")
    fig.text(0.01, 0.01, "dashed = latent (no pixel transform); blue = positive weight, red = negative; "
             "child = clip(bias + sum weight x parent + noise, range)", fontsize=8, color="#444444")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    from . import list_graphs, load_example

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/images")
    for name in list_graphs():
        print(draw_graph(load_example(name), out / f"graph-{name}.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
