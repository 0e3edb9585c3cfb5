"""The flat (Numba) trees, channel-dependency graph and tables equal simple per-object Python versions (the
implementations they replaced, kept here as references) on small random instances: same trees link by link, same
CDG verdict, channel and dependency counts (and a valid topological order), same tables."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from spikemesh.errors import PlacementError
from spikemesh.routing import build_tables, certify, route
from spikemesh.routing.routes import ALGORITHMS, dependencies, flows_of, link_loads
from spikemesh.routing.tables import _cover
from spikemesh.routing.trees import FlatRoutes, Flows, Route, build_trees
from spikemesh.target.model import CoreSpec, NocSpec, Target
from spikemesh.target.topology import DIRS, STEP, Mesh


def ref_flows(traffic: np.ndarray) -> list[tuple[int, tuple[int, ...], float]]:
    out: dict[int, tuple[list[int], float]] = {}
    for s, d, c in np.asarray(traffic, dtype=np.float64).reshape(-1, 3):
        s, d = int(s), int(d)
        if s == d:
            continue
        dl, m = out.get(s, ([], 0.0))
        dl.append(d)
        out[s] = (dl, max(m, float(c)))
    return [(s, tuple(sorted(set(dl))), m) for s, (dl, m) in sorted(out.items())]


def ref_tree(source: int, destinations: tuple[int, ...], coords: np.ndarray, mesh: Mesh, path) -> Route:
    gx, gy = mesh.global_xy(coords)
    sx, sy = (0, 0) if source < 0 else (int(gx[source]), int(gy[source]))
    index: dict[tuple[int, int], int] = {}
    links, parent = [], []
    for d in destinations:
        x, y, prev = sx, sy, -1
        for k in path(sx, sy, int(gx[d]), int(gy[d])):
            if (prev, k) not in index:
                index[(prev, k)] = len(links)
                links.append((*mesh.split(x, y), k))
                parent.append(prev)
            prev = index[(prev, k)]
            x, y = x + STEP[k][0], y + STEP[k][1]
    return Route(source, destinations, np.array(links, dtype=np.int32).reshape(-1, 5),
                 np.array(parent, dtype=np.int32), np.zeros(len(links), dtype=np.int8))


def ref_cdg(routes: list[Route], mesh: Mesh, coords: np.ndarray, relays: dict[int, int]) -> nx.DiGraph:
    """Tree edges, plus relay edges: a channel delivering to relay core P → the first channel of P's route on its
    path to P's merge core."""
    g = nx.DiGraph()
    for r in routes:
        g.add_nodes_from((*(int(v) for v in r.links[i]), int(r.vc[i])) for i in range(len(r.parent)))
        g.add_edges_from(dependencies(r))
    gx, gy = mesh.global_xy(coords)

    def ends(r: Route) -> dict[tuple[int, int], int]:
        out = {}
        for i in range(len(r.parent)):
            cx, cy, x, y, d = (int(v) for v in r.links[i])
            out[(cx * mesh.cores_x + x + STEP[d][0], cy * mesh.cores_y + y + STEP[d][1])] = i
        return out

    own = {r.source: r for r in routes}
    first = {}
    for p, m in relays.items():
        if p in own and (int(gx[m]), int(gy[m])) in ends(own[p]):
            r = own[p]
            i = ends(r)[(int(gx[m]), int(gy[m]))]
            while r.parent[i] >= 0:
                i = int(r.parent[i])
            first[p] = (*(int(v) for v in r.links[i]), 0)
    for r in routes:
        e = ends(r)
        for dst in r.destinations:
            if dst in first and (int(gx[dst]), int(gy[dst])) in e:
                i = e[(int(gx[dst]), int(gy[dst]))]
                g.add_edge((*(int(v) for v in r.links[i]), 0), first[dst])
    return g


