"""The lineage graph: datasets as nodes, transformations as edges (from the stored run
events), upstream / downstream walks, the models a dataset reached, and an SVG drawing
in layers (sources on the left, models on the right)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import networkx as nx  # type: ignore[import-untyped]
from sqlalchemy import select

from bastion.core.charts import render_svg
from bastion.core.errors import InputError, NotFoundError
from bastion.core.workspace import Workspace
from bastion.privacy.lineage._rows import LineageEdgeRow

__all__ = ["LineageGraph", "graph_svg", "impacted", "lineage_graph"]

Direction = Literal["upstream", "downstream", "both"]
MAX_NODES = 2000
MODEL_NAMESPACES = ("bastion.model", "bastion.registry")


@dataclass(frozen=True)
class LineageGraph:
    focus: tuple[str, ...]
    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str, str], ...]  # (source, target, job)

    def to_dict(self) -> dict[str, Any]:
        return {
            "focus": list(self.focus),
            "nodes": [{"id": n, "namespace": n.partition(":")[0], "name": n.partition(":")[2]}
                      for n in self.nodes],
            "edges": [{"source": s, "target": t, "job": j} for s, t, j in self.edges],
        }  # fmt: skip


def _full(ws: Workspace) -> nx.MultiDiGraph:
    g: nx.MultiDiGraph = nx.MultiDiGraph()
    with ws.db.session() as s:
        for r in s.scalars(select(LineageEdgeRow).order_by(LineageEdgeRow.id)):
            g.add_edge(r.source, r.target, job=r.job_name)
    return g


def _match(g: nx.MultiDiGraph, dataset: str) -> list[str]:
    if dataset in g:
        return [dataset]
    # a bare name matches it in any namespace, and a file by its base name
    found = sorted(n for n in g if dataset in (str(n).partition(":")[2], _bare(str(n))))
    if not found:
        raise NotFoundError(f"no lineage recorded for dataset {dataset[:200]!r}")
    return found


def _bare(node: str) -> str:
    ns, _, name = node.partition(":")
    return name.rsplit("/", 1)[-1] if ns == "file" else name


def lineage_graph(
    ws: Workspace, dataset: str | None = None, *, direction: Direction = "both", depth: int = 50
) -> LineageGraph:
    """The subgraph around ``dataset`` (``namespace:name`` or a bare name), or everything."""
    if direction not in ("upstream", "downstream", "both"):
        raise InputError("direction: expected upstream, downstream or both")
    if not 1 <= depth <= 1000:
        raise InputError("depth: expected 1-1000")
    g = _full(ws)
    if dataset is None:
        focus: list[str] = []
        keep = set(g.nodes)
    else:
        focus = _match(g, dataset)
        keep = set(focus)
        for f in focus:
            if direction in ("downstream", "both"):
                keep |= set(nx.single_source_shortest_path_length(g, f, cutoff=depth))
            if direction in ("upstream", "both"):
                keep |= set(nx.single_source_shortest_path_length(g.reverse(copy=False), f,
                                                                  cutoff=depth))  # fmt: skip
    if len(keep) > MAX_NODES:
        raise InputError(f"the lineage graph has more than {MAX_NODES} nodes: give a dataset")
    sub = g.subgraph(keep)
    edges = sorted({(str(s), str(t), str(d["job"])) for s, t, d in sub.edges(data=True)})
    return LineageGraph(tuple(focus), tuple(sorted(str(n) for n in sub.nodes)), tuple(edges))


def impacted(ws: Workspace, dataset: str) -> list[str]:
    """Every model (``bastion.model:`` / ``bastion.registry:`` node) downstream of
    ``dataset``: what a breach, an access request or an erasure of it reaches."""
    lg = lineage_graph(ws, dataset, direction="downstream")
    return [n for n in lg.nodes if n.startswith(tuple(f"{m}:" for m in MODEL_NAMESPACES))]


_COLOURS = {
    "file": "#dfe9f5",
    "bastion.dataset": "#e3f1e0",
    "bastion.synthetic": "#f6ecd9",
    "bastion.dp_release": "#efe0f3",
    "bastion.model": "#f8dcdc",
    "bastion.registry": "#f8dcdc",
}


def _short(n: str, width: int = 34) -> str:
    ns, _, name = n.partition(":")
    name = name.rsplit("/", 1)[-1] if ns == "file" else name
    name = name if len(name) <= width else name[: width // 2 - 1] + "..." + name[-width // 2 + 2 :]
    return f"{ns}\n{name}"


def graph_svg(g: LineageGraph, title: str = "Lineage") -> str:
    """The graph in layers (longest path from a source), as reproducible SVG."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    dg: nx.DiGraph = nx.DiGraph()
    dg.add_nodes_from(g.nodes)
    dg.add_edges_from((s, t) for s, t, _ in g.edges)
    layer: dict[str, int] = {}
    try:
        for n in nx.topological_sort(dg):
            layer[n] = max((layer[p] + 1 for p in dg.predecessors(n)), default=0)
    except nx.NetworkXUnfeasible:  # a cycle: breadth-first layers instead
        layer = {}
        for comp in nx.weakly_connected_components(dg):
            root = min(comp)
            for n, d in nx.single_source_shortest_path_length(dg.to_undirected(), root).items():
                layer[n] = d
    cols: dict[int, list[str]] = {}
    for n in sorted(g.nodes):
        cols.setdefault(layer.get(n, 0), []).append(n)
    n_layers = max(cols, default=0) + 1
    height = max((len(v) for v in cols.values()), default=1)
    fig = Figure(figsize=(max(4.0, 3.2 * n_layers), max(2.0, 1.1 * height + 0.8)))
    ax = fig.add_subplot()
    ax.set_axis_off()
    pos: dict[str, tuple[float, float]] = {}
    for li, names in cols.items():
        for k, n in enumerate(names):
            pos[n] = (li * 3.2, (height - 1) / 2 - k + (len(names) - 1) / 2 - (height - 1) / 2)
    for s, t, job in g.edges:
        (x0, y0), (x1, y1) = pos[s], pos[t]
        ax.annotate("", xy=(x1 - 1.25, y1), xytext=(x0 + 1.25, y0),
                    arrowprops={"arrowstyle": "->", "color": "#555", "lw": 1})  # fmt: skip
        ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, job, fontsize=6, ha="center",
                color="#333")  # fmt: skip
    for n, (x, y) in pos.items():
        ns = n.partition(":")[0]
        edge = "#c0392b" if n in g.focus else "#444"
        ax.add_patch(
            FancyBboxPatch(
                (x - 1.25, y - 0.32),
                2.5,
                0.64,
                boxstyle="round,pad=0.02",
                fc=_COLOURS.get(ns, "#eeeeee"),
                ec=edge,
                lw=2 if n in g.focus else 0.8,
            )
        )
        ax.text(x, y, _short(n), fontsize=6.5, ha="center", va="center")
    ax.set_xlim(-1.5, (n_layers - 1) * 3.2 + 1.5)
    ax.set_ylim(-height / 2 - 0.2, height / 2 + 0.2)
    ax.set_title(title, fontsize=10)
    return render_svg(fig, "bastion-lineage")
