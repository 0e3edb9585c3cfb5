"""Deadlock certificate, built from the routes alone (independent of how they were made).

Channels are (link, virtual channel) = (chip_x, chip_y, x, y, dir, vc). Dependencies: inside each multicast tree,
the channel feeding a link (branch edges included: a flit held at a branch router waits for every child);
and, for cut-through forwarding (``NocSpec.forwarding``), relay edges where a core forwards within a step: the
last channel of a route that delivers to a partial-sum core depends on the first channel of that core's own route
towards the core it merges into (it must receive before it forwards its partial sums; spikes it sends elsewhere
are delivered in the next step and wait for nothing). The routes are deadlock-free when this channel-dependency
graph is acyclic (Dally and Seitz, IEEE Trans. Computers 1987; for deterministic routing the condition is also
necessary); the certificate stores a topological order. Otherwise ``PlacementError`` names a cycle with its links
and the layers whose routes use it.

With phased forwarding (the default) a forwarding core absorbs its inputs into core memory and sends its sums from
its own output queue after integrating, so ejection never waits for injection and there are no relay edges;
instead the core-level wait-for graph (partial-sum core → the core it merges into) must be acyclic, and its depth
is the number of forwarding phases a step needs.

The graph is flat arrays: a channel is the integer ``link id × V + vc`` (trees.link_ids, V virtual channels), a
dependency the integer ``a × n_channel_ids + b``; ``np.unique`` counts them and Kahn's algorithm (Numba, over CSR)
sorts them topologically. Unsorted channels after Kahn all have an unsorted predecessor, so walking predecessors
from one of them closes a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numba import njit

from spikemesh.errors import PlacementError
from spikemesh.routing.trees import FlatRoutes, as_flat, end_routers, link_ids
from spikemesh.target.topology import DIRS, Mesh


@dataclass(frozen=True, eq=False)
class Certificate:
    """``channels`` int32 [C, 6] in topological order of the channel-dependency graph; ``report`` holds
    ``deadlock_free``, ``channels``, ``dependencies``, ``forwarding`` (and ``forwarding_phases`` when phased)."""

    section_type: ClassVar[str] = "certificate"  # its registered name in program.json (spikemesh.program)

    channels: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)

    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"report": self.report}, {"order": np.asarray(self.channels, dtype=np.int32).reshape(-1, 6)}

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Certificate:
        return cls(np.asarray(arrays["order"], dtype=np.int32).reshape(-1, 6), dict(meta.get("report", {})))


@dataclass(frozen=True, eq=False)
class Cdg:
    """The channel-dependency graph: ``nodes`` int64 [C] channel ids (sorted), ``src``/``dst`` int64 [E] indices
    into ``nodes`` (unique dependencies, sorted by src), ``v`` virtual channels, ``n_ids`` channel id range."""

    nodes: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    v: int
    n_ids: int


@njit(cache=True)
def _tree_codes(ptr: np.ndarray, parent: np.ndarray, chan: np.ndarray, n_ids: int, out: np.ndarray) -> int:
    n = 0
    for r in range(ptr.size - 1):
        for i in range(ptr[r], ptr[r + 1]):
            p = parent[i]
            if p >= 0:
                out[n] = chan[ptr[r] + p] * n_ids + chan[i]
                n += 1
    return n


@njit(cache=True)
def _relay_first(ptr: np.ndarray, parent: np.ndarray, end_router: np.ndarray, relay_route: np.ndarray,
                 merge_router: np.ndarray, last: np.ndarray, out: np.ndarray) -> None:
    """For each relay route q = relay_route[i]: the first link (child of the source router) on its path to the
    merge core's router ``merge_router[i]`` (the last link ending there, walked back to the root), or -1."""
    for i in range(relay_route.size):
        q = relay_route[i]
        for j in range(ptr[q], ptr[q + 1]):
            last[end_router[j]] = j
        j = last[merge_router[i]]
        while j >= 0 and parent[j] >= 0:
            j = ptr[q] + parent[j]
        out[i] = j
        for t in range(ptr[q], ptr[q + 1]):
            last[end_router[t]] = -1