def ref_tables(routes: list[Route], mesh: Mesh, coords: np.ndarray, n_inputs: int) -> dict[tuple[int, int], tuple]:
    gx, gy = mesh.global_xy(coords)
    per: dict[tuple[int, int], dict[int, set[str]]] = {}
    for r in routes:
        key = r.source + n_inputs
        sx, sy = (0, 0) if r.source < 0 else (int(gx[r.source]), int(gy[r.source]))
        per.setdefault((sx, sy), {}).setdefault(key, set())
        for cx, cy, x, y, d in r.links:
            rx, ry = int(cx) * mesh.cores_x + int(x), int(cy) * mesh.cores_y + int(y)
            per.setdefault((rx, ry), {}).setdefault(key, set()).add(DIRS[int(d)])
            per.setdefault((rx + STEP[int(d)][0], ry + STEP[int(d)][1]), {}).setdefault(key, set())
        for dst in r.destinations:
            per.setdefault((int(gx[dst]), int(gy[dst])), {}).setdefault(key, set()).add("L")
    out = {}
    for router, ent in per.items():
        groups: dict[frozenset[str], list[int]] = {}
        for key, outs in ent.items():
            groups.setdefault(frozenset(outs), []).append(key)
        comp = sum(_cover(ks, {k for o, kk in groups.items() if o != outs for k in kk}) for outs, ks in groups.items())
        out[router] = (len(ent), comp)
    return out


