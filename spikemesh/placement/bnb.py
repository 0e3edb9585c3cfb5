"""Exact placement of small instances by depth-first branch and bound (Numba), the prover behind ``cpsat``.

Cores are placed one at a time in a fixed order (heaviest core first, then the core most tied to those placed).
At a node with the first k cores placed, every unplaced core u is charged, on its best free slot s,
``C[u, s]`` (its exact cost to the placed cores and the host) plus ``R[k, u, s]``: half the Gilmore–Lawler bound
of its edges to other unplaced cores (weights sorted down against the distances from s sorted up; each such edge
is charged half at each end; the distances are those to slots still free, from a per-slot histogram kept up to
date). The slots are relaxed to be chosen independently, so the sum is a lower bound
(Gilmore 1962, Lawler 1963; the "partial GL" bound of QAP branch and bound). The first core is restricted to one
slot per orbit of the mesh symmetries and the second to one slot per orbit of the symmetries that fix the
first core's slot (both taken among cores without twins); twin cores (same weights to all others, see ``twins``)
sit on increasing slots. A work budget (counted, not timed) makes every run deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from spikemesh.placement import bounds
from spikemesh.placement.problem import Problem, slot_arrays
from spikemesh.target.topology import Mesh

EPS = 1e-7


@dataclass(frozen=True)
class Result:
    """``slot`` best placement found (None: none better than the upper bound given); ``proven``: the search
    finished, so no placement costs less than ``objective``; ``root_bound``: the bound before branching."""

    slot: np.ndarray | None
    objective: float
    proven: bool
    nodes: int
    root_bound: float


def _order(problem: Problem) -> np.ndarray:
    n = problem.n
    load = np.zeros(n)
    np.add.at(load, np.repeat(np.arange(n), np.diff(problem.indptr)), problem.w)
    load += problem.host_w
    tie = np.zeros(n)
    placed = np.zeros(n, dtype=bool)
    out = []
    for _ in range(n):
        key = np.where(placed, -np.inf, tie * 1e6 + load)
        c = int(np.argmax(key))
        out.append(c)
        placed[c] = True
        lo, hi = problem.indptr[c], problem.indptr[c + 1]
        np.add.at(tie, problem.nbr[lo:hi], problem.w[lo:hi])
    return np.array(out, dtype=np.int64)


def twins(problem: Problem) -> np.ndarray:
    """Class id per core: two cores are twins when they have the same host weight and the same weight to every
    other core, so swapping them keeps every cost (an equivalence relation)."""
    n = problem.n
    M = np.zeros((n, n))
    for c in range(n):
        lo, hi = problem.indptr[c], problem.indptr[c + 1]
        M[c, problem.nbr[lo:hi]] = problem.w[lo:hi]
    cls = np.arange(n)
    for a in range(n):
        if cls[a] != a:
            continue
        for b in range(a + 1, n):
            if cls[b] == b and problem.host_w[a] == problem.host_w[b]:
                keep = np.ones(n, dtype=bool)
                keep[[a, b]] = False
                if np.array_equal(M[a, keep], M[b, keep]):
                    cls[b] = a
    return cls


def _rest_weights(problem: Problem, order: np.ndarray) -> np.ndarray:
    """RW[k, u]: half the weights of u's edges to cores at order position ≥ k, sorted down, zero-padded."""
    n = problem.n
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    deg = int(np.diff(problem.indptr).max()) if n else 0
    RW = np.zeros((n + 1, n, deg + 1))
    for u in range(n):
        lo, hi = problem.indptr[u], problem.indptr[u + 1]
        nb, w = problem.nbr[lo:hi], problem.w[lo:hi]
        for k in range(n + 1):
            ws = np.sort(w[rank[nb] >= k])[::-1]
            RW[k, u, : len(ws)] = 0.5 * ws
    return RW


