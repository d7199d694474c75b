"""The data-flow graph of a system: assets as nodes, flows as edges, trust boundaries.

Built once per model run with precomputed indexes (boundary paths, crossings, neighbours),
so rules query it in O(1) instead of re-walking the manifest: the manifest's own helpers
are O(boundaries) per call, which is quadratic on a 5,000-element system.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import networkx as nx  # type: ignore[import-untyped]

from bastion.manifest import Asset, AssetKind, DataFlow, SystemManifest, TrustBoundary

__all__ = ["DATA_KINDS", "ThreatGraph", "build_graph"]

DATA_KINDS = frozenset(
    {AssetKind.DATASET, AssetKind.DATA_STORE, AssetKind.FEATURE_STORE, AssetKind.VECTOR_STORE}
)
LINEAGE_DEPTH = 8


@dataclass
class ThreatGraph:
    """Indexes over one manifest; ``graph`` is a networkx MultiDiGraph keyed by flow id."""

    manifest: SystemManifest
    graph: Any  # nx.MultiDiGraph (untyped library)
    assets: dict[str, Asset]
    flows: dict[str, DataFlow]
    boundaries: dict[str, TrustBoundary]
    boundary_parent: dict[str, str]
    asset_path: dict[str, tuple[str, ...]]
    flows_in: dict[str, list[DataFlow]]
    flows_out: dict[str, list[DataFlow]]
    crossed: dict[str, tuple[str, ...]]
    _lineage: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def crossings(self, flow_id: str) -> list[TrustBoundary]:
        return [self.boundaries[b] for b in self.crossed[flow_id]]

    def upstream(self, asset_id: str) -> tuple[str, ...]:
        """Assets whose data reaches ``asset_id`` (breadth-first, nearest first, bounded)."""
        got = self._lineage.get(asset_id)
        if got is not None:
            return got
        seen = {asset_id}
        order: list[str] = []
        queue: deque[tuple[str, int]] = deque([(asset_id, 0)])
        while queue:
            node, depth = queue.popleft()
            if depth >= LINEAGE_DEPTH:
                continue
            for f in self.flows_in.get(node, ()):
                if f.source not in seen:
                    seen.add(f.source)
                    order.append(f.source)
                    queue.append((f.source, depth + 1))
        out = tuple(order)
        self._lineage[asset_id] = out
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.manifest.system.id,
            "nodes": [
                {
                    "id": a.id,
                    "kind": a.kind.value,
                    "name": a.name,
                    "boundaries": list(self.asset_path[a.id]),
                }
                for a in self.assets.values()
            ],
            "edges": [
                {
                    "id": f.id,
                    "source": f.source,
                    "target": f.target,
                    "protocol": f.protocol.value,
                    "crosses": list(self.crossed[f.id]),
                }
                for f in self.flows.values()
            ],
            "boundaries": [
                {"id": b.id, "kind": b.kind.value, "parent": self.boundary_parent.get(b.id)}
                for b in self.boundaries.values()
            ],
        }


def build_graph(manifest: SystemManifest) -> ThreatGraph:
    """Index a validated manifest (references already resolve)."""
    assets = {a.id: a for a in manifest.assets}
    flows = {f.id: f for f in manifest.flows}
    boundaries = {b.id: b for b in manifest.boundaries}
    parent: dict[str, str] = {}
    for b in manifest.boundaries:
        for child in b.boundaries:
            parent[child] = b.id

    chains: dict[str, tuple[str, ...]] = {}

    def chain(bid: str) -> tuple[str, ...]:
        got = chains.get(bid)
        if got is None:
            up = parent.get(bid)
            got = (*chain(up), bid) if up is not None else (bid,)
            chains[bid] = got
        return got

    path: dict[str, tuple[str, ...]] = {aid: () for aid in assets}
    for b in manifest.boundaries:
        c = chain(b.id)
        for aid in b.assets:
            if len(c) > len(path[aid]):
                path[aid] = c

    g = nx.MultiDiGraph()
    for a in manifest.assets:
        g.add_node(a.id, kind=a.kind.value)
    flows_in: dict[str, list[DataFlow]] = {a: [] for a in assets}
    flows_out: dict[str, list[DataFlow]] = {a: [] for a in assets}
    crossed: dict[str, tuple[str, ...]] = {}
    for f in manifest.flows:
        g.add_edge(f.source, f.target, key=f.id)
        flows_out[f.source].append(f)
        flows_in[f.target].append(f)
        src, dst = path[f.source], path[f.target]
        common = 0
        while common < min(len(src), len(dst)) and src[common] == dst[common]:
            common += 1
        crossed[f.id] = tuple(reversed(src[common:])) + dst[common:]
    return ThreatGraph(
        manifest, g, assets, flows, boundaries, parent, path, flows_in, flows_out, crossed
    )
