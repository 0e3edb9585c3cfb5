"""Lower bounds and symmetries for exact placement (the quadratic assignment problem on a mesh).

- ``gilmore_lawler``: per (core, slot) the least cost of the core's own edges if it sat on that slot — its
  edge weights sorted down against the distances from that slot to the other slots sorted up (Gilmore 1962,
  Lawler 1963). Any placement with core c on slot s pays at least ``l[c, s]`` on c's edges.
- ``axis_bound``: the weighted XY distance splits into one line metric per axis, and a line metric into
  thresholds: Σ copies × |ΔX| = Σ_t c_t × cut(S_t) with S_t = cores in columns ≤ t and c_t the threshold's
  cost (1, or the inter-chip weight at a chip border); host inputs from column 0 add c_t × host(outside S_t).
  Each column holds at most ``height`` cores, so |S_t| is bounded both ways and S_0 ⊆ S_1 ⊆ ...; the exact
  minimum over such chains (a subset DP, ``n ≤ AXIS_MAX_CORES``) bounds the axis's share of every placement.
  ``cut_table`` tabulates cut(S) + host(outside S) over all subsets; the cut search (cutsearch.py) uses it too.
- ``symmetries``: the slot permutations of the mesh that keep every distance (mirrors; the transpose on a
  square mesh) and, with host inputs at router (0, 0), keep that router too.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikemesh.placement.problem import Problem, slot_arrays
from spikemesh.target.topology import Mesh

#: the subset DP of ``axis_bound`` visits 2^n subsets
AXIS_MAX_CORES = 20


def slot_distances(mesh: Mesh) -> np.ndarray:
    """[S, S] weighted XY distance between slots (problem.wdist)."""
    gx, gy, cx, cy = slot_arrays(mesh)
    iw = mesh.interchip_weight
    return (np.abs(gx[:, None] - gx[None]) + np.abs(gy[:, None] - gy[None])
            + (iw - 1.0) * (np.abs(cx[:, None] - cx[None]) + np.abs(cy[:, None] - cy[None])))


def gilmore_lawler(problem: Problem, mesh: Mesh) -> np.ndarray:
    """[n, S] least cost of core c's edges (both directions summed, as in ``problem.w``) with c on slot s."""
    dist = slot_distances(mesh)
    S = mesh.n_slots
    near = np.sort(dist + np.where(np.eye(S, dtype=bool), np.inf, 0.0), axis=1)[:, : max(0, S - 1)]
    out = np.zeros((problem.n, S))
    for c in range(problem.n):
        w = np.sort(problem.w[problem.indptr[c]: problem.indptr[c + 1]])[::-1]
        k = min(len(w), S - 1)
        if k:
            out[c] = near[:, :k] @ w[:k]
    return out


@njit(cache=True)
def cut_table(n, A, host):  # type: ignore
    """F[s] = Σ_{i ∈ s, j ∉ s} A[i, j] + Σ_{i ∉ s} host[i] for every subset s of n cores (A symmetric), each from
    the subset without its lowest core."""
    m = 1 << n
    F = np.empty(m)
    deg = A.sum(axis=1)
    F[0] = host.sum()
    for s in range(1, m):
        b = 0
        while not (s >> b) & 1:
            b += 1
        r = s ^ (1 << b)
        inside = 0.0
        for j in range(n):
            if (r >> j) & 1:
                inside += A[b, j]
        F[s] = F[r] + deg[b] - 2.0 * inside - host[b]
    return F


def adjacency(problem: Problem, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense symmetric copies [n, n] and host copies [n] of the problem's cores padded to n (traffic-free)."""
    A = np.zeros((n, n))
    p = problem.pairs
    i, j = p[:, 0].astype(np.int64), p[:, 1].astype(np.int64)
    np.add.at(A, (i, j), p[:, 2])
    np.add.at(A, (j, i), p[:, 2])
    host = np.zeros(n)
    host[: problem.n] = problem.host_w
    return A, host


@njit(cache=True)
def _chain_dp(n, F, cost_t, lo, hi):  # type: ignore
    """min over chains S_0 ⊆ S_1 ⊆ ... (|S_t| in [lo[t], hi[t]]) of Σ_t cost_t × F(S_t)."""
    m = 1 << n
    size = np.zeros(m, dtype=np.int64)
    for s in range(1, m):
        size[s] = size[s & (s - 1)] + 1
    best = np.full(m, np.inf)  # chain minimum ending in S (thresholds so far)
    T = cost_t.shape[0]
    for t in range(T):
        prev = np.full(m, np.inf)
        if t == 0:
            for s in range(m):
                prev[s] = 0.0
        else:
            for s in range(m):
                if lo[t - 1] <= size[s] <= hi[t - 1]:
                    prev[s] = best[s]
            for b in range(n):  # min over subsets (sum-over-subsets transform)
                bit = 1 << b
                for s in range(m):
                    if s & bit and prev[s ^ bit] < prev[s]:
                        prev[s] = prev[s ^ bit]
        for s in range(m):
            best[s] = prev[s] + cost_t[t] * F[s] if lo[t] <= size[s] <= hi[t] else np.inf
    out = np.inf
    for s in range(m):
        if lo[T - 1] <= size[s] <= hi[T - 1] and best[s] < out:
            out = best[s]
    return out


def axis_bound(problem: Problem, mesh: Mesh, axis: int) -> float | None:
    """Exact least cost of one axis (0 = x, 1 = y) alone, host inputs included; None when n is too large."""
    n = problem.n
    if n > AXIS_MAX_CORES or n == 0:
        return None
    length, per_chip, cap = ((mesh.width, mesh.cores_x, mesh.height) if axis == 0
                             else (mesh.height, mesh.cores_y, mesh.width))
    if length < 2:
        return 0.0
    t = np.arange(length - 1)
    cost_t = np.where((t + 1) % per_chip == 0, mesh.interchip_weight, 1.0)
    hi = np.minimum(n, cap * (t + 1))
    lo = np.maximum(0, n - cap * (length - 1 - t))
    F = cut_table(n, *adjacency(problem, n))
    return float(_chain_dp(n, F, cost_t.astype(np.float64), lo.astype(np.int64), hi.astype(np.int64)))


def symmetries(mesh: Mesh, host: bool) -> list[np.ndarray]:
    """Slot permutations g (slot s → g[s]) that keep all distances (and router (0, 0) when ``host``); the
    identity first."""
    gx, gy, _, _ = slot_arrays(mesh)
    W, H = mesh.width, mesh.height
    at = np.empty(W * H, dtype=np.int64)
    at[gy * W + gx] = np.arange(mesh.n_slots)
    maps = []
    square = W == H and mesh.cores_x == mesh.cores_y
    for fx in (False, True):
        for fy in (False, True):
            for tr in ((False, True) if square else (False,)):
                if host and (fx or fy):
                    continue
                x = W - 1 - gx if fx else gx
                y = H - 1 - gy if fy else gy
                if tr:
                    x, y = y, x
                maps.append(at[y * W + x])
    return maps
