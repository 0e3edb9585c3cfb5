"""Baseline placers: ``rowmajor`` (core i on slot i), ``zigzag`` (boustrophedon rows, chips visited in a snake
too) and ``neighbor`` (greedy: each core, in index order, takes the free slot nearest its already placed
neighbours, weighted by traffic)."""

from __future__ import annotations

import numpy as np

from spikemesh.placement.problem import Problem, slot_arrays
from spikemesh.target.topology import Mesh


def rowmajor(problem: Problem, mesh: Mesh) -> np.ndarray:
    return np.arange(problem.n, dtype=np.int64)


def zigzag_order(mesh: Mesh) -> np.ndarray:
    """Slots in snake order: chips in a snake over the chip grid, rows in a snake within each chip."""
    order: list[int] = []
    for cy in range(mesh.chips_y):
        cxs = range(mesh.chips_x) if cy % 2 == 0 else range(mesh.chips_x - 1, -1, -1)
        for cx in cxs:
            base = (cy * mesh.chips_x + cx) * mesh.per_chip
            for y in range(mesh.cores_y):
                xs = range(mesh.cores_x) if y % 2 == 0 else range(mesh.cores_x - 1, -1, -1)
                order.extend(base + y * mesh.cores_x + x for x in xs)
    return np.array(order, dtype=np.int64)


def zigzag(problem: Problem, mesh: Mesh) -> np.ndarray:
    return zigzag_order(mesh)[: problem.n].copy()


def neighbor(problem: Problem, mesh: Mesh) -> np.ndarray:
    gx, gy, cx, cy = slot_arrays(mesh)
    iw = mesh.interchip_weight
    free = np.ones(mesh.n_slots, dtype=bool)
    slot = np.full(problem.n, -1, dtype=np.int64)
    host_cost = gx + gy + (iw - 1.0) * (cx + cy)
    for c in range(problem.n):
        cost = problem.host_w[c] * host_cost
        lo, hi = problem.indptr[c], problem.indptr[c + 1]
        for j, w in zip(problem.nbr[lo:hi], problem.w[lo:hi]):
            s = slot[j]
            if s >= 0:
                cost = cost + w * (np.abs(gx - gx[s]) + np.abs(gy - gy[s]) + (iw - 1.0) * (np.abs(cx - cx[s])
                                                                                         + np.abs(cy - cy[s])))
        cost = np.where(free, cost + 1e-9 * (gx + gy), np.inf)  # ties: nearest the host corner
        s = int(np.argmin(cost))
        slot[c] = s
        free[s] = False
    return slot
