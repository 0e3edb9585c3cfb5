"""Routes: multicast trees over the mesh, built from a per-pair path function, and CP-SAT route selection.

Path functions (minimal paths between global routers; directions 0=E 1=W 2=N 3=S, N = +y):
``xy`` and ``yx`` (dimension order); the turn models (mapping.md §3) ``west_first`` (W hops first, then Y, then
E), ``north_last`` (S first, then X, then N), ``negative_first`` (W, S, then E, N) and ``odd_even`` (Chiu's rules:
no E→N / E→S turn in an even column, no N→W / S→W turn in an odd column; the first legal minimal path preferring
X). A multicast tree is the trie of its destinations' paths from the source router: paths share links while
they agree and branch at routers (CONTRACT "routes": links [L, 5], parent [L], vc [L]).

``select``: per flow, choose among the trees of every algorithm to minimise the maximum link load subject to an
acyclic channel-dependency graph (integer ranks on channels; a used dependency c→d needs rank(c) < rank(d)),
solved by CP-SAT with a time limit from the all-XY solution (always feasible).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from ortools.sat.python import cp_model

from spikemesh.backends.base import Target
from spikemesh.errors import PlacementError
from spikemesh.fileio import atomic_write_json
from spikemesh.placement.topology import DIRS, STEP, Mesh

E, W, N, S = 0, 1, 2, 3
PathFn = Callable[[int, int, int, int], list[int]]


def _moves(dx: int, dy: int) -> tuple[list[int], list[int]]:
    return [E if dx > 0 else W] * abs(dx), [N if dy > 0 else S] * abs(dy)


def xy(sx: int, sy: int, tx: int, ty: int) -> list[int]:
    mx, my = _moves(tx - sx, ty - sy)
    return mx + my


def yx(sx: int, sy: int, tx: int, ty: int) -> list[int]:
    mx, my = _moves(tx - sx, ty - sy)
    return my + mx


def west_first(sx: int, sy: int, tx: int, ty: int) -> list[int]:
    mx, my = _moves(tx - sx, ty - sy)
    return (mx + my) if tx < sx else (my + mx)


def north_last(sx: int, sy: int, tx: int, ty: int) -> list[int]:
    mx, my = _moves(tx - sx, ty - sy)
    return (my + mx) if ty < sy else (mx + my)


def negative_first(sx: int, sy: int, tx: int, ty: int) -> list[int]:
    dx, dy = tx - sx, ty - sy
    neg = [W] * max(0, -dx) + [S] * max(0, -dy)
    pos = [E] * max(0, dx) + [N] * max(0, dy)
    return neg + pos


def odd_even_legal(prev: int, nxt: int, x: int) -> bool:
    """Chiu's odd-even turn rules at a router in column ``x``."""
    if prev == nxt or prev < 0:
        return True
    if x % 2 == 0 and prev == E and nxt in (N, S):
        return False
    return not (x % 2 == 1 and prev in (N, S) and nxt == W)


def odd_even(sx: int, sy: int, tx: int, ty: int) -> list[int]:
    def dfs(x: int, y: int, prev: int) -> list[int] | None:
        if (x, y) == (tx, ty):
            return []
        opts = []
        if tx != x:
            opts.append(E if tx > x else W)
        if ty != y:
            opts.append(N if ty > y else S)
        for d in opts:
            if odd_even_legal(prev, d, x):
                rest = dfs(x + STEP[d][0], y + STEP[d][1], d)
                if rest is not None:
                    return [d, *rest]
        return None

    path = dfs(sx, sy, -1)
    if path is None:  # cannot happen for minimal odd-even routing (Chiu 2000); kept as a guard
        raise PlacementError("no odd-even path", node=f"({sx},{sy})->({tx},{ty})")
    return path


ALGORITHMS: dict[str, PathFn] = {"xy": xy, "yx": yx, "west_first": west_first, "north_last": north_last,
                                 "negative_first": negative_first, "odd_even": odd_even}


@dataclass(frozen=True, eq=False)
class Route:
    """A multicast tree (CONTRACT "routes"). ``links`` int32 [L, 5] = (chip_x, chip_y, x, y, dir) in traversal
    order; ``parent`` int32 [L] (-1: leaves the source router); ``vc`` int8 [L]."""

    source: int
    destinations: tuple[int, ...]
    links: np.ndarray
    parent: np.ndarray
    vc: np.ndarray
    algorithm: str = "xy"
    copies: float = 0.0


