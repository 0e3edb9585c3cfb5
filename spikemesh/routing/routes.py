"""Routes: multicast trees over the mesh (built as flat arrays by the Numba kernels of ``trees``; the per-pair
Python path functions here are their specification), and CP-SAT route selection.

Path functions (minimal paths between global routers; directions 0=E 1=W 2=N 3=S, N = +y):
``xy`` and ``yx`` (dimension order); the turn models of Glass and Ni (ISCA 1992) ``west_first`` (W hops first, then Y,
then E), ``north_last`` (S first, then X, then N), ``negative_first`` (W, S, then E, N) and ``odd_even`` (Chiu, IEEE
TPDS 2000: no E→N / E→S turn in an even column, no N→W / S→W turn in an odd column; the first legal minimal path
preferring X). A multicast tree is the trie of its destinations' paths from the source router: paths share links while
they agree and branch at routers (stored per link: links [L, 5], parent [L], vc [L]; see ``trees``).

``select``: per flow, choose among the trees of every algorithm to minimise the maximum link load subject to an
acyclic channel-dependency graph (integer ranks on channels; a used dependency c→d needs rank(c) < rank(d); with
cut-through forwarding also the relay dependencies between the chosen trees into and out of a forwarding core),
solved by CP-SAT (one worker, ``time_limit`` seconds of the compile's budget as deterministic time,
spikemesh.budget; ``report["budget"]`` says whether it stopped there), hinted with the all-XY solution (always
feasible without relay dependencies; when no acyclic choice is found the XY trees are kept and the certificate
reports their cycle). Above ``SELECT_MAX_LINKS`` candidate links (checked on the XY trees first, so large instances
never build the other candidates) selection is skipped and the XY routes are kept; ``report["selection"]`` says so
and why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import networkx as nx
import numpy as np
from ortools.sat.python import cp_model

from spikemesh.budget import StageBudget, cpsat_seconds, solve
from spikemesh.errors import PlacementError
from spikemesh.fileio import atomic_write_json
from spikemesh.routing.trees import (
    ALGO_NAMES,
    FlatRoutes,
    Flows,
    Route,
    as_flat,
    build_trees,
    crossing_links,
    end_routers,
    link_load_array,
)
from spikemesh.target.model import Target
from spikemesh.target.topology import DIRS, STEP, Mesh

E, W, N, S = 0, 1, 2, 3
PathFn = Callable[[int, int, int, int], list[int]]
#: (channel a, channel b, flow f, candidate r of f, flow g, candidate q of g): a → b when both are chosen
RelayDep = tuple[tuple[int, ...], tuple[int, ...], int, int, int, int]


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


def tree(source: int, destinations: Sequence[int], coords: np.ndarray, mesh: Mesh, path: PathFn,
         algorithm: str = "", copies: float = 0.0) -> Route:
    """One multicast tree (``path`` one of ALGORITHMS' functions), built by the flat kernel."""
    name = next((k for k, f in ALGORITHMS.items() if f is path), None)
    if name is None:
        raise PlacementError("tree() takes one of the routing ALGORITHMS", node="routing",
                             needed=" | ".join(ALGORITHMS), available=getattr(path, "__name__", str(path)))
    dl = np.asarray(list(destinations), dtype=np.int64)
    idx = np.concatenate([[max(int(source), 0)], dl]).astype(np.int64)
    sub = np.asarray(coords)[idx]  # only the coordinates this tree needs
    local = -1 if source < 0 else 0
    flows = Flows(np.array([local], dtype=np.int64), np.array([0, dl.size], dtype=np.int64),
                  np.arange(1, dl.size + 1, dtype=np.int64), np.array([float(copies)]))
    r = build_trees(flows, sub, mesh, name).route(0)
    return Route(int(source), tuple(int(d) for d in dl), r.links, r.parent, r.vc, algorithm, float(copies))


def flows_of(traffic: np.ndarray) -> list[tuple[int, tuple[int, ...], float]]:
    """(source, destinations, copies per step of one source spike's tree) per source; a source's copies are the
    largest copies to any of its destinations (a spike is multicast once to all of them)."""
    f = Flows.of(traffic)
    return [(int(f.sources[i]), tuple(int(d) for d in f.dests[f.dest_ptr[i]:f.dest_ptr[i + 1]]),
             float(f.copies[i])) for i in range(len(f))]


def link_loads(routes: Sequence[Route] | FlatRoutes | Routes, mesh: Mesh | None = None
               ) -> dict[tuple[int, ...], float]:
    """Load (Σ copies) per used link (chip_x, chip_y, x, y, dir)."""
    flat = as_flat(routes)
    if mesh is None:  # the smallest mesh holding the links (ids only; the chip split is taken from the links)
        lk = flat.links.astype(np.int64)
        cx = int(lk[:, 2].max(initial=0)) + 1
        cy = int(lk[:, 3].max(initial=0)) + 1
        mesh = Mesh(cx, cy, int(lk[:, 0].max(initial=0)) + 1, int(lk[:, 1].max(initial=0)) + 1, 1.0)
    load, uses = link_load_array(flat, mesh)
    out: dict[tuple[int, ...], float] = {}
    for lid in np.flatnonzero(uses):
        r, d = divmod(int(lid), 4)
        gy, gx = divmod(r, mesh.width)
        out[(*mesh.split(gx, gy), d)] = float(load[lid])
    return out


def dependencies(r: Route) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Channel dependencies inside one tree: the link (with its VC) feeding each link, branches included."""
    ch = [(*(int(v) for v in r.links[i]), int(r.vc[i])) for i in range(len(r.parent))]
    return [(ch[int(p)], ch[i]) for i, p in enumerate(r.parent) if p >= 0]


@dataclass(frozen=True, eq=False)
class Routes:
    """Every route of a placed Program as flat arrays (``flat``; ``routes`` gives Route objects on demand);
    ``report`` is report.json → ``routing`` (without the certificate fields, which the Certificate adds)."""

    section_type: ClassVar[str] = "routes"  # its registered name in program.json (spikemesh.program)

    flat: FlatRoutes
    algorithm: str
    report: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def routes(self) -> tuple[Route, ...]:
        return self.flat.to_routes()

    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        f = self.flat
        meta = {"algorithm": self.algorithm, "report": {k: v for k, v in self.report.items() if k != "seconds"},
                "names": list(f.names)}
        arrays = {"links": f.links.astype(np.int32).reshape(-1, 5), "parent": f.parent.astype(np.int32),
                  "vc": f.vc.astype(np.int8), "ptr": f.ptr, "sources": f.sources, "dest_ptr": f.dest_ptr,
                  "dests": f.dests, "copies": f.copies, "algo": f.algo}
        return meta, arrays

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Routes:
        def arr(k: str, dtype: type, shape: tuple[int, ...] = (-1,)) -> np.ndarray:
            return np.asarray(arrays.get(k, np.zeros(0)), dtype=dtype).reshape(shape)

        if "routes" in meta:  # the per-route JSON layout of earlier builds
            out, at = [], 0
            links, parent, vc = arr("links", np.int32, (-1, 5)), arr("parent", np.int32), arr("vc", np.int8)
            for m in meta["routes"]:
                n = int(m["n"])
                out.append(Route(int(m["source"]), tuple(int(d) for d in m["destinations"]), links[at:at + n],
                                 parent[at:at + n], vc[at:at + n], str(m["algorithm"]), float(m["copies"])))
                at += n
            return cls(FlatRoutes.of(out), str(meta["algorithm"]), dict(meta.get("report", {})))
        flat = FlatRoutes(arr("sources", np.int64), arr("dest_ptr", np.int64), arr("dests", np.int64),
                          arr("copies", np.float64), arr("algo", np.int8), arr("ptr", np.int64),
                          arr("links", np.int32, (-1, 5)), arr("parent", np.int32), arr("vc", np.int8),
                          tuple(meta.get("names", ALGO_NAMES)))
        return cls(flat, str(meta["algorithm"]), dict(meta.get("report", {})))

    def export(self, directory: str | Path, program: Any = None) -> None:
        """``routes.json``: per route source, destinations, links [[chip_x, chip_y, x, y, "E"], ...] in order."""
        f = self.flat
        # Python lists once (numpy scalars converted element by element cost seconds on 34,000-core builds)
        links = [[p, q, u, v, DIRS[e]] for p, q, u, v, e in np.asarray(f.links).tolist()]
        ptr, dptr = np.asarray(f.ptr).tolist(), np.asarray(f.dest_ptr).tolist()
        dests, parent = np.asarray(f.dests).tolist(), np.asarray(f.parent).tolist()
        sources, algo, copies = np.asarray(f.sources).tolist(), np.asarray(f.algo).tolist(), np.asarray(f.copies)
        rows = []
        for i in range(len(f)):
            a, b = ptr[i], ptr[i + 1]
            rows.append({"source": sources[i], "destinations": dests[dptr[i]:dptr[i + 1]], "links": links[a:b],
                         "parent": parent[a:b], "algorithm": f.names[algo[i]], "copies": float(copies[i])})
        atomic_write_json(Path(directory) / "routes.json", rows)


def _channel(r: Route, i: int) -> tuple[int, ...]:
    return (*(int(v) for v in r.links[i]), int(r.vc[i]))


def _relay_deps(flows: list[tuple[int, tuple[int, ...], float]], cands: list[list[Route]], coords: np.ndarray,
                mesh: Mesh, relays: dict[int, int]) -> list[RelayDep]:
    """Cut-through relay dependencies between candidates (as deadlock.certify adds them): for a forwarding core k
    merging into m, candidate r of a flow delivering to k and candidate q of k's own flow give the channel of r
    ending at k's router → the first channel of q's path to m's router. Returns (a, b, flow, r, flow of k, q)."""
    gx, gy = mesh.global_xy(np.asarray(coords))
    router = gy * mesh.width + gx
    flow_of = {src: f for f, (src, _, _) in enumerate(flows)}
    ends: dict[tuple[int, int], np.ndarray] = {}

    def into(f: int, r: int, core: int) -> int:
        """Index of the link of candidate r of flow f that ends at ``core``'s router (-1: none)."""
        if (f, r) not in ends:
            ends[(f, r)] = end_routers(as_flat([cands[f][r]]), mesh)
        hit = np.flatnonzero(ends[(f, r)] == router[core])
        return int(hit[0]) if len(hit) else -1

    out = []
    for k, mc in relays.items():
        g = flow_of.get(k)
        if g is None or not 0 <= mc < len(coords):
            continue
        firsts = []
        for q, rq in enumerate(cands[g]):
            j = into(g, q, mc)
            while j >= 0 and rq.parent[j] >= 0:
                j = int(rq.parent[j])
            if j >= 0:
                firsts.append((q, _channel(rq, j)))
        for f, (_, dests, _) in enumerate(flows):
            if k not in dests:
                continue
            for r, rr in enumerate(cands[f]):
                i = into(f, r, k)
                if i >= 0:
                    out += [(_channel(rr, i), b, f, r, g, q) for q, b in firsts]
    return out


def _select(flows: list[tuple[int, tuple[int, ...], float]], cands: list[list[Route]], time_limit: float, seed: int,
            relay_deps: Sequence[RelayDep] = ()
            ) -> tuple[list[Route], dict[str, Any]]:
    """CP-SAT: one candidate per flow, least max link load, acyclic CDG by channel ranks (tree dependencies and,
    when given, cut-through relay dependencies of pairs of candidates); hinted with XY."""
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
    relay_idx = [(chan.setdefault(a, len(chan)), chan.setdefault(b, len(chan)), f, r, g, q)
                 for a, b, f, r, g, q in relay_deps]
    C = len(chan)
    rank = [m.new_int_var(0, max(0, C - 1), "") for _ in range(C)]
    for (a, b), users in dep_uses.items():
        used = m.new_bool_var("")
        m.add_max_equality(used, users)
        m.add(rank[a] < rank[b]).only_enforce_if(used)
    for a, b, f, r, g, q in relay_idx:
        m.add(rank[a] < rank[b]).only_enforce_if([choice[f][r], choice[g][q]])
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
    g.add_edges_from((a, b) for a, b, _, r, _, q in relay_idx if r == 0 and q == 0)
    for xs in choice:
        for k, x in enumerate(xs):
            m.add_hint(x, int(k == 0))
    if nx.is_directed_acyclic_graph(g):
        for i, c in enumerate(nx.topological_sort(g)):
            m.add_hint(rank[c], i)
    from spikemesh.placement.cpsat import solver as make_solver

    solver = make_solver(cpsat_seconds(time_limit), seed, workers=1)  # interleaved workers overran 10x in wall time
    code = solve(solver, m)
    info: dict[str, Any] = {"status": solver.status_name(code), "flows": len(flows), "channels": C,
                            "dependencies": len(dep_uses), "relay_dependencies": len(relay_idx)}
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return [cs[0] for cs in cands], info
    info.update(max_link_load=solver.objective_value / scale, bound=solver.best_objective_bound / scale)
    chosen = [cs[next(k for k, x in enumerate(xs) if solver.value(x))] for cs, xs in zip(cands, choice)]
    return chosen, info


#: route selection by CP-SAT up to this many candidate links in total; above it, XY routes are used
SELECT_MAX_LINKS = 400_000


def _candidates(flows: Flows, coords: np.ndarray, mesh: Mesh, xy_routes: FlatRoutes) -> list[list[Route]]:
    """Per flow, the distinct trees of every algorithm (XY first: the hint)."""
    per_alg = [xy_routes] + [build_trees(flows, coords, mesh, a) for a in ALGO_NAMES[1:]]
    cands = []
    for i in range(len(flows)):
        seen: dict[bytes, Route] = {}
        for f in per_alg:
            r = f.route(i)
            seen.setdefault(r.links.tobytes(), r)
        cands.append(list(seen.values()))
    return cands


def route(coords: np.ndarray, traffic: np.ndarray, target: Target, algorithm: str = "select", seed: int = 0,
          time_limit: float = 10.0, relays: dict[int, int] | None = None) -> Routes:
    """Multicast routes for every source of ``traffic`` on a placement ``coords`` [n_cores, 4]. ``algorithm``:
    one of ALGORITHMS, or "select" (CP-SAT choice among all of them; see module docstring). ``relays``
    (forwarding core → the core it merges into): with ``target.noc.forwarding == "cut_through"`` the selection
    also keeps the relay dependencies acyclic, as the certificate checks them."""
    t0 = time.perf_counter()
    mesh = Mesh.of(target)
    flows = Flows.of(traffic)
    info: dict[str, Any] = {}
    budget = StageBudget(float(time_limit))
    if algorithm == "select":
        flat = build_trees(flows, coords, mesh, "xy")
        if flat.n_links > SELECT_MAX_LINKS:
            info["selection"] = {"status": "skipped", "why": f"XY trees alone have {flat.n_links} links > "
                                 f"{SELECT_MAX_LINKS} (CP-SAT selection limit); XY routes kept"}
        else:
            cands = _candidates(flows, coords, mesh, flat)
            total = sum(len(r.parent) for cs in cands for r in cs)
            if total > SELECT_MAX_LINKS or all(len(cs) == 1 for cs in cands):
                info["selection"] = {"status": "xy", "why": f"{total} candidate links" + (
                    f" > {SELECT_MAX_LINKS}" if total > SELECT_MAX_LINKS else "; one candidate each")}
            else:
                fl = flows_of(traffic)
                deps = (_relay_deps(fl, cands, coords, mesh, relays)
                        if relays and target.noc.forwarding == "cut_through" else [])
                chosen, info["selection"] = _select(fl, cands, time_limit, seed, deps)
                sel = info["selection"]
                budget.charge("route selection (CP-SAT)", time_limit,
                              "optimal" if sel["status"] in ("OPTIMAL", "INFEASIBLE") else "limit",
                              cp_sat=sel["status"])
                flat = FlatRoutes.of(chosen)
    elif algorithm in ALGORITHMS:
        flat = build_trees(flows, coords, mesh, algorithm)
    else:
        raise PlacementError(f"unknown routing algorithm {algorithm!r}", node="routing",
                             needed="select | " + " | ".join(ALGORITHMS), available=algorithm)
    load, _ = link_load_array(flat, mesh)
    inter = float(load[crossing_links(mesh)].sum())
    counts = np.bincount(flat.algo.astype(np.int64), minlength=len(flat.names))
    rep = {"algorithm": algorithm, "routes": len(flat), "links": flat.n_links,
           "max_link_load": float(load.max(initial=0.0)), "interchip_link_traffic": inter,
           "by_algorithm": {flat.names[a]: int(counts[a]) for a in sorted(np.flatnonzero(counts),
                                                                          key=lambda a: flat.names[a])},
           **info, "budget": budget.report(), "seconds": round(time.perf_counter() - t0, 6)}
    return Routes(flat, algorithm, json.loads(json.dumps(rep)))
