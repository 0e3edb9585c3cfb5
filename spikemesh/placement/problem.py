"""The placement problem as flat arrays: logical cores, symmetric weighted adjacency (CSR), host-input weights,
and the weighted XY distance between slots (topology.Mesh conventions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from spikemesh.target.topology import Mesh


@dataclass(frozen=True)
class Problem:
    """``n`` logical cores; ``indptr``/``nbr``/``w``: symmetric adjacency (copies per step between two cores, both
    directions summed); ``host_w[c]``: copies per step from the host (graph inputs) to core c, which enter at
    global router (0, 0); ``pairs`` [P, 3] = (i, j, copies) with i < j for reporting."""

    n: int
    indptr: np.ndarray
    nbr: np.ndarray
    w: np.ndarray
    host_w: np.ndarray
    pairs: np.ndarray

    @staticmethod
    def of(n: int, traffic: np.ndarray) -> Problem:
        t = np.asarray(traffic, dtype=np.float64).reshape(-1, 3)
        s, d, c = t[:, 0].astype(np.int64), t[:, 1].astype(np.int64), t[:, 2]
        host = s < 0
        host_w = np.bincount(d[host], weights=c[host], minlength=n).astype(np.float64)
        keep = (~host) & (s != d)
        a, b = np.minimum(s[keep], d[keep]), np.maximum(s[keep], d[keep])
        m = sp.coo_matrix((c[keep], (a, b)), shape=(n, n)).tocsr()
        m.sum_duplicates()
        up = m.tocoo()
        pairs = np.stack([up.row, up.col, up.data], axis=1) if up.nnz else np.zeros((0, 3))
        sym = (m + m.T).tocsr()
        sym.sort_indices()
        return Problem(n, sym.indptr.astype(np.int64), sym.indices.astype(np.int64), sym.data.astype(np.float64),
                       host_w, pairs)


@njit(cache=True)
def wdist(a: int, b: int, gx: np.ndarray, gy: np.ndarray, cx: np.ndarray, cy: np.ndarray, iw: float) -> float:
    """Weighted XY distance between slots a and b: hops + (iw - 1) × chip borders crossed."""
    return (abs(gx[a] - gx[b]) + abs(gy[a] - gy[b])
            + (iw - 1.0) * (abs(cx[a] - cx[b]) + abs(cy[a] - cy[b])))


def slot_arrays(mesh: Mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    sc = mesh.slot_coords().astype(np.int64)
    gx, gy = mesh.global_xy(sc)
    return gx, gy, sc[:, 0].copy(), sc[:, 1].copy()


def evaluate(problem: Problem, slot: np.ndarray, mesh: Mesh) -> dict[str, float]:
    """Hop-weighted traffic (copies × XY hops, host inputs from router (0, 0)), its share from host inputs
    (``host_hop_weighted_traffic``; the rest is core-to-core unicast hops),
    inter-chip traffic (copies × chip borders crossed) and the weighted cost the placers minimise."""
    gx, gy, cx, cy = slot_arrays(mesh)
    p = problem.pairs
    i, j, c = p[:, 0].astype(np.int64), p[:, 1].astype(np.int64), p[:, 2]
    si, sj = slot[i], slot[j]
    hops = np.abs(gx[si] - gx[sj]) + np.abs(gy[si] - gy[sj])
    chips = np.abs(cx[si] - cx[sj]) + np.abs(cy[si] - cy[sj])
    hs = slot[np.arange(problem.n)]
    h_hops = gx[hs] + gy[hs]
    h_chips = cx[hs] + cy[hs]
    host_t = float((problem.host_w * h_hops).sum())
    hop_t = float((c * hops).sum()) + host_t
    chip_t = float((c * chips).sum() + (problem.host_w * h_chips).sum())
    return {"hop_weighted_traffic": hop_t, "host_hop_weighted_traffic": host_t, "interchip_traffic": chip_t,
            "cost": hop_t + (mesh.interchip_weight - 1.0) * chip_t}
