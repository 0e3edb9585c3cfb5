"""The lower bound of benchmarks/conv52k_bound.py (host → A → B → hub, Lagrangian split of the A-B distances,
Gilmore–Lawler on B, linear assignment per hub slot) never exceeds the optimum, found by brute force over every
placement of small instances with the same layer structure."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

from spikemesh.placement.problem import Problem

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from conv52k_bound import GRID, Bound  # noqa: E402


def layered(seed: int, na: int, nb: int) -> tuple[int, np.ndarray]:
    """Host inputs into every A core, 2..na A cores into each B core, every B core into the hub (last core)."""
    rng = np.random.default_rng(seed)
    hub = na + nb
    rows = [(-1, a, float(rng.integers(1, 60))) for a in range(na)]
    for b in range(nb):
        for a in rng.choice(na, size=int(rng.integers(2, na + 1)), replace=False):
            rows.append((int(a), na + b, float(rng.integers(10, 200))))
        rows.append((na + b, hub, float(rng.integers(50, 300))))
    return hub + 1, np.array(rows)


def brute_force(problem: Problem, w: int, h: int) -> float:
    xs, ys = np.arange(w * h) % w, np.arange(w * h) // w
    perms = np.array(list(itertools.permutations(range(w * h), problem.n)))
    i, j, c = problem.pairs[:, 0].astype(int), problem.pairs[:, 1].astype(int), problem.pairs[:, 2]
    cost = (c * (np.abs(xs[perms[:, i]] - xs[perms[:, j]]) + np.abs(ys[perms[:, i]] - ys[perms[:, j]]))).sum(axis=1)
    cost += (problem.host_w * (xs[perms] + ys[perms])).sum(axis=1)
    return float(cost.min())


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_bound_never_exceeds_the_brute_force_optimum(seed: int) -> None:
    n, traffic = layered(seed, 4, 2)
    problem = Problem.of(n, traffic)
    best = brute_force(problem, 3, 3)
    bd = Bound(problem, 3, 3, hub=n - 1)
    e = len(bd.ew)
    per_hub = []
    for f in range(9):
        v = max(bd.value(f, np.full(e, a), np.full(e, b))[0] for a, b in GRID)
        per_hub.append(max(v, bd.refine(f, 0.05, 0.2, iters=150)))
    assert min(per_hub) <= best + 1e-6
    assert min(per_hub) >= 0.5 * best  # and it is not vacuous
