"""Numba kernels of the receptive-field bound (bound.py): fewest input positions of a set of conv outputs.

Per axis, output o reads the input interval [lo[o], hi[o]) (clipped; both ends non-decreasing in o). For outputs
o_1 < … < o_q the union of their intervals is exactly |[lo, hi)(o_1)| + Σ_j max(0, hi(o_j) − max(lo(o_j),
hi(o_{j−1}))): an earlier interval ends no later than the previous one, which starts no later than o_j's, so the
part of o_j's interval already covered is covered by o_{j−1}'s.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.iinfo(np.int64).max // 4


@njit(cache=True)
def union_1d(lo: np.ndarray, hi: np.ndarray, qmax: int, must: int) -> np.ndarray:
    """``out[q]`` = fewest input indices read by any q outputs (q = 0..qmax) that include output ``must``
    (any set when ``must`` < 0): a DP over the largest chosen output with the exact increment (module docstring);
    INF where no such set exists."""
    n = lo.shape[0]
    # best[j, o, f]: fewest for j outputs, largest o, f = must chosen (always 1 when must < 0)
    best = np.full((qmax + 1, n, 2), INF, dtype=np.int64)
    for o in range(n):
        f = 1 if (must < 0 or o == must) else 0
        if qmax >= 1:
            best[1, o, f] = hi[o] - lo[o]
    for j in range(1, qmax):
        for o in range(n):
            for f in range(2):
                v = best[j, o, f]
                if v >= INF:
                    continue
                for o2 in range(o + 1, n):
                    if must >= 0 and f == 0 and o2 > must:
                        break  # ``must`` can no longer be chosen
                    f2 = 1 if (f == 1 or o2 == must) else 0
                    inc = hi[o2] - max(lo[o2], hi[o])
                    w = v + (inc if inc > 0 else 0)
                    if w < best[j + 1, o2, f2]:
                        best[j + 1, o2, f2] = w
    out = np.full(qmax + 1, INF, dtype=np.int64)
    out[0] = 0
    for j in range(1, qmax + 1):
        for o in range(n):
            if best[j, o, 1] < out[j]:
                out[j] = best[j, o, 1]
    return out


@njit(cache=True)
def rows_dp(cnt: np.ndarray, w_glob: np.ndarray, w_spec: np.ndarray, pmax: int, contain: bool) -> np.ndarray:
    """``out[y_v, x, p]`` ≤ the input positions of any p output positions with at least one in row ``y_v``
    (``contain``; else any set, y_v = 0 only), when a row's q positions read at least ``w_glob[q]`` input columns
    (``w_spec[x, q]`` for row y_v). ``cnt[y, l]``: input rows whose last reading output row is y and which are
    read by the l (≤ 3) rows up to y; such an input row holds at least the max over those rows of their widths.
    DP over the rows keeping the last two counts."""
    n_out = cnt.shape[0]
    q_n = w_glob.shape[0]
    n_x = w_spec.shape[0]
    n_v = n_out if contain else 1
    out = np.full((n_v, n_x, pmax + 1), INF, dtype=np.int64)
    d = np.empty((q_n, q_n, pmax + 1), dtype=np.int64)
    new = np.empty((q_n, q_n, pmax + 1), dtype=np.int64)
    for yv in range(n_v):
        for xc in range(n_x):
            d[:] = INF
            d[0, 0, 0] = 0
            for y in range(n_out):
                new[:] = INF
                c1, c2, c3 = cnt[y, 1], cnt[y, 2], cnt[y, 3]
                for a in range(q_n):
                    for b in range(q_n):
                        for t in range(pmax + 1):
                            v = d[a, b, t]
                            if v >= INF:
                                continue
                            wa = w_spec[xc, a] if (contain and y - 2 == yv) else w_glob[a]
                            wb = w_spec[xc, b] if (contain and y - 1 == yv) else w_glob[b]
                            for c in range(q_n):
                                if t + c > pmax:
                                    break
                                if contain and y == yv and c == 0:
                                    continue
                                wc = w_spec[xc, c] if (contain and y == yv) else w_glob[c]
                                if wc >= INF:
                                    continue
                                m2 = wb if wb > wc else wc
                                m3 = wa if wa > m2 else m2
                                cost = c1 * wc + c2 * m2 + c3 * m3
                                if v + cost < new[b, c, t + c]:
                                    new[b, c, t + c] = v + cost
                d[:] = new
            for a in range(q_n):
                for b in range(q_n):
                    for t in range(pmax + 1):
                        if d[a, b, t] < out[yv, xc, t]:
                            out[yv, xc, t] = d[a, b, t]
    out[:, :, 0] = 0
    return out