def _rest_bounds(problem: Problem, order: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """R[k, u, s]: half the GL bound of u's edges to cores at order position ≥ k, u on slot s."""
    n, S = problem.n, dist.shape[0]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    near = np.sort(dist + np.where(np.eye(S, dtype=bool), np.inf, 0.0), axis=1)[:, : max(0, S - 1)]
    R = np.zeros((n + 1, n, S))
    for u in range(n):
        lo, hi = problem.indptr[u], problem.indptr[u + 1]
        nb, w = problem.nbr[lo:hi], problem.w[lo:hi]
        for k in range(n + 1):
            ws = np.sort(w[rank[nb] >= k])[::-1][: S - 1]
            if len(ws):
                R[k, u] = 0.5 * (near[:, : len(ws)] @ ws)
    return R


@njit(cache=True)
def _free_rest(rw, hist_t, dv):  # type: ignore
    """Σ_j rw[j] × (j-th least distance to a free slot), rw sorted down (zeros end it), hist_t: free slots per
    distance class."""
    tot = 0.0
    d = 0
    left = hist_t[0]
    for j in range(rw.shape[0]):
        if rw[j] == 0.0:
            break
        while left == 0:
            d += 1
            left = hist_t[d]
        tot += rw[j] * dv[d]
        left -= 1
    return tot


@njit(cache=True, nogil=True)  # seconds long: other threads (a sweep's Ray start) run meanwhile
def _search(order, indptr, nbr, w, dist, C, R, RW, NRW, DI, dv, hist, kp, kq, allowed0, allowed1, cls,  # type: ignore
            ub, max_work):
    n = order.shape[0]
    S = dist.shape[0]
    pos = np.full(n, -1, dtype=np.int64)
    free = np.ones(S, dtype=np.bool_)
    best = np.full(n, -1, dtype=np.int64)
    found = False
    nxt = np.zeros(n + 1, dtype=np.int64)  # next slot to try per depth
    cost = np.zeros(n + 1)
    nodes = 0
    work = 0  # slot scans + free-distance merges: the deterministic budget
    k = 0
    while k >= 0:
        if work >= max_work:
            return best, ub, found, nodes, False
        u = order[k]
        if pos[u] >= 0:  # undo the previous choice at this depth
            s = pos[u]
            for e in range(indptr[u], indptr[u + 1]):
                v = nbr[e]
                if pos[v] < 0:
                    for t in range(S):
                        C[v, t] -= w[e] * dist[s, t]
            free[s] = True
            for q in range(S):
                if q != s:
                    hist[q, DI[q, s]] += 1
            pos[u] = -1
        s = nxt[k]
        while s < S:
            ok = free[s] and not (k == kp and not allowed0[s]) and not (k == kq and not allowed1[pos[order[kp]], s])
            if ok and cls[u] >= 0:
                for v in range(n):  # twins sit on increasing slots (by core index)
                    if (v != u and cls[v] == cls[u] and pos[v] >= 0
                            and ((v < u and pos[v] > s) or (v > u and pos[v] < s))):
                        ok = False
                        break
            if ok:
                break
            s += 1
        if s >= S:
            nxt[k] = 0
            k -= 1
            continue
        nxt[k] = s + 1
        nodes += 1
        c = cost[k] + C[u, s]
        if c >= ub - EPS:
            continue
        pos[u] = s
        free[s] = False
        for q in range(S):
            if q != s:
                hist[q, DI[q, s]] -= 1
        for e in range(indptr[u], indptr[u + 1]):
            v = nbr[e]
            if pos[v] < 0:
                for t in range(S):
                    C[v, t] += w[e] * dist[s, t]
        if k == n - 1:
            ub = c
            best[:] = pos
            found = True
            continue
        lb = c
        for j in range(k + 1, n):
            v = order[j]
            m = np.inf
            work += S
            for t in range(S):
                if free[t] and C[v, t] + R[k + 1, v, t] < m:  # R (all slots) <= the rest over free slots
                    x = C[v, t] + _free_rest(RW[k + 1, v], hist[t], dv)
                    work += NRW[k + 1, v]
                    if x < m:
                        m = x
            lb += m
            if lb >= ub - EPS:
                break
        if lb >= ub - EPS:
            continue
        cost[k + 1] = c
        k += 1
        nxt[k] = 0
    return best, ub, found, nodes, True


def solve(problem: Problem, mesh: Mesh, upper: float = np.inf, max_work: int = 10_000_000_000) -> Result:
    """Least-cost placement (problem.evaluate's ``cost``); ``upper``: cost of a known placement (only strictly
    better ones are searched for). Deterministic: a work budget (slot scans + free-distance merge steps in the
    bound), not the clock, ends an unfinished search."""
    n, S = problem.n, mesh.n_slots
    dist = bounds.slot_distances(mesh)
    gx, gy, _, _ = slot_arrays(mesh)
    corner = int(np.flatnonzero((gx == 0) & (gy == 0))[0])
    order = _order(problem)
    C = np.ascontiguousarray(problem.host_w[:, None] * dist[corner][None, :])
    R = _rest_bounds(problem, order, dist)
    cls = twins(problem)
    size = np.bincount(cls, minlength=n)
    single = [k for k in range(n) if size[cls[order[k]]] == 1]
    kp, kq = (single + [-1, -1])[:2]
    group = np.stack(bounds.symmetries(mesh, host=bool(problem.host_w.any())))
    allowed0 = group.min(axis=0) == np.arange(S)
    allowed1 = np.ones((S, S), dtype=bool)
    for s in range(S):
        stab = group[group[:, s] == s]
        allowed1[s] = stab.min(axis=0) == np.arange(S)
    root = float(sum(min(C[v, t] + R[0, v, t] for t in range(S)) for v in range(n))) if n else 0.0
    if n == 0:
        return Result(np.zeros(0, dtype=np.int64), 0.0, True, 0, 0.0)
    RW = _rest_weights(problem, order)
    NRW = (RW > 0).sum(axis=2).astype(np.int64)
    dv, DI = np.unique(dist, return_inverse=True)
    DI = DI.reshape(S, S).astype(np.int64)
    hist = np.zeros((S, len(dv) + 1), dtype=np.int64)  # a zero class at the end stops _free_rest's scan
    for q in range(S):
        np.add.at(hist[q], DI[q][np.arange(S) != q], 1)
    best, ub, found, nodes, done = _search(order, problem.indptr, problem.nbr, problem.w, dist, C, R, RW, NRW, DI,
                                           np.append(dv, np.inf), hist, kp, kq,
                                           allowed0, allowed1, np.where(size[cls] > 1, cls, -1), float(upper),
                                           int(max_work))
    return Result(best.copy() if found else None, float(ub), bool(done), int(nodes), root)