def tree(source: int, destinations: Sequence[int], coords: np.ndarray, mesh: Mesh, path: PathFn,
         algorithm: str = "", copies: float = 0.0) -> Route:
    gx, gy = mesh.global_xy(coords)
    sx, sy = (0, 0) if source < 0 else (int(gx[source]), int(gy[source]))
    index: dict[tuple[int, int], int] = {}  # (parent link, direction) -> link
    links: list[tuple[int, int, int, int, int]] = []
    parent: list[int] = []
    for d in destinations:
        x, y, prev = sx, sy, -1
        for k in path(sx, sy, int(gx[d]), int(gy[d])):
            key = (prev, k)
            if key not in index:
                index[key] = len(links)
                links.append((*mesh.split(x, y), k))
                parent.append(prev)
            prev = index[key]
            x, y = x + STEP[k][0], y + STEP[k][1]
    return Route(source, tuple(int(d) for d in destinations), np.array(links, dtype=np.int32).reshape(-1, 5),
                 np.array(parent, dtype=np.int32), np.zeros(len(links), dtype=np.int8), algorithm, float(copies))


def flows_of(traffic: np.ndarray) -> list[tuple[int, tuple[int, ...], float]]:
    """(source, destinations, copies per step of one source spike's tree) per source; a source's copies are the
    largest copies to any of its destinations (a spike is multicast once to all of them)."""
    t = np.asarray(traffic, dtype=np.float64).reshape(-1, 3)
    out: dict[int, tuple[list[int], float]] = {}
    for s, d, c in t:
        s, d = int(s), int(d)
        if s == d:
            continue
        dl, m = out.get(s, ([], 0.0))
        dl.append(d)
        out[s] = (dl, max(m, float(c)))
    return [(s, tuple(sorted(set(dl))), m) for s, (dl, m) in sorted(out.items())]


def link_loads(routes: Sequence[Route]) -> dict[tuple[int, ...], float]:
    load: dict[tuple[int, ...], float] = {}
    for r in routes:
        for lk in r.links:
            key = tuple(int(v) for v in lk)
            load[key] = load.get(key, 0.0) + r.copies
    return load


