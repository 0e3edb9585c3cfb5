"""Exact placement (``cpsat``, all provers in turn; tests/placement/test_cutsearch.py checks the cut search alone):
proven optima equal brute force over all placements of tiny instances; bounds
never exceed the optimum; realistic 16-core partitions are proven; one seed gives one answer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from spikemesh.ir import IF, Dense, Graph, Input, Output, Population, Projection
from spikemesh.partition import partition
from spikemesh.placement import bounds, cpsat, place
from spikemesh.placement.problem import Problem
from spikemesh.target.model import CoreSpec, NocSpec, Target
from spikemesh.target.topology import Mesh


def mesh_target(w: int, h: int, neurons: int = 256) -> Target:
    return Target(name=f"m{w}x{h}", cores_x=w, cores_y=h, core=CoreSpec(neurons, 1 << 16, 1 << 30),
                  features=frozenset({"IF"}))


def brute_force(n: int, traffic: np.ndarray, w: int, h: int) -> float:
    """Least Σ copies × Manhattan hops (host inputs from router (0, 0)) over every injective placement."""
    xs, ys = np.arange(w * h) % w, np.arange(w * h) // w
    t = np.asarray(traffic, dtype=float).reshape(-1, 3)
    src, dst, c = t[:, 0].astype(int), t[:, 1].astype(int), t[:, 2]
    perms = np.array(list(itertools.permutations(range(w * h), n)))  # [P, n] slot per core
    cost = np.zeros(len(perms))
    for s, d, k in zip(src, dst, c):
        sd = perms[:, d]
        if s < 0:
            cost += k * (xs[sd] + ys[sd])
        else:
            ss = perms[:, s]
            cost += k * (np.abs(xs[ss] - xs[sd]) + np.abs(ys[ss] - ys[sd]))
    return float(cost.min())


def random_traffic(n: int, seed: int, density: float, host: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = [(i, j, float(rng.integers(1, 10))) for i in range(n) for j in range(n) if i != j and rng.random() < density]
    if host:
        rows += [(-1, j, float(rng.integers(1, 20))) for j in range(n) if rng.random() < 0.4]
    return np.array(rows).reshape(-1, 3)


@pytest.mark.parametrize("prover", ["cut search", "branch-and-bound"])
@pytest.mark.parametrize("n,w,h,seed,density,host", [(8, 3, 3, 0, 0.3, False), (8, 3, 3, 1, 0.6, True),
                                                     (7, 4, 2, 2, 0.4, True), (8, 4, 2, 3, 0.25, False)])
def test_proven_optimum_equals_brute_force(monkeypatch: pytest.MonkeyPatch, prover: str, n: int, w: int, h: int,
                                           seed: int, density: float, host: bool) -> None:
    if prover == "branch-and-bound":
        monkeypatch.setattr(cpsat, "CUT_WORK_PER_SECOND", 0)
    tr = random_traffic(n, seed, density, host)
    p = place(n, tr, mesh_target(w, h), "cpsat", seed=0, time_limit=5.0)
    info = p.report["solver"]
    best = brute_force(n, tr, w, h)
    assert info["status"] == "OPTIMAL" and info["gap"] == 0.0 and info["prover"] == prover
    assert p.report["hop_weighted_traffic"] == pytest.approx(best) == pytest.approx(info["objective"])


@pytest.mark.parametrize("seed", [4, 5])
def test_cpsat_model_alone_gives_a_valid_bound_and_placement(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """With no cut-search or branch-and-bound budget the CP-SAT model decides: its bound never exceeds the
    brute-force optimum and its placement is never better than it (so a claimed OPTIMAL is the optimum); one seed,
    one answer."""
    monkeypatch.setattr(cpsat, "BNB_WORK_PER_SECOND", 0)
    monkeypatch.setattr(cpsat, "CUT_WORK_PER_SECOND", 0)
    n, w, h = 8, 3, 3
    tr = random_traffic(n, seed, 0.5, host=seed % 2 == 1)
    p = place(n, tr, mesh_target(w, h), "cpsat", seed=0, time_limit=2.0)
    again = place(n, tr, mesh_target(w, h), "cpsat", seed=0, time_limit=2.0)
    info = p.report["solver"]
    assert np.array_equal(p.coords, again.coords) and info == again.report["solver"]  # deterministic limits
    best = brute_force(n, tr, w, h)
    assert info["prover"] == "cp-sat" and not info["branch_and_bound"]["finished"]
    assert info["bound"] <= best + 1e-9 <= p.report["hop_weighted_traffic"] + 2e-9
    if info["status"] == "OPTIMAL":
        assert p.report["hop_weighted_traffic"] == pytest.approx(best)


def test_axis_and_gilmore_lawler_bounds_by_hand() -> None:
    # path 0-1-2 (weights 2, 3) on a 3x1 mesh: x axis optimum 2 + 3 = 5, y axis 0; host weight 4 into core 2
    # adds 4 x (column of core 2) to the x axis: best is 2-1-0 from the corner, 5 + 0 = 5
    pr = Problem.of(3, np.array([(0, 1, 2.0), (1, 2, 3.0), (-1, 2, 4.0)]))
    mesh = Mesh.of(mesh_target(3, 1))
    assert bounds.axis_bound(pr, mesh, 0) == 5.0 and bounds.axis_bound(pr, mesh, 1) == 0.0
    gl = bounds.gilmore_lawler(pr, mesh)
    # core 1 (weights 3, 2): in the middle both neighbours at distance 1 -> 5; at an end distances 1, 2 -> 3 + 4
    assert gl[1].tolist() == [7.0, 5.0, 7.0]


def _mlp16() -> tuple[int, np.ndarray]:
    """784-512-512-256-10 MLP sliced into 96-neuron cores: 6 + 6 + 3 + 1 = 16 cores with host inputs."""
    rng = np.random.default_rng(0)
    sizes = (784, 512, 512, 256, 10)
    pops = tuple(Population(f"fc{i}", (k,), IF()) for i, k in enumerate(sizes[1:], start=1))
    names = ["in", *(q.name for q in pops)]
    projs = tuple(Projection(f"p{i}", names[i], names[i + 1], (Dense(rng.normal(size=(b, a))),))
                  for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))
    g = Graph(inputs=(Input("in", (784,)),), populations=pops, projections=projs, outputs=(Output("o", "fc4"),))
    part = partition(g, mesh_target(4, 4, neurons=96), strategy="groups", seed=0)
    return part.n_cores, np.asarray(part.traffic)


def test_realistic_16_core_partition_is_proven_and_deterministic() -> None:
    n, tr = _mlp16()
    assert n == 16
    a = place(n, tr, mesh_target(4, 4), "cpsat", seed=3, time_limit=10.0)
    b = place(n, tr, mesh_target(4, 4), "cpsat", seed=3, time_limit=10.0)
    assert a.report["solver"]["status"] == "OPTIMAL"
    assert a.report["seconds"] <= 10.0
    assert np.array_equal(a.coords, b.coords) and a.report["solver"] == b.report["solver"]
    assert a.report["hop_weighted_traffic"] <= place(n, tr, mesh_target(4, 4), "zigzag").report[
        "hop_weighted_traffic"]


def test_two_chip_optimum_equals_brute_force_with_interchip_weight() -> None:
    """Two chips of 2x2 cores side by side, a chip-border hop costing 20 (interchip_hop_cycles / hop_cycles):
    the proven optimum equals the least Σ copies × (hops + 19 × chip borders) over all placements."""
    t = Target(name="m2x2:2x1", cores_x=2, cores_y=2, chips_x=2, chips_y=1, core=CoreSpec(256, 1 << 16, 1 << 30),
               noc=NocSpec(interchip_hop_cycles=20))
    n = 6
    tr = random_traffic(n, 7, 0.4, host=True)
    p = place(n, tr, t, "cpsat", seed=0, time_limit=5.0)
    gx = np.array([0, 1, 0, 1, 2, 3, 2, 3])  # chip-major slots: chip 0 then chip 1, rows of 2
    gy = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    chip = gx // 2
    perms = np.array(list(itertools.permutations(range(8), n)))
    cost = np.zeros(len(perms))
    for s, d, k in tr:
        sd = perms[:, int(d)]
        if s < 0:
            cost += k * (gx[sd] + gy[sd] + 19 * chip[sd])
        else:
            ss = perms[:, int(s)]
            cost += k * (np.abs(gx[ss] - gx[sd]) + np.abs(gy[ss] - gy[sd]) + 19 * np.abs(chip[ss] - chip[sd]))
    assert p.report["solver"]["status"] == "OPTIMAL"
    assert p.report["cost"] == pytest.approx(cost.min())