def instance(seed: int) -> tuple[Target, Mesh, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cx, cy = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    chips = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    t = Target(name="m", cores_x=cx, cores_y=cy, chips_x=chips[0], chips_y=chips[1], core=CoreSpec(256, 256, 1 << 20),
               noc=NocSpec(interchip_hop_cycles=20))
    mesh = Mesh.of(t)
    n = int(rng.integers(2, mesh.n_slots + 1))
    coords = mesh.slot_coords()[rng.permutation(mesh.n_slots)[:n]]
    p = rng.uniform(0.1, 0.5)
    traffic = np.array([(s, d, float(rng.integers(1, 9))) for s in range(-2, n) for d in range(n)
                        if s != d and rng.random() < p]).reshape(-1, 3)
    return t, mesh, coords, traffic


SEEDS = range(25)


@pytest.mark.parametrize("seed", SEEDS)
def test_flat_trees_equal_reference_tries_for_every_algorithm(seed: int) -> None:
    _, mesh, coords, traffic = instance(seed)
    flows = ref_flows(traffic)
    assert flows_of(traffic) == flows
    for name, path in ALGORITHMS.items():
        flat = build_trees(Flows.of(traffic), coords, mesh, name)
        assert len(flat) == len(flows)
        for i, (s, d, c) in enumerate(flows):
            r, ref = flat.route(i), ref_tree(s, d, coords, mesh, path)
            assert (r.source, r.destinations, r.copies, r.algorithm) == (s, d, c, name)
            assert np.array_equal(r.links, ref.links) and np.array_equal(r.parent, ref.parent), (name, i)


@pytest.mark.parametrize("seed", SEEDS)
def test_flat_cdg_verdict_counts_and_order_equal_networkx(seed: int) -> None:
    _, mesh, coords, traffic = instance(seed)
    rng = np.random.default_rng(seed + 1000)
    flows = ref_flows(traffic)
    # relay cores merge into one of their own destinations (as partial sums do), or a random core
    relays = {s: (d[int(rng.integers(len(d)))] if rng.random() < 0.8 else int(rng.integers(len(coords))))
              for s, d, _ in flows if s >= 0 and rng.random() < 0.4}
    names = list(ALGORITHMS)
    # every flow on a random algorithm: mixed turn models are often cyclic, so both verdicts occur
    routes = [ref_tree(s, d, coords, mesh, ALGORITHMS[names[int(rng.integers(len(names)))]])
              for s, d, _ in ref_flows(traffic)]
    g = ref_cdg(routes, mesh, coords, relays)
    if nx.is_directed_acyclic_graph(g):
        cert = certify(routes, mesh, coords, relays)
        assert cert.report["channels"] == g.number_of_nodes()
        assert cert.report["dependencies"] == g.number_of_edges()
        pos = {tuple(int(v) for v in ch): k for k, ch in enumerate(cert.channels)}
        assert set(pos) == set(g.nodes)
        assert all(pos[a] < pos[b] for a, b in g.edges)
    else:
        with pytest.raises(PlacementError, match="channel-dependency cycle") as e:
            certify(routes, mesh, coords, relays)
        assert "used by" in str(e.value)


@pytest.mark.parametrize("seed", SEEDS)
def test_reported_cycle_is_a_cycle_of_the_reference_graph(seed: int) -> None:
    _, mesh, coords, traffic = instance(seed)
    rng = np.random.default_rng(seed + 2000)
    names = list(ALGORITHMS)
    routes = [ref_tree(s, d, coords, mesh, ALGORITHMS[names[int(rng.integers(len(names)))]])
              for s, d, _ in ref_flows(traffic)]
    g = ref_cdg(routes, mesh, coords, {})
    from spikemesh.routing.deadlock import _decode, _kahn, dependency_graph, find_cycle

    cdg, _, _ = dependency_graph(routes, mesh)
    order = _kahn(cdg.nodes.size, cdg.src, cdg.dst)
    assert (order.size == cdg.nodes.size) == nx.is_directed_acyclic_graph(g)
    if order.size < cdg.nodes.size:
        cyc = [tuple(int(v) for v in ch) for ch in _decode(cdg.nodes[find_cycle(cdg, order)], mesh, cdg.v)]
        assert all(g.has_edge(a, b) for a, b in zip(cyc, cyc[1:] + cyc[:1]))


@pytest.mark.parametrize("seed", SEEDS)
def test_flat_tables_and_loads_equal_reference(seed: int) -> None:
    t, mesh, coords, traffic = instance(seed)
    rng = np.random.default_rng(seed + 3000)
    names = list(ALGORITHMS)
    routes = [ref_tree(s, d, coords, mesh, ALGORITHMS[names[int(rng.integers(len(names)))]])
              for s, d, _ in ref_flows(traffic)]
    routes = [Route(r.source, r.destinations, r.links, r.parent, r.vc, "xy", float(c))
              for r, (_, _, c) in zip(routes, ref_flows(traffic))]
    tab = build_tables(routes, mesh, coords, n_inputs=2, limit=None)
    got = {(int(x), int(y)): (int(e), int(c)) for (x, y), e, c in zip(tab.routers, tab.entries, tab.compressed)}
    assert got == ref_tables(routes, mesh, coords, 2)
    assert [tuple(r) for r in tab.routers.tolist()] == sorted(got)
    ref_load: dict[tuple[int, ...], float] = {}
    for r in routes:
        for lk in r.links:
            ref_load[tuple(int(v) for v in lk)] = ref_load.get(tuple(int(v) for v in lk), 0.0) + r.copies
    assert link_loads(routes, mesh) == ref_load
    assert route(coords, traffic, t, "xy").report["max_link_load"] == max(
        (v for v in link_loads(build_trees(Flows.of(traffic), coords, mesh, "xy"), mesh).values()), default=0.0)


def test_flat_routes_round_trip_through_route_objects() -> None:
    _, mesh, coords, traffic = instance(3)
    flat = build_trees(Flows.of(traffic), coords, mesh, "odd_even")
    again = FlatRoutes.of(list(flat.to_routes()))
    for k in ("sources", "dest_ptr", "dests", "copies", "algo", "ptr", "links", "parent", "vc"):
        assert np.array_equal(getattr(flat, k), getattr(again, k)), k


def test_selection_is_skipped_with_a_report_entry_beyond_the_link_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    t, mesh, coords, traffic = instance(4)
    xy = route(coords, traffic, t, "xy")
    monkeypatch.setattr(importlib.import_module("spikemesh.routing.routes"), "SELECT_MAX_LINKS",
                        xy.report["links"] - 1)
    sel = route(coords, traffic, t, "select", time_limit=1.0)
    assert sel.report["selection"]["status"] == "skipped" and "XY routes kept" in sel.report["selection"]["why"]
    assert np.array_equal(sel.flat.links, xy.flat.links) and np.array_equal(sel.flat.parent, xy.flat.parent)
