"""Placement, routing, deadlock certificate, tables and exports, against hand-computed optima and an
independent cycle check."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikemesh
from spikemesh.cli import main
from spikemesh.errors import PlacementError
from spikemesh.placement import place
from spikemesh.routing import build_tables, certify, route
from spikemesh.routing.routes import ALGORITHMS, Route, dependencies, tree
from spikemesh.target.model import CoreSpec, NocSpec, Target
from spikemesh.target.topology import Mesh


def mesh_target(cx: int, cy: int, chips: tuple[int, int] = (1, 1), table_entries: int | None = None) -> Target:
    return Target(name=f"m{cx}x{cy}", cores_x=cx, cores_y=cy, chips_x=chips[0], chips_y=chips[1],
                  core=CoreSpec(256, 256, 1 << 20), noc=NocSpec(interchip_hop_cycles=20, table_entries=table_entries))


def grid_traffic(k: int) -> np.ndarray:
    """A k x k grid graph of cores (core = r * k + c), unit traffic per edge: its optimum on a k x k mesh is the
    number of edges, 2 k (k - 1) hops."""
    rows = []
    for r in range(k):
        for c in range(k):
            i = r * k + c
            if c + 1 < k:
                rows.append((i, i + 1, 1.0))
            if r + 1 < k:
                rows.append((i, i + k, 1.0))
    return np.array(rows)


def test_chain_placed_optimally_by_anneal_and_auto() -> None:
    n = 40
    traffic = np.array([(i, i + 1, 1.0) for i in range(n - 1)] + [(-1, 0, 2.0)])
    t = mesh_target(12, 13)
    rm = place(n, traffic, t, "rowmajor").report["hop_weighted_traffic"]
    assert rm == (n - 1 - 3) + 3 * (11 + 1)  # rows of 12: 36 unit edges, 3 row jumps of 11 + 1 hops
    for placer in ("zigzag", "anneal", "auto"):
        assert place(n, traffic, t, placer, seed=1).report["hop_weighted_traffic"] == n - 1  # optimum: n-1 hops


def test_cpsat_proves_optimum_on_16_cores() -> None:
    p = place(16, grid_traffic(4), mesh_target(4, 4), "cpsat", time_limit=10.0)
    info = p.report["solver"]
    assert info["status"] == "OPTIMAL" and p.report["seconds"] <= 10.0
    assert p.report["hop_weighted_traffic"] == 2 * 4 * 3 == info["objective"]


def test_cpsat_refuses_large_instances() -> None:
    with pytest.raises(PlacementError, match="small instances"):
        place(64, grid_traffic(8), mesh_target(8, 8), "cpsat")


def test_auto_multichip_keeps_chip_capacity_and_reduces_interchip_traffic() -> None:
    t = mesh_target(3, 3, chips=(2, 2))
    rng = np.random.default_rng(0)
    n = 30
    # two dense clusters of 15 cores: the best placement keeps each cluster on as few chips as possible
    rows = [(i, j, 1.0) for c0 in (0, 15) for i in range(c0, c0 + 15) for j in range(c0, c0 + 15)
            if i != j and rng.random() < 0.3]
    traffic = np.array(rows)
    auto = place(n, traffic, t, "auto", seed=0, time_limit=3.0)
    zz = place(n, traffic, t, "zigzag")
    chips = auto.coords[:, 1] * 2 + auto.coords[:, 0]
    assert np.bincount(chips).max() <= 9
    assert len({tuple(c) for c in auto.coords}) == n
    assert auto.report["interchip_traffic"] < zz.report["interchip_traffic"]
    ca = auto.report["solver"]["chip_assignment"]
    assert ca["status"] == "chip-level annealing" and ca["interchip"] <= ca["start_interchip"]
    assert auto.report["budget"]["spent"] <= 3.0 + 1e-9


def test_too_many_cores_is_a_clear_error() -> None:
    with pytest.raises(PlacementError, match="more logical cores") as e:
        place(20, np.zeros((0, 3)), mesh_target(4, 4))
    assert "needed 20, available 16" in str(e.value)


def test_tree_shares_prefixes_and_reaches_every_destination() -> None:
    mesh = Mesh.of(mesh_target(4, 4))
    coords = np.array([[0, 0, 0, 0], [0, 0, 3, 0], [0, 0, 3, 2], [0, 0, 2, 3]], dtype=np.int32)
    r = tree(0, (1, 2, 3), coords, mesh, ALGORITHMS["xy"])
    # XY union: E,E,E to (3,0); N,N to (3,2); from (0,0): E,E then N,N,N to (2,3) shares the first two E links
    assert len(r.parent) == 3 + 2 + 3
    assert r.parent[0] == -1 and (r.parent[1:] >= 0).all()


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_paths_are_minimal_and_respect_their_turn_model(alg: str) -> None:
    f = ALGORITHMS[alg]
    forbidden = {"west_first": {(2, 1), (3, 1)}, "north_last": {(2, 0), (2, 1)},
                 "negative_first": {(0, 3), (2, 1), (0, 1), (2, 3)}, "xy": {(2, 0), (2, 1), (3, 0), (3, 1)},
                 "yx": {(0, 2), (0, 3), (1, 2), (1, 3)}}.get(alg, set())
    step = ((1, 0), (-1, 0), (0, 1), (0, -1))
    for sx, sy, tx, ty in [(0, 0, 5, 3), (5, 3, 0, 0), (1, 4, 6, 0), (6, 0, 1, 4), (2, 2, 2, 5), (3, 1, 0, 1)]:
        p = f(sx, sy, tx, ty)
        assert len(p) == abs(tx - sx) + abs(ty - sy)
        x, y = sx, sy
        for a, b in zip(p, p[1:]):
            assert (a, b) not in forbidden
        for d in p:
            x, y = x + step[d][0], y + step[d][1]
        assert (x, y) == (tx, ty)


def test_mixed_xy_yx_routes_make_a_cycle_the_checker_reports() -> None:
    """Four flows around a 2x2 square, alternately XY and YX: E(0,0)->N(1,0)->W(1,1)->S(0,1)->E(0,0)."""
    t = mesh_target(2, 2)
    mesh = Mesh.of(t)
    coords = np.array([[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]], dtype=np.int32)
    routes = [tree(0, (2,), coords, mesh, ALGORITHMS["xy"]), tree(1, (3,), coords, mesh, ALGORITHMS["yx"]),
              tree(2, (0,), coords, mesh, ALGORITHMS["xy"]), tree(3, (1,), coords, mesh, ALGORITHMS["yx"])]
    with pytest.raises(PlacementError, match="channel-dependency cycle") as e:
        certify(routes, mesh, coords, layer_of={0: "a", 1: "b", 2: "c", 3: "d"})
    msg = str(e.value)
    assert "router(0,0) E" in msg and "router(1,0) N" in msg and "a" in msg
    # all-XY versions of the same flows certify
    xy = [tree(r.source, r.destinations, coords, mesh, ALGORITHMS["xy"]) for r in routes]
    cert = certify(xy, mesh, coords)
    assert cert.report["deadlock_free"] and cert.report["channels"] == 8 and cert.report["dependencies"] == 4


def _independent_acyclic(routes: list[Route]) -> bool:
    g = nx.DiGraph()
    for r in routes:
        g.add_edges_from(dependencies(r))
    return nx.is_directed_acyclic_graph(g)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(2, 6), st.integers(2, 14), st.integers(0, 10_000))
def test_xy_routes_on_random_placements_always_certify(w: int, h: int, n: int, seed: int) -> None:
    n = min(n, w * h)
    rng = np.random.default_rng(seed)
    t = mesh_target(w, h)
    mesh = Mesh.of(t)
    coords = mesh.slot_coords()[rng.permutation(w * h)[:n]]
    traffic = np.array([(s, d, 1.0) for s in range(-1, n) for d in range(n) if s != d and rng.random() < 0.3]
                       ).reshape(-1, 3)
    routes = route(coords, traffic, t, algorithm="xy")
    assert _independent_acyclic(list(routes.routes))
    certify(routes.routes, mesh, coords)


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 5), st.integers(2, 5), st.integers(0, 10_000))
def test_cpsat_router_never_returns_an_uncertified_set(w: int, h: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = w * h
    t = mesh_target(w, h)
    mesh = Mesh.of(t)
    coords = mesh.slot_coords()[rng.permutation(n)]
    traffic = np.array([(s, d, float(rng.integers(1, 5))) for s in range(n) for d in range(n)
                        if s != d and rng.random() < 0.25]).reshape(-1, 3)
    routes = route(coords, traffic, t, algorithm="select", time_limit=2.0, seed=seed)
    assert _independent_acyclic(list(routes.routes))
    certify(routes.routes, mesh, coords)
    xy = route(coords, traffic, t, algorithm="xy")
    assert routes.report["max_link_load"] <= xy.report["max_link_load"]


def test_tables_count_entries_compress_and_enforce_the_limit() -> None:
    t = mesh_target(3, 1)
    mesh = Mesh.of(t)
    coords = np.array([[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 2, 0], [0, 0, 0, 0]], dtype=np.int32)
    # cores 0 and 3 share router (0,0); both send to core 2 at (2,0) through (1,0)
    routes = [tree(0, (2,), coords, mesh, ALGORITHMS["xy"]), tree(3, (2,), coords, mesh, ALGORITHMS["xy"])]
    tab = build_tables(routes, mesh, coords, n_inputs=0, limit=None)
    entries = dict(zip(map(tuple, tab.routers.tolist()), tab.entries.tolist()))
    assert entries == {(0, 0): 2, (1, 0): 2, (2, 0): 2}
    # keys 0 and 3 with one output set: not one aligned block ({0..3} is free of other keys) -> 1 entry
    comp = dict(zip(map(tuple, tab.routers.tolist()), tab.compressed.tolist()))
    assert comp == {(0, 0): 1, (1, 0): 1, (2, 0): 1}
    with pytest.raises(PlacementError, match="routing table too large"):
        build_tables(routes + [tree(1, (0,), coords, mesh, ALGORITHMS["xy"])], mesh, coords, 0, limit=1)


def test_compiled_program_exports_and_cycle_equals_reference(tmp_path: Path, conv_graph: spikemesh.Graph) -> None:
    program = spikemesh.compile(conv_graph, "tianjic", seed=0, time_limit=2.0)
    assert program.certificate is not None and program.report["routing"]["deadlock_free"] is True
    out = program.save(tmp_path / "b")
    pj = json.loads((out / "placement.json").read_text())
    assert len(pj["cores"]) == program.partition.n_cores
    assert {"core", "group", "layer", "neurons", "chip", "x", "y", "use"} <= set(pj["cores"][0])
    rj = json.loads((out / "routes.json").read_text())
    assert all(lk[4] in "EWNS" and len(lk) == 5 for r in rj for lk in r["links"])
    for f in ("placement.png", "placement.svg"):
        assert (out / f).stat().st_size > 1000
    loaded = spikemesh.Program.load(out)
    assert np.array_equal(loaded.placement.coords, program.placement.coords)
    assert len(loaded.routes.routes) == len(program.routes.routes)
    x = (np.random.default_rng(1).random((30, 2, 2, 8, 8)) < 0.2).astype(np.int64)
    ref = spikemesh.simulate(loaded, x, engine="reference")
    cyc = spikemesh.simulate(loaded, x, engine="cycle")
    for k in ref.spikes:
        assert np.array_equal(ref.spikes[k], cyc.spikes[k]), k
    for fmt in ("csv", "json", "svg"):
        assert main(["export", "placement", str(out), "--format", fmt, "--out", str(tmp_path / f"m.{fmt}")]) == 0
        assert (tmp_path / f"m.{fmt}").stat().st_size > 100
    # a build whose report holds a cycle run: the exported map keeps the measured link heat (as Program.save drew it)
    noc = cyc.stats["noc"]
    assert noc["link_flits"]
    loaded.report["simulation"] = {"engine": "cycle", "steps": 30, "batch": 2, "noc": {"link_flits": noc["link_flits"]}}
    sim_dir = loaded.save(tmp_path / "c")
    assert main(["export", "placement", str(sim_dir), "--format", "svg", "--out", str(tmp_path / "s.svg")]) == 0
    assert (tmp_path / "s.svg").read_bytes() == (sim_dir / "placement.svg").read_bytes()
    assert (tmp_path / "s.svg").read_bytes() != (tmp_path / "m.svg").read_bytes()
    # the same through the CLI: `simulate DIR -e cycle` records the run in DIR/report.json, export reads it there
    np.save(tmp_path / "x.npy", x)
    assert main(["simulate", str(out), "--input", str(tmp_path / "x.npy"), "-e", "cycle", "-q"]) == 0
    assert main(["export", "placement", str(out), "--format", "svg", "--out", str(tmp_path / "t.svg")]) == 0
    assert (tmp_path / "t.svg").read_bytes() == (out / "placement.svg").read_bytes()
    assert (tmp_path / "t.svg").read_bytes() != (tmp_path / "m.svg").read_bytes()


def test_same_seed_same_placement(conv_graph: spikemesh.Graph) -> None:
    a = spikemesh.compile(conv_graph, "tianjic:2x1", seed=3, time_limit=2.0)
    b = spikemesh.compile(conv_graph, "tianjic:2x1", seed=3, time_limit=2.0)
    assert np.array_equal(a.placement.coords, b.placement.coords)


def test_key_mask_cover_by_hand() -> None:
    from spikemesh.routing.tables import _cover

    assert _cover([0, 3], set()) == 1  # block 0..3
    assert _cover([0, 3], {1}) == 2  # 1 belongs to another output set: blocks {0} and {3} (or 2..3)
    assert _cover([4, 5, 6, 7], {0}) == 1  # block 4..7
    assert _cover([1, 2], {0, 3}) == 2
