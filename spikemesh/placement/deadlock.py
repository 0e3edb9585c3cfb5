"""Deadlock certificate, built from the routes alone (independent of how they were made; mapping.md §3).

Channels are (link, virtual channel) = (chip_x, chip_y, x, y, dir, vc). Dependencies: inside each multicast tree,
the channel feeding a link (branch edges included: a flit held at a branch router waits for every child);
relay edges where a core forwards within a step: every channel that delivers to a partial-sum core depends on
into the first channels of that core's own route (the core must receive before it forwards its partial sums). The
routes are deadlock-free when this channel-dependency graph is acyclic (Dally & Seitz); the certificate stores a
topological order. Otherwise ``PlacementError`` names a cycle with its links and the layers whose routes use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from spikemesh.errors import PlacementError
from spikemesh.placement.routing import Route, dependencies
from spikemesh.placement.topology import DIRS, STEP, Mesh


@dataclass(frozen=True, eq=False)
class Certificate:
    """``channels`` int32 [C, 6] in topological order of the channel-dependency graph; ``report`` holds
    ``deadlock_free``, ``channels``, ``dependencies``."""

    channels: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)

    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"report": self.report}, {"order": np.asarray(self.channels, dtype=np.int32).reshape(-1, 6)}

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Certificate:
        return cls(np.asarray(arrays["order"], dtype=np.int32).reshape(-1, 6), dict(meta.get("report", {})))


def _name(ch: tuple[int, ...]) -> str:
    cx, cy, x, y, d, vc = ch
    return f"chip({cx},{cy}) router({x},{y}) {DIRS[d]} vc{vc}"


def dependency_graph(routes: tuple[Route, ...] | list[Route], mesh: Mesh, coords: np.ndarray | None = None,
                     relays: dict[int, int] | None = None) -> nx.DiGraph:
    """The channel-dependency graph. ``relays`` maps a forwarding core to itself (partial-sum cores); with
    ``coords`` its incoming channels get relay edges into its own route's first channels. Edge attribute
    ``sources``: route sources using the dependency."""
    g = nx.DiGraph()
    for r in routes:
        for i in range(len(r.parent)):
            g.add_node((*(int(v) for v in r.links[i]), int(r.vc[i])))
        for a, b in dependencies(r):
            if g.has_edge(a, b):
                g[a][b]["sources"].add(r.source)
            else:
                g.add_edge(a, b, sources={r.source})
    if relays and coords is not None:
        gx, gy = mesh.global_xy(coords)
        first = {r.source: [(*(int(v) for v in r.links[i]), int(r.vc[i])) for i in range(len(r.parent))
                            if r.parent[i] < 0] for r in routes}
        for r in routes:
            ends = {}
            for i in range(len(r.parent)):
                cx, cy, x, y, d = (int(v) for v in r.links[i])
                ends[(cx * mesh.cores_x + x + STEP[d][0], cy * mesh.cores_y + y + STEP[d][1])] = (
                    cx, cy, x, y, d, int(r.vc[i]))
            for dst in r.destinations:
                if dst in relays and (int(gx[dst]), int(gy[dst])) in ends:
                    a = ends[(int(gx[dst]), int(gy[dst]))]
                    for b in first.get(dst, []):
                        g.add_edge(a, b, sources={r.source, dst})
    return g


def certify(routes: tuple[Route, ...] | list[Route], mesh: Mesh, coords: np.ndarray | None = None,
            relays: dict[int, int] | None = None, layer_of: dict[int, str] | None = None) -> Certificate:
    """Check the routes' channel-dependency graph; return a Certificate or raise PlacementError with a cycle."""
    g = dependency_graph(routes, mesh, coords, relays)
    try:
        order = list(nx.topological_sort(g))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(g)
        srcs = sorted(set().union(*(g[a][b]["sources"] for a, b in cycle)))
        layers = sorted({(layer_of or {}).get(s, f"core {s}" if s >= 0 else f"input {-1 - s}") for s in srcs})
        links = " -> ".join(_name(a) for a, _ in cycle)
        raise PlacementError(f"routes are not deadlock-free: channel-dependency cycle {links}", node="routing",
                             needed="an acyclic channel-dependency graph", available=f"cycle of {len(cycle)} channels "
                             f"used by {', '.join(layers)}", hint="route with xy or a turn model (--routing xy)"
                             ) from None
    arr = np.array(order, dtype=np.int32).reshape(-1, 6)
    return Certificate(arr, {"deadlock_free": True, "channels": g.number_of_nodes(),
                             "dependencies": g.number_of_edges()})
