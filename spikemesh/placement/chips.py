"""Chip assignment by chip-level annealing (place.py ``auto`` on multi-chip targets).

Capacity ``cores_per_chip`` per chip, least
Σ copies × chip-grid distance (|Δchip_x| + |Δchip_y|, i.e. inter-chip traffic), host inputs entering at chip
(0, 0). Start: the zigzag order (cores in index order, which follows the layers, filling chips along a snake of
the chip grid). Refinement: simulated annealing over (chip, position) pairs in Numba — a move takes a core to a
position on a chip near its own (the window shrinks with the temperature); an empty position moves the core,
an occupied one swaps the two cores, so capacity always holds. Each move costs O(degree); seeded.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikemesh.placement.problem import Problem
from spikemesh.target.topology import Mesh


@njit(cache=True)
def _cost(c: int, q: int, other: int, other_q: int, chip: np.ndarray, indptr: np.ndarray, nbr: np.ndarray,
          w: np.ndarray, host_w: np.ndarray, qx: np.ndarray, qy: np.ndarray) -> float:
    """Chip-distance cost of core c's edges if c sat on chip q (core ``other`` counted on ``other_q``)."""
    tot = host_w[c] * (qx[q] + qy[q])
    for k in range(indptr[c], indptr[c + 1]):
        j = nbr[k]
        qj = other_q if j == other else chip[j]
        tot += w[k] * (abs(qx[q] - qx[qj]) + abs(qy[q] - qy[qj]))
    return tot


@njit(cache=True)
def _anneal_chips(chip: np.ndarray, pos: np.ndarray, at: np.ndarray, per_chip: int, chips_x: int, chips_y: int,
                  indptr: np.ndarray, nbr: np.ndarray, w: np.ndarray, host_w: np.ndarray, qx: np.ndarray,
                  qy: np.ndarray, n_iter: int, seed: int) -> float:
    np.random.seed(seed)
    n = chip.size
    n_chips = chips_x * chips_y
    acc = 0.0
    samples = min(400, 4 * n)
    for _ in range(samples):
        c = np.random.randint(n)
        q = np.random.randint(n_chips)
        acc += abs(_cost(c, q, -1, -1, chip, indptr, nbr, w, host_w, qx, qy)
                   - _cost(c, chip[c], -1, -1, chip, indptr, nbr, w, host_w, qx, qy))
    t0 = max(acc / max(1, samples), 1e-9) * 0.5
    alpha = (1e-4) ** (1.0 / max(1, n_iter))
    temp = t0
    radius0 = max(chips_x, chips_y)
    total = 0.0
    for _ in range(n_iter):
        temp *= alpha
        c = np.random.randint(n)
        p = chip[c]
        r = max(1, int(radius0 * (temp / t0) ** 0.5))
        x = qx[p] + np.random.randint(-r, r + 1)
        y = qy[p] + np.random.randint(-r, r + 1)
        if x < 0 or y < 0 or x >= chips_x or y >= chips_y:
            continue
        q = y * chips_x + x
        if q == p:
            continue
        k = np.random.randint(per_chip)
        d = at[q * per_chip + k]
        delta = (_cost(c, q, d, p, chip, indptr, nbr, w, host_w, qx, qy)
                 - _cost(c, p, -1, -1, chip, indptr, nbr, w, host_w, qx, qy))
        if d >= 0:
            delta += (_cost(d, p, c, q, chip, indptr, nbr, w, host_w, qx, qy)
                      - _cost(d, q, -1, -1, chip, indptr, nbr, w, host_w, qx, qy))
        if delta <= 0.0 or np.random.random() < np.exp(-delta / temp):
            a = p * per_chip + pos[c]
            at[a] = d
            at[q * per_chip + k] = c
            if d >= 0:
                chip[d] = p
                pos[d] = pos[c]
            chip[c] = q
            pos[c] = k
            total += delta
    return total


def chip_cost(problem: Problem, mesh: Mesh, chip: np.ndarray) -> float:
    """Σ copies × chip-grid distance + host copies × chip distance from (0, 0): the chip assignment objective."""
    qx, qy = chip % mesh.chips_x, chip // mesh.chips_x
    i, j, c = problem.pairs[:, 0].astype(np.int64), problem.pairs[:, 1].astype(np.int64), problem.pairs[:, 2]
    return float((c * (np.abs(qx[i] - qx[j]) + np.abs(qy[i] - qy[j]))).sum() + (problem.host_w * (qx + qy)).sum())


def anneal_chips(problem: Problem, mesh: Mesh, start: np.ndarray, seed: int = 0, moves_per_core: int = 100,
                 max_moves: int = 10_000_000) -> np.ndarray:
    """Improve the chip per core ``start`` (capacity-feasible) by annealing; ``min(max_moves, moves_per_core × n)``
    moves. Returns the new chip per core (int64)."""
    n_chips = mesh.chips_x * mesh.chips_y
    chip = np.asarray(start, dtype=np.int64).copy()
    if np.bincount(chip, minlength=n_chips).max(initial=0) > mesh.per_chip:
        raise ValueError("start exceeds a chip's capacity")
    pos = np.empty(problem.n, dtype=np.int64)
    at = np.full(n_chips * mesh.per_chip, -1, dtype=np.int64)
    fill = np.zeros(n_chips, dtype=np.int64)
    for c in range(problem.n):
        q = chip[c]
        pos[c] = fill[q]
        at[q * mesh.per_chip + fill[q]] = c
        fill[q] += 1
    qs = np.arange(n_chips, dtype=np.int64)
    n_iter = int(min(max_moves, moves_per_core * max(1, problem.n)))
    _anneal_chips(chip, pos, at, mesh.per_chip, mesh.chips_x, mesh.chips_y, problem.indptr, problem.nbr, problem.w,
                  problem.host_w, qs % mesh.chips_x, qs // mesh.chips_x, n_iter, int(seed) % (2**31))
    return chip
