"""Exact placement on a small mesh by search over column and row cuts (Numba), the first prover of ``cpsat``.

On a mesh the weighted XY distance splits into thresholds (bounds.axis_bound): a placement costs
``Σ_t cx_t F(P_t) + Σ_u cy_u F(R_u)``, where ``P_t`` is the set of cores in columns ≤ t, ``R_u`` the set in rows ≤ u,
``F(S)`` = copies across the cut of S plus host inputs to cores outside S (they enter at router (0, 0)), and
``cx_t``/``cy_u`` the threshold costs (1, or the inter-chip weight at a chip border). With every slot filled (empty
slots become cores without traffic), a placement is exactly a chain of column prefixes with ``|P_t| = H (t + 1)``
plus a chain of row prefixes in which every ``R_u`` takes ``u + 1`` cores of every column.

The search enumerates column chains depth first, pruned by the chain's cost so far, the least completion of the
chain (a subset DP over supersets) and the least row cost of any placement (the same DP on rows); for each full
column partition it finds the least row chain exactly by a DP over row prefixes (states: which ``u + 1`` cores of
each column lie in rows ≤ u). Symmetries: on a square mesh every placement or its transpose has column cost ≤ row
cost, so column chains cost below half the upper bound; without host inputs, the mirrors put the heaviest core in
the lower-left quadrant. ``F`` over all 2^N subsets (bounds.cut_table) bounds the mesh to ``MAX_SLOTS`` slots. A
work budget (counted, not timed) makes every run deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from spikemesh.placement import bnb, bounds
from spikemesh.placement.problem import Problem, slot_arrays
from spikemesh.target.topology import Mesh

#: F is tabulated on all 2^N subsets of the N slots
MAX_SLOTS = 20
EPS = 1e-7


@dataclass(frozen=True)
class Result:
    """``slot`` best placement found (None: none below the upper bound given); ``proven``: the search finished, so
    no placement costs less than ``objective``; ``root_bound``: column plus row optimum taken apart."""

    slot: np.ndarray | None
    objective: float
    proven: bool
    work: int
    root_bound: float


@njit(cache=True)
def _completions(N, F, cost, step):  # type: ignore
    """comp[t, s] = least Σ_{t' > t} cost[t'] F(P_t') over chains s = P_t ⊂ P_{t+1} ⊂ ... with |P_t'| = step (t' + 1)
    (inf where |s| ≠ step (t + 1)); also returns the least whole-chain cost."""
    m = 1 << N
    L = cost.shape[0]
    size = np.zeros(m, dtype=np.int64)
    for s in range(1, m):
        size[s] = size[s & (s - 1)] + 1
    comp = np.full((max(L, 1), m), np.inf)
    if L == 0:
        return comp, 0.0
    for s in range(m):
        if size[s] == step * L:
            comp[L - 1, s] = 0.0
    g = np.empty(m)
    for t in range(L - 2, -1, -1):
        for s in range(m):
            g[s] = cost[t + 1] * F[s] + comp[t + 1, s] if size[s] == step * (t + 2) else np.inf
        for b in range(N):  # least over supersets
            bit = 1 << b
            for s in range(m):
                if not s & bit and g[s | bit] < g[s]:
                    g[s] = g[s | bit]
        for s in range(m):
            if size[s] == step * (t + 1):
                comp[t, s] = g[s]
    best = np.inf
    for s in range(m):
        if size[s] == step and cost[0] * F[s] + comp[0, s] < best:
            best = cost[0] * F[s] + comp[0, s]
    return comp, best


@njit(cache=True)
def _twins_ok(g, pa, pb, na):  # type: ignore
    """No later twin pb[q] in the set g without its earlier twin pa[q]."""
    for q in range(na):
        if (g >> pb[q]) & 1 and not (g >> pa[q]) & 1:
            return False
    return True


@njit(cache=True)
def _rows(cols, W, H, F, cy, compy, combs, ncomb, drop, X, ub, sym_core, sym_level, tw_a, tw_b, gs, dp, arg,  # type: ignore
          rows_out):
    """Least Σ_u cy[u] F(R_u) over row chains where R_u holds u + 1 cores of each column (cols[i] = the H cores of
    column i), or inf when every chain reaches ``ub - X``; twins (tw_a[q], tw_b[q]) in one column take rows in that
    order; fills rows_out[core] = row for the best. ``gs``, ``dp``, ``arg``: scratch [H - 1, states] (core set,
    least chain cost, best predecessor of each state). Returns (cost, work)."""
    gm = np.zeros((W, 1 << H), dtype=np.int64)
    for i in range(W):
        for msk in range(1, 1 << H):
            b = 0
            while not (msk >> b) & 1:
                b += 1
            gm[i, msk] = gm[i, msk ^ (1 << b)] | (np.int64(1) << cols[i, b])
    # twin pairs in one column: a state holding the later twin must hold the earlier one
    col_of = np.zeros(rows_out.shape[0], dtype=np.int64)
    for i in range(W):
        for b in range(H):
            col_of[cols[i, b]] = i
    na = 0
    pa = np.zeros(tw_a.shape[0], dtype=np.int64)
    pb = np.zeros(tw_a.shape[0], dtype=np.int64)
    for q in range(tw_a.shape[0]):
        if col_of[tw_a[q]] == col_of[tw_b[q]]:
            pa[na] = tw_a[q]
            pb[na] = tw_b[q]
            na += 1
    work = 0
    L = H - 1
    if L == 0:  # one row
        rows_out[:] = 0
        return (0.0 if X < ub - EPS else np.inf), 1
    digits = np.zeros(W, dtype=np.int64)
    sub = np.zeros(W, dtype=np.int64)
    # filter: each row prefix alone at its least cost (no chain between levels); keeps each state's core set
    # (-1: twins out of order) for the DP
    lb = X
    for u in range(L):
        K = ncomb[u + 1]
        m = np.inf
        for idx in range(K ** W):
            r = idx
            g = np.int64(0)
            for i in range(W):
                g |= gm[i, combs[u + 1, r % K]]
                r //= K
            gs[u, idx] = g if _twins_ok(g, pa, pb, na) else -1
            if gs[u, idx] >= 0 and F[g] < m:
                m = F[g]
        work += K ** W
        lb += cy[u] * m
        if lb >= ub - EPS:
            return np.inf, work
    for u in range(L):
        K = ncomb[u + 1]
        Kp = ncomb[u]
        for idx in range(K ** W):
            work += 1
            g = gs[u, idx]
            base = cy[u] * F[g] if g >= 0 else np.inf
            if g < 0 or X + base + compy[u, g] >= ub - EPS or (u == sym_level and not (g >> sym_core) & 1):
                dp[u, idx] = np.inf
                continue
            if u == 0:
                dp[u, idx] = base
                continue
            r = idx
            for i in range(W):
                digits[i] = r % K
                r //= K
            # least predecessor: drop one of the u + 1 cores of every column (odometer over (u + 1)^W choices)
            best = np.inf
            besti = -1
            for i in range(W):
                sub[i] = 0
            while True:
                pi = 0
                mul = 1
                for i in range(W):
                    pi += drop[combs[u + 1, digits[i]], sub[i]] * mul
                    mul *= Kp
                work += 1
                if dp[u - 1, pi] < best:
                    best = dp[u - 1, pi]
                    besti = pi
                i = 0
                while i < W:
                    sub[i] += 1
                    if sub[i] <= u:
                        break
                    sub[i] = 0
                    i += 1
                if i == W:
                    break
            dp[u, idx] = base + best
            arg[u, idx] = besti
    K = ncomb[L]
    best = np.inf
    besti = -1
    for idx in range(K ** W):
        if dp[L - 1, idx] < best:
            best = dp[L - 1, idx]
            besti = idx
    if best + X >= ub - EPS:
        return np.inf, work
    for c in range(rows_out.shape[0]):
        rows_out[c] = L
    idx = besti
    for u in range(L - 1, -1, -1):
        K = ncomb[u + 1]
        r = idx
        for i in range(W):
            a = combs[u + 1, r % K]
            r //= K
            for b in range(H):
                if (a >> b) & 1:
                    rows_out[cols[i, b]] = u
        idx = arg[u, idx]
    return best, work


@njit(cache=True)
def _search(N, W, H, F, cx, cy, compx, compy, ymin, half, sym_core, xlevel, ylevel, tw_a, tw_b, combs, ncomb,  # type: ignore
            drop, ub, max_work):
    """Depth-first search over column chains; returns (best column, best row per core, ub, found, work, done)."""
    L = W - 1
    best_col = np.zeros(N, dtype=np.int64)
    best_row = np.zeros(N, dtype=np.int64)
    rows_tmp = np.zeros(N, dtype=np.int64)
    found = False
    work = 0
    maxK = 1
    for k in range(H + 1):
        if ncomb[k] ** W > maxK:
            maxK = ncomb[k] ** W
    gs = np.empty((max(H - 1, 1), maxK), dtype=np.int64)
    dp = np.empty((max(H - 1, 1), maxK))
    arg = np.zeros((max(H - 1, 1), maxK), dtype=np.int64)
    cols = np.zeros((W, H), dtype=np.int64)
    if L == 0:  # one column: rows only
        for b in range(N):
            cols[0, b] = b
        y, w = _rows(cols, W, H, F, cy, compy, combs, ncomb, drop, 0.0, ub, sym_core, ylevel, tw_a, tw_b, gs, dp, arg,
                     rows_tmp)
        if y < ub - EPS:
            return best_col, rows_tmp.copy(), y, True, w, True
        return best_col, best_row, ub, False, w, True
    rem = np.zeros((L + 1, N), dtype=np.int64)  # remaining cores before level t
    nrem = np.zeros(L + 1, dtype=np.int64)
    comb = np.zeros((L, H), dtype=np.int64)  # chosen positions in rem[t]
    P = np.zeros(L + 1, dtype=np.int64)  # P[t + 1] = prefix mask after level t
    Xs = np.zeros(L + 1)
    for b in range(N):
        rem[0, b] = b
    nrem[0] = N
    t = 0
    for k in range(H):
        comb[0, k] = k
    fresh = True
    while True:
        if not fresh:  # next H-combination at level t
            k = H - 1
            while k >= 0 and comb[t, k] == nrem[t] - H + k:
                k -= 1
            if k < 0:
                if t == 0:
                    return best_col, best_row, ub, found, work, True
                t -= 1
                continue
            comb[t, k] += 1
            for q in range(k + 1, H):
                comb[t, q] = comb[t, q - 1] + 1
        fresh = False
        work += 1
        if work > max_work:
            return best_col, best_row, ub, found, work, False
        msk = P[t]
        for q in range(H):
            msk |= np.int64(1) << rem[t, comb[t, q]]
        x = Xs[t] + cx[t] * F[msk]
        bound = x + compx[t, msk]
        if bound + ymin >= ub - EPS or (half and bound >= (ub - EPS) / 2.0):
            continue
        if (t == xlevel and not (msk >> sym_core) & 1) or not _twins_ok(msk, tw_a, tw_b, tw_a.shape[0]):
            continue
        if t < L - 1:
            P[t + 1] = msk
            Xs[t + 1] = x
            n2 = 0
            q = 0
            for j in range(nrem[t]):
                if q < H and comb[t, q] == j:
                    q += 1
                else:
                    rem[t + 1, n2] = rem[t, j]
                    n2 += 1
            nrem[t + 1] = n2
            t += 1
            for q in range(H):
                comb[t, q] = q
            fresh = True
            continue
        # a full column partition: columns 0..L-1 from the chain, the last one the rest
        prev = np.int64(0)
        for i in range(L):
            cur = P[i + 1] if i < L - 1 else msk
            k = 0
            for b in range(N):
                if (cur >> b) & 1 and not (prev >> b) & 1:
                    cols[i, k] = b
                    k += 1
            prev = cur
        k = 0
        for b in range(N):
            if not (msk >> b) & 1:
                cols[L, k] = b
                k += 1
        y, w = _rows(cols, W, H, F, cy, compy, combs, ncomb, drop, x, ub, sym_core, ylevel, tw_a, tw_b, gs, dp, arg,
                     rows_tmp)
        work += w
        if x + y < ub - EPS:
            ub = x + y
            found = True
            for i in range(W):
                for q in range(H):
                    best_col[cols[i, q]] = i
            best_row[:] = rows_tmp


def _thresholds(length: int, per_chip: int, iw: float) -> np.ndarray:
    t = np.arange(max(0, length - 1))
    return np.where((t + 1) % per_chip == 0, iw, 1.0).astype(np.float64)


def _twin_pairs(problem: Problem, N: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive members (a, b), a < b, of each class of twins (bnb.twins) among the cores padded with traffic-free
    cores to N slots (empty slots are twins of each other): swapping twins keeps every cost, so the search puts
    each class in increasing (column, row) order."""
    p = problem.pairs
    rows = np.concatenate([p, np.stack([np.full(problem.n, -1.0), np.arange(problem.n), problem.host_w], 1)])
    cls = bnb.twins(Problem.of(N, rows[rows[:, 2] > 0]))
    pairs = [(int(m[k - 1]), int(m[k])) for c in np.unique(cls) for m in [np.flatnonzero(cls == c)]
             for k in range(1, len(m))]
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return arr[:, 0].copy(), arr[:, 1].copy()


def applies(problem: Problem, mesh: Mesh) -> bool:
    """The search runs on meshes of at most ``MAX_SLOTS`` slots."""
    return 0 < problem.n <= mesh.n_slots <= MAX_SLOTS


def solve(problem: Problem, mesh: Mesh, upper: float = np.inf, max_work: int = 10_000_000_000) -> Result:
    """Least-cost placement (problem.evaluate's ``cost``); ``upper``: cost of a known placement (only strictly
    better ones are searched for). Deterministic: a work budget (column subsets and row-DP steps visited)."""
    if not applies(problem, mesh):
        raise ValueError(f"cut search takes 1..{MAX_SLOTS} slots, got {problem.n} cores on {mesh.n_slots}")
    W, H, N = mesh.width, mesh.height, mesh.n_slots
    A, host = bounds.adjacency(problem, N)
    F = bounds.cut_table(N, A, host)
    iw = mesh.interchip_weight
    cx, cy = _thresholds(W, mesh.cores_x, iw), _thresholds(H, mesh.cores_y, iw)
    compx, xmin = _completions(N, F, cx, H)
    compy, ymin = _completions(N, F, cy, W)
    root = float(xmin + ymin)
    half = W == H and mesh.cores_x == mesh.cores_y
    tw_a, tw_b = _twin_pairs(problem, N)
    single = np.setdiff1d(np.arange(N), np.concatenate([tw_a, tw_b]))
    load = A.sum(axis=1)
    sym_core = int(single[np.argmax(load[single])]) if len(single) else -1
    mirrors = not problem.host_w.any() and sym_core >= 0
    xlevel = (W - 1) // 2 if mirrors and W > 1 else -1
    ylevel = (H - 1) // 2 if mirrors and H > 1 else -1
    # H-bit masks by size: combs[k, i] = the i-th mask of k bits, pos[mask] = its i; drop[mask, j] = pos of the mask
    # without its j-th set bit (a row prefix state's predecessor in one column)
    ncomb = np.zeros(H + 1, dtype=np.int64)
    pos = np.zeros(1 << H, dtype=np.int64)
    combs = np.zeros((H + 1, 1 << H), dtype=np.int64)
    for msk in range(1 << H):
        k = bin(msk).count("1")
        pos[msk] = ncomb[k]
        combs[k, ncomb[k]] = msk
        ncomb[k] += 1
    drop = np.zeros((1 << H, max(H, 1)), dtype=np.int64)
    for msk in range(1 << H):
        for j, b in enumerate(b for b in range(H) if msk >> b & 1):
            drop[msk, j] = pos[msk ^ (1 << b)]
    col, row, ub, found, work, done = _search(N, W, H, F, cx, cy, compx, compy, float(ymin), half, max(sym_core, 0),
                                              xlevel, ylevel, tw_a, tw_b, combs, ncomb, drop, float(upper),
                                              int(max_work))
    slot = None
    if found:
        gx, gy, _, _ = slot_arrays(mesh)
        at = np.empty(W * H, dtype=np.int64)
        at[gy * W + gx] = np.arange(N)
        slot = at[row[: problem.n] * W + col[: problem.n]]
    return Result(slot, float(ub), bool(done), int(work), root)