def dependencies(r: Route) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Channel dependencies inside one tree: the link (with its VC) feeding each link, branches included."""
    ch = [(*(int(v) for v in r.links[i]), int(r.vc[i])) for i in range(len(r.parent))]
    return [(ch[int(p)], ch[i]) for i, p in enumerate(r.parent) if p >= 0]


@dataclass(frozen=True, eq=False)
class Routes:
    """Every route of a placed Program; ``report`` is report.json → ``routing`` (without the certificate
    fields, which the Certificate adds)."""

    routes: tuple[Route, ...]
    algorithm: str
    report: dict[str, Any] = field(default_factory=dict)

    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"algorithm": self.algorithm, "report": {k: v for k, v in self.report.items() if k != "seconds"},
                "routes": [{"source": r.source, "destinations": list(r.destinations), "algorithm": r.algorithm,
                            "copies": r.copies, "n": len(r.parent)} for r in self.routes]}
        arrays: dict[str, np.ndarray] = {}
        if self.routes:
            arrays["links"] = np.concatenate([r.links for r in self.routes]).astype(np.int32).reshape(-1, 5)
            arrays["parent"] = np.concatenate([r.parent for r in self.routes]).astype(np.int32)
            arrays["vc"] = np.concatenate([r.vc for r in self.routes]).astype(np.int8)
        return meta, arrays

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Routes:
        out, at = [], 0
        for m in meta["routes"]:
            n = int(m["n"])
            links = np.asarray(arrays.get("links", np.zeros((0, 5))), dtype=np.int32)
            parent = np.asarray(arrays.get("parent", np.zeros(0)), dtype=np.int32)
            vc = np.asarray(arrays.get("vc", np.zeros(0)), dtype=np.int8)
            out.append(Route(int(m["source"]), tuple(int(d) for d in m["destinations"]),
                             links[at:at + n].reshape(-1, 5), parent[at:at + n], vc[at:at + n],
                             str(m["algorithm"]), float(m["copies"])))
            at += n
        return cls(tuple(out), str(meta["algorithm"]), dict(meta.get("report", {})))

    def export(self, directory: str | Path, program: Any = None) -> None:
        """``routes.json``: per route source, destinations, links [[chip_x, chip_y, x, y, "E"], ...] in order."""
        rows = [{"source": r.source, "destinations": list(r.destinations),
                 "links": [[int(a), int(b), int(c), int(d), DIRS[int(e)]] for a, b, c, d, e in r.links],
                 "parent": [int(p) for p in r.parent], "algorithm": r.algorithm, "copies": r.copies}
                for r in self.routes]
        atomic_write_json(Path(directory) / "routes.json", rows)


def _select(flows: list[tuple[int, tuple[int, ...], float]], cands: list[list[Route]], time_limit: float, seed: int
            ) -> tuple[list[Route], dict[str, Any]]:
    """CP-SAT: one candidate per flow, least max link load, acyclic CDG by channel ranks; hinted with XY."""
    m = cp_model.CpModel()
    chan: dict[tuple[int, ...], int] = {}
    link_use: dict[tuple[int, ...], list[tuple[int, Any]]] = {}
    choice = []
    scale = 1000
    dep_uses: dict[tuple[int, int], list[Any]] = {}
    for f, cs in enumerate(cands):
        xs = [m.new_bool_var(f"f{f}c{k}") for k in range(len(cs))]
        m.add_exactly_one(xs)
        choice.append(xs)
        for k, r in enumerate(cs):
            for lk in r.links:
                link_use.setdefault(tuple(int(v) for v in lk), []).append((int(round(r.copies * scale)), xs[k]))
            for a, b in dependencies(r):
                ia, ib = chan.setdefault(a, len(chan)), chan.setdefault(b, len(chan))
                dep_uses.setdefault((ia, ib), []).append(xs[k])
    C = len(chan)
    rank = [m.new_int_var(0, max(0, C - 1), "") for _ in range(C)]
    for (a, b), users in dep_uses.items():
        used = m.new_bool_var("")
        m.add_max_equality(used, users)
        m.add(rank[a] < rank[b]).only_enforce_if(used)
    ub = sum(w for uses in link_use.values() for w, _ in uses) + 1
    peak = m.new_int_var(0, ub, "peak")
    for uses in link_use.values():
        m.add(sum(w * x for w, x in uses) <= peak)
    m.minimize(peak)
    # hint: every flow on XY (candidate 0), ranks from the XY CDG's topological order
    g = nx.DiGraph()
    g.add_nodes_from(range(C))
    for cs in cands:
        for a, b in dependencies(cs[0]):
            g.add_edge(chan[a], chan[b])
    for xs in choice:
        for k, x in enumerate(xs):
            m.add_hint(x, int(k == 0))
    if nx.is_directed_acyclic_graph(g):
        for i, c in enumerate(nx.topological_sort(g)):
            m.add_hint(rank[c], i)
    from spikemesh.placement.cpsat import solver as make_solver

    solver = make_solver(time_limit, seed)
    code = solver.solve(m)
    info: dict[str, Any] = {"status": solver.status_name(code), "flows": len(flows), "channels": C,
                            "dependencies": len(dep_uses)}
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return [cs[0] for cs in cands], info
    info.update(max_link_load=solver.objective_value / scale, bound=solver.best_objective_bound / scale)
    chosen = [cs[next(k for k, x in enumerate(xs) if solver.value(x))] for cs, xs in zip(cands, choice)]
    return chosen, info


#: route selection by CP-SAT up to this many candidate links in total; above it, XY routes are used
SELECT_MAX_LINKS = 400_000


def route(coords: np.ndarray, traffic: np.ndarray, target: Target, algorithm: str = "select", seed: int = 0,
          time_limit: float = 10.0) -> Routes:
    """Multicast routes for every source of ``traffic`` on a placement ``coords`` [n_cores, 4]. ``algorithm``:
    one of ALGORITHMS, or "select" (CP-SAT choice among all of them; see module docstring)."""
    t0 = time.perf_counter()
    mesh = Mesh.of(target)
    flows = flows_of(traffic)
    info: dict[str, Any] = {}
    if algorithm == "select":
        names = list(ALGORITHMS)  # "xy" first: the hint
        cands = []
        for s, d, c in flows:
            seen: dict[bytes, Route] = {}
            for nme in names:
                r = tree(s, d, coords, mesh, ALGORITHMS[nme], nme, c)
                seen.setdefault(r.links.tobytes(), r)
            cands.append(list(seen.values()))
        total = sum(len(r.parent) for cs in cands for r in cs)
        if total > SELECT_MAX_LINKS or all(len(cs) == 1 for cs in cands):
            chosen = [cs[0] for cs in cands]
            info["selection"] = {"status": "xy", "why": f"{total} candidate links"
                                 + (f" > {SELECT_MAX_LINKS}" if total > SELECT_MAX_LINKS else "; one candidate each")}
        else:
            chosen, info["selection"] = _select(flows, cands, time_limit, seed)
    elif algorithm in ALGORITHMS:
        chosen = [tree(s, d, coords, mesh, ALGORITHMS[algorithm], algorithm, c) for s, d, c in flows]
    else:
        raise PlacementError(f"unknown routing algorithm {algorithm!r}", node="routing",
                             needed="select | " + " | ".join(ALGORITHMS), available=algorithm)
    loads = link_loads(chosen)
    inter = sum(v for k, v in loads.items() if mesh.crosses(k[0] * mesh.cores_x + k[2], k[1] * mesh.cores_y + k[3],
                                                            k[4]))
    rep = {"algorithm": algorithm, "routes": len(chosen), "links": int(sum(len(r.parent) for r in chosen)),
           "max_link_load": max(loads.values(), default=0.0), "interchip_link_traffic": float(inter),
           "by_algorithm": {a: sum(1 for r in chosen if r.algorithm == a) for a in sorted({r.algorithm
                                                                                          for r in chosen})},
           **info, "seconds": round(time.perf_counter() - t0, 6)}
    return Routes(tuple(chosen), algorithm, json.loads(json.dumps(rep)))
