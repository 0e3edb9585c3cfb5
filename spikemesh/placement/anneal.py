"""Simulated annealing over slot assignments (Numba), with region constraints as in the region-constrained SA
of Yang et al. (IEEE TETCI 2024): a core with ``region[c] = k >= 0`` may only occupy slots of chip k.

Moves pick a core and a slot in a window around it (shrinking with the temperature); an occupied slot swaps the
two cores, an empty one moves the core. Cost = Σ copies × weighted XY distance (problem.wdist) + host inputs.
Geometric cooling from a temperature set by the mean |Δ| of random moves; seeded, so reproducible.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikemesh.placement.problem import Problem, slot_arrays, wdist
from spikemesh.target.topology import Mesh


@njit(cache=True)
def _core_cost(c, s, other, other_slot, slot, indptr, nbr, w, host_w, gx, gy, cx, cy, iw):  # type: ignore
    """Cost of core c's edges if c sat on slot s (an edge to ``other`` uses ``other_slot``)."""
    tot = host_w[c] * (gx[s] + gy[s] + (iw - 1.0) * (cx[s] + cy[s]))
    for k in range(indptr[c], indptr[c + 1]):
        j = nbr[k]
        sj = other_slot if j == other else slot[j]
        tot += w[k] * wdist(s, sj, gx, gy, cx, cy, iw)
    return tot


@njit(cache=True)
def _anneal(slot, core_at, region, chip_of_slot, indptr, nbr, w, host_w, gx, gy, cx, cy, iw, width, height,  # type: ignore
            slot_at_xy, n_iter, seed, t_scale, best_slot):
    """Anneal ``slot`` in place; ``best_slot`` receives the best placement seen. Returns best cost - start cost."""
    np.random.seed(seed)
    n = slot.shape[0]
    best_slot[:] = slot
    if n < 1:
        return 0.0
    # initial temperature: mean |delta| of random swaps
    acc = 0.0
    samples = min(200, n * 4)
    for _ in range(samples):
        c = np.random.randint(n)
        s = np.random.randint(slot_at_xy.size)
        d = core_at[s]
        a = slot[c]
        old = _core_cost(c, a, -1, -1, slot, indptr, nbr, w, host_w, gx, gy, cx, cy, iw)
        new = _core_cost(c, s, d, a, slot, indptr, nbr, w, host_w, gx, gy, cx, cy, iw)
        acc += abs(new - old)
    t0 = max(acc / samples, 1e-9) * t_scale
    t_end = t0 * 1e-4
    alpha = (t_end / t0) ** (1.0 / max(1, n_iter))
    temp = t0
    radius0 = max(width, height)
    total_delta = 0.0
    best_delta = 0.0
    for _ in range(n_iter):
        temp *= alpha
        c = np.random.randint(n)
        a = slot[c]
        r = max(1, int(radius0 * (temp * t_scale / t0) ** 0.5))
        x = gx[a] + np.random.randint(-r, r + 1)
        y = gy[a] + np.random.randint(-r, r + 1)
        if x < 0 or y < 0 or x >= width or y >= height:
            continue
        s = slot_at_xy[y * width + x]
        if s == a:
            continue
        if region[c] >= 0 and chip_of_slot[s] != region[c]:
            continue
        d = core_at[s]
        if d >= 0 and region[d] >= 0 and chip_of_slot[a] != region[d]:
            continue
        delta = (_core_cost(c, s, d, a, slot, indptr, nbr, w, host_w, gx, gy, cx, cy, iw)
                 - _core_cost(c, a, -1, -1, slot, indptr, nbr, w, host_w, gx, gy, cx, cy, iw))
        if d >= 0:
            delta += (_core_cost(d, a, c, s, slot, indptr, nbr, w, host_w, gx, gy, cx, cy, iw)
                      - _core_cost(d, s, -1, -1, slot, indptr, nbr, w, host_w, gx, gy, cx, cy, iw))
            # the c-d edge was counted in both terms; its length is unchanged by a swap
        if delta <= 0.0 or np.random.random() < np.exp(-delta / temp):
            slot[c] = s
            core_at[s] = c
            core_at[a] = d
            if d >= 0:
                slot[d] = a
            total_delta += delta
            if total_delta < best_delta - 1e-9:
                best_delta = total_delta
                best_slot[:] = slot
    return best_delta


def anneal(problem: Problem, mesh: Mesh, start: np.ndarray, region: np.ndarray | None = None, seed: int = 0,
           moves_per_core: int = 20_000, max_moves: int = 20_000_000, reheats: int = 0,
           reheat_scale: float = 0.05) -> np.ndarray:
    """Improve ``start`` (slot per core) by annealing; returns the best placement seen. ``region`` int [n] (-1 =
    any chip). Runs ``min(max_moves, moves_per_core × n)`` moves from the start temperature, then ``reheats``
    more schedules of the same length from the best placement so far, each starting ``reheat_scale`` times as hot
    (their window radius shrinks accordingly)."""
    gx, gy, cx, cy = slot_arrays(mesh)
    slot = np.asarray(start, dtype=np.int64).copy()
    reg = np.full(problem.n, -1, dtype=np.int64) if region is None else np.asarray(region, dtype=np.int64)
    chip_of_slot = np.arange(mesh.n_slots, dtype=np.int64) // mesh.per_chip
    slot_at_xy = np.empty(mesh.n_slots, dtype=np.int64)
    slot_at_xy[gy * mesh.width + gx] = np.arange(mesh.n_slots)
    n_iter = int(min(max_moves, moves_per_core * max(1, problem.n)))
    best = slot.copy()
    for r in range(1 + int(reheats)):
        core_at = np.full(mesh.n_slots, -1, dtype=np.int64)
        core_at[slot] = np.arange(problem.n)
        _anneal(slot, core_at, reg, chip_of_slot, problem.indptr, problem.nbr, problem.w, problem.host_w, gx, gy,
                cx, cy, mesh.interchip_weight, mesh.width, mesh.height, slot_at_xy, n_iter,
                (int(seed) + 7919 * r) % (2**31), 1.0 if r == 0 else float(reheat_scale), best)
        slot = best.copy()
    return best