@njit(cache=True)
def _relay_edges(ptr: np.ndarray, end_router: np.ndarray, dest_ptr: np.ndarray, dest_router: np.ndarray,
                 first_of_dest: np.ndarray, last: np.ndarray, fill: bool, out_link: np.ndarray, out_first: np.ndarray,
                 out_route: np.ndarray, out_dest: np.ndarray) -> int:
    """Relay dependencies: for every destination k of route r with a relay first link f = first_of_dest[k] >= 0,
    the last link of r ending at k's router → f. ``last``: scratch [routers] of -1."""
    n = 0
    for r in range(ptr.size - 1):
        for i in range(ptr[r], ptr[r + 1]):
            last[end_router[i]] = i
        for k in range(dest_ptr[r], dest_ptr[r + 1]):
            f = first_of_dest[k]
            if f < 0:
                continue
            a = last[dest_router[k]]
            if a < 0:
                continue
            if fill:
                out_link[n], out_first[n], out_route[n], out_dest[n] = a, f, r, k
            n += 1
        for i in range(ptr[r], ptr[r + 1]):
            last[end_router[i]] = -1
    return n


@njit(cache=True)
def _kahn(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Topological order (FIFO Kahn, ascending start) of nodes 0..n-1 over edges sorted by src; shorter than n
    when there is a cycle."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    indeg = np.zeros(n, dtype=np.int64)
    for e in range(src.size):
        indptr[src[e] + 1] += 1
        indeg[dst[e]] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    order = np.empty(n, dtype=np.int64)
    head, tail = 0, 0
    for i in range(n):
        if indeg[i] == 0:
            order[tail] = i
            tail += 1
    while head < tail:
        u = order[head]
        head += 1
        for e in range(indptr[u], indptr[u + 1]):
            v = dst[e]
            indeg[v] -= 1
            if indeg[v] == 0:
                order[tail] = v
                tail += 1
    return order[:tail]


def _relays(flat: FlatRoutes, mesh: Mesh, coords: np.ndarray, relays: dict[int, int]) -> tuple[np.ndarray, ...]:
    """(feeding link, first link, route, destination entry) per relay dependency."""
    gx, gy = mesh.global_xy(coords)
    W, H = mesh.width, mesh.height
    end_router = end_routers(flat, mesh)  # a link leaving the mesh ends at a dummy router W * H
    lo = int(min(0, flat.sources.min(initial=0)))
    route_at = np.full(int(max(flat.sources.max(initial=0), len(coords))) - lo + 1, -1, dtype=np.int64)
    route_at[flat.sources - lo] = np.arange(len(flat))  # the last route of a source wins
    pairs = np.array([(k, m) for k, m in relays.items() if 0 <= k < len(coords) and 0 <= m < len(coords)],
                     dtype=np.int64).reshape(-1, 2)
    pairs = pairs[route_at[pairs[:, 0] - lo] >= 0]
    relay_route = route_at[pairs[:, 0] - lo]
    merge_router = gy[pairs[:, 1]] * W + gx[pairs[:, 1]]
    last = np.full(W * H + 1, -1, dtype=np.int64)
    first = np.empty(relay_route.size, dtype=np.int64)
    _relay_first(flat.ptr, flat.parent.astype(np.int64), end_router, relay_route, merge_router, last, first)
    first_of_core = np.full(route_at.size, -1, dtype=np.int64)
    first_of_core[pairs[:, 0] - lo] = first
    d = flat.dests
    first_of_dest = first_of_core[d - lo]
    dest_router = gy[d] * W + gx[d]
    z = np.zeros(0, dtype=np.int64)
    args = (flat.ptr, end_router, flat.dest_ptr, dest_router, first_of_dest, last)
    n = _relay_edges(*args, False, z, z, z, z)
    out = tuple(np.empty(n, dtype=np.int64) for _ in range(4))
    _relay_edges(*args, True, *out)
    return out


def channel_ids(flat: FlatRoutes, mesh: Mesh) -> tuple[np.ndarray, int, int]:
    """(channel id per link, virtual channels V, channel id range)."""
    v = int(flat.vc.max(initial=0)) + 1
    ids = link_ids(flat, mesh)
    if v > 1:
        ids *= v
        ids += flat.vc
    return ids, v, mesh.width * mesh.height * 4 * v


def dependency_graph(routes: Any, mesh: Mesh, coords: np.ndarray | None = None,
                     relays: dict[int, int] | None = None) -> tuple[Cdg, np.ndarray, tuple[np.ndarray, ...] | None]:
    """The channel-dependency graph of ``routes`` (FlatRoutes, Routes or Route sequence). ``relays``: forwarding
    (partial-sum) core → the core it merges into; with ``coords`` the channels delivering to a relay core get
    relay edges into the first channel of its route towards its merge core.
    Returns (graph, channel id per link, relay edge arrays or None)."""
    flat = as_flat(routes)
    chan, v, n_ids = channel_ids(flat, mesh)
    codes = np.empty(flat.n_links, dtype=np.int64)
    codes = codes[:_tree_codes(flat.ptr, flat.parent.astype(np.int64), chan, n_ids, codes)]
    rel = None
    if relays and coords is not None and len(flat):
        rel = _relays(flat, mesh, coords, relays)
        codes = np.concatenate([codes, chan[rel[0]] * n_ids + chan[rel[1]]])
    used = np.zeros(n_ids, dtype=bool)
    used[chan] = True
    nodes = np.flatnonzero(used).astype(np.int64)
    del used
    codes.sort()
    compact = np.full(n_ids, -1, dtype=np.int64)
    compact[nodes] = np.arange(nodes.size)
    src, dst = _unique_edges(codes, n_ids, compact)
    return Cdg(nodes, src, dst, v, n_ids), chan, rel


@njit(cache=True)
def _unique_edges(codes: np.ndarray, n_ids: int, compact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct sorted dependency codes → (src, dst) compact node indices."""
    n = 0
    for i in range(codes.size):
        if i == 0 or codes[i] != codes[i - 1]:
            n += 1
    src = np.empty(n, dtype=np.int64)
    dst = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(codes.size):
        if i == 0 or codes[i] != codes[i - 1]:
            src[k] = compact[codes[i] // n_ids]
            dst[k] = compact[codes[i] % n_ids]
            k += 1
    return src, dst


def _decode(ids: np.ndarray, mesh: Mesh, v: int) -> np.ndarray:
    """int32 [n, 6] (chip_x, chip_y, x, y, dir, vc) of channel ids."""
    lid, vc = np.divmod(np.asarray(ids, dtype=np.int64), v)
    r, d = np.divmod(lid, 4)
    gy, gx = np.divmod(r, mesh.width)
    cx, x = np.divmod(gx, mesh.cores_x)
    cy, y = np.divmod(gy, mesh.cores_y)
    return np.stack([cx, cy, x, y, d, vc], axis=1).astype(np.int32)


def _name(ch: np.ndarray) -> str:
    cx, cy, x, y, d, vc = (int(c) for c in ch)
    return f"chip({cx},{cy}) router({x},{y}) {DIRS[d]} vc{vc}"


def find_cycle(g: Cdg, order: np.ndarray) -> np.ndarray:
    """Node indices of one cycle (in dependency order) among the nodes Kahn's algorithm left unsorted."""
    left = np.ones(g.nodes.size, dtype=bool)
    left[order] = False
    keep = left[g.src] & left[g.dst]
    pred = np.full(g.nodes.size, -1, dtype=np.int64)
    pred[g.dst[keep]] = g.src[keep]
    seen: dict[int, int] = {}
    walk: list[int] = []
    u = int(np.flatnonzero(left)[0])
    while u not in seen:
        seen[u] = len(walk)
        walk.append(u)
        u = int(pred[u])
    return np.array(walk[seen[u]:][::-1], dtype=np.int64)


def _cycle_error(flat: FlatRoutes, mesh: Mesh, g: Cdg, chan: np.ndarray, rel: tuple[np.ndarray, ...] | None,
                 cycle: np.ndarray, layer_of: dict[int, str] | None) -> PlacementError:
    ids = g.nodes[cycle]
    edges = set(zip(ids.tolist(), np.roll(ids, -1).tolist()))
    cand = np.flatnonzero(np.isin(chan, ids) & (flat.parent >= 0))  # links whose channel is on the cycle
    route_of = np.searchsorted(flat.ptr, cand, side="right") - 1
    parent_chan = chan[flat.ptr[route_of] + flat.parent[cand]]
    srcs = {int(flat.sources[r]) for r, a, b in zip(route_of, parent_chan, chan[cand]) if (int(a), int(b)) in edges}
    via_relay = False
    if rel is not None:
        for a, b, r, k in zip(*rel):
            if (int(chan[a]), int(chan[b])) in edges:
                srcs |= {int(flat.sources[r]), int(flat.dests[k])}
                via_relay = True
    layers = sorted({(layer_of or {}).get(s, f"core {s}" if s >= 0 else f"input {-1 - s}") for s in srcs})
    links = " -> ".join(_name(c) for c in _decode(ids, mesh, g.v))
    hint = ("the cycle passes through a forwarding (partial-sum) core under cut-through forwarding: set [noc] "
            "forwarding = \"phased\" if the chip forwards after integrating, or route with --routing select"
            if via_relay else "route with xy or a turn model (--routing xy)")
    return PlacementError(f"routes are not deadlock-free: channel-dependency cycle {links}", node="routing",
                          needed="an acyclic channel-dependency graph", available=f"cycle of {len(ids)} channels "
                          f"used by {', '.join(layers)}", hint=hint)


def forwarding_levels(relays: dict[int, int], layer_of: dict[int, str] | None = None) -> dict[int, int]:
    """Phase in which each forwarding core sends when it sends only after its inputs arrived: ``relays`` maps a
    partial-sum core to the core it merges into; a core none forwards into sends in phase 1, a parent one phase
    after its deepest child. A cycle in that wait-for graph raises PlacementError naming its cores."""
    pending = {c: 0 for c in relays}
    for m in relays.values():
        if m in pending:
            pending[m] += 1
    level = dict.fromkeys(relays, 1)
    ready = [c for c, n in pending.items() if n == 0]
    while ready:
        c = ready.pop()
        m = relays[c]
        if m in pending:
            level[m] = max(level[m], level[c] + 1)
            pending[m] -= 1
            if pending[m] == 0:
                ready.append(m)
    left = [c for c, n in pending.items() if n > 0]
    if left:  # a core left waits on a child that is left too; walking such children from one of them closes a cycle
        child = {relays[c]: c for c in left if relays[c] in pending}
        seen: dict[int, int] = {}
        u = left[0]
        while u not in seen:
            seen[u] = len(seen)
            u = child[u]
        cyc = list(seen)[seen[u]:][::-1]
        names = " -> ".join((layer_of or {}).get(c, f"core {c}") + f" (core {c})" for c in cyc)
        raise PlacementError(f"forwarding cores wait for each other within a step: {names}", node="routing",
                             needed="an acyclic partial-sum forwarding order", available=f"cycle of {len(cyc)} cores",
                             hint="check the partition's merge_into")
    return level


def forwarding_phases(relays: dict[int, int], layer_of: dict[int, str] | None = None) -> int:
    """Phases a step needs with phased forwarding: spikes, then one per level of ``forwarding_levels``."""
    return 1 + max(forwarding_levels(relays, layer_of).values(), default=0)


def certify(routes: Any, mesh: Mesh, coords: np.ndarray | None = None, relays: dict[int, int] | None = None,
            layer_of: dict[int, str] | None = None, forwarding: str = "cut_through") -> Certificate:
    """Check the routes' channel-dependency graph; return a Certificate or raise PlacementError with a cycle.
    ``forwarding`` is the target's ``NocSpec.forwarding``: "cut_through" adds relay edges for ``relays``;
    "phased" checks the forwarding cores' phase order instead (module docstring)."""
    flat = as_flat(routes)
    phases = None
    if forwarding == "phased":
        phases = forwarding_phases(relays or {}, layer_of)
        relays = None
    g, chan, rel = dependency_graph(flat, mesh, coords, relays)
    order = _kahn(g.nodes.size, g.src, g.dst)
    if order.size < g.nodes.size:
        raise _cycle_error(flat, mesh, g, chan, rel, find_cycle(g, order), layer_of)
    report: dict[str, Any] = {"deadlock_free": True, "channels": int(g.nodes.size), "dependencies": int(g.src.size),
                              "forwarding": forwarding}
    if phases is not None:
        report["forwarding_phases"] = phases
    return Certificate(_decode(g.nodes[order], mesh, g.v), report)
