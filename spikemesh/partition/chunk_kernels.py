"""Numba kernels of the partial-sum chunking (the inner loop of the split search; see plan.py).

``cs`` is the cumulative cost table [n + 1, N_COST] of a piece's input units (row i = costs of units < i);
``active`` marks the capped resources. A chunk ``[start, end)`` fits caps ``c`` when ``cs[end, r] − cs[start, r]
≤ c[r]`` for every active r; chunks are greedy (each as long as it can be), and may be empty.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _end(cs: np.ndarray, active: np.ndarray, start: int, caps_row: np.ndarray) -> int:
    """The furthest end of a greedy chunk from ``start`` within ``caps_row`` (binary search per resource)."""
    n = cs.shape[0] - 1
    end = n
    for r in range(cs.shape[1]):
        if not active[r]:
            continue
        limit = cs[start, r] + caps_row[r]
        lo, hi = start, end  # largest e in [start, end] with cs[e, r] <= limit
        if cs[hi, r] <= limit:
            continue
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if cs[mid, r] <= limit:
                lo = mid
            else:
                hi = mid
        end = lo
    return end


@njit(cache=True)
def first_tree_k(cs: np.ndarray, cap: np.ndarray, edge: np.ndarray, active: np.ndarray, fan: int, k_lo: int,
                 k_hi: int) -> int:
    """Smallest k in [k_lo, k_hi] whose heap-shaped tree of fan ``fan`` covers every unit greedily (node j has
    min(fan, max(0, k − 1 − j·fan)) children, each taking ``edge`` of its caps); −1 when none does."""
    n = cs.shape[0] - 1
    row = np.empty(cs.shape[1], dtype=np.int64)
    for k in range(k_lo, k_hi + 1):
        start = 0
        for j in range(k):
            if start >= n:
                break
            ch = k - 1 - j * fan
            if ch > fan:
                ch = fan
            if ch < 0:
                ch = 0
            for r in range(cs.shape[1]):
                row[r] = cap[r] - ch * edge[r]
            start = _end(cs, active, start, row)
        if start >= n:
            return k
    return -1
