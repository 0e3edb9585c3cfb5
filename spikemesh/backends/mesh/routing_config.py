"""The routing part of the mesh configuration: the compressed routing-table entries of every router, written out
block by block (``spikemesh.routing.tables.cover_router``, the rule the route stage counts with), and the
inter-chip links the routes use."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from spikemesh.routing.tables import cover_router, route_entries
from spikemesh.routing.trees import STEP_X, STEP_Y, as_flat
from spikemesh.target.topology import Mesh


@njit(cache=True)
def _cover_entries(rptr: np.ndarray, keys: np.ndarray, masks: np.ndarray, out_r: np.ndarray, out_base: np.ndarray,
                   out_size: np.ndarray, out_ports: np.ndarray) -> int:
    """The compressed entries the route stage counts (``cover_router`` per router, in router order), written out:
    per entry its router segment, block base key, block size (a power of two) and output bits."""
    n_out = 0
    for r in range(rptr.size - 1):
        m = cover_router(keys, masks, rptr[r], rptr[r + 1], True, out_base, out_size, out_ports, n_out)
        out_r[n_out:m] = r
        n_out = m
    return n_out


def table_entries(routes: Any, coords: np.ndarray, target: Any, n_inputs: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Routing-table entries in core-key space: (routers int32 [R, 2] global (x, y), ptr [R+1], base key [E],
    block size [E], output bits [E]); the entry count per router equals ``Tables.compressed``."""
    mesh = Mesh.of(target)
    rids, rptr, ekey, emask = route_entries(routes, mesh, coords, n_inputs)
    H = mesh.height
    n = ekey.size
    out_r, out_base, out_size, out_ports = (np.zeros(n, np.int64) for _ in range(4))
    m = _cover_entries(rptr, ekey, emask, out_r, out_base, out_size, out_ports)
    out_r, out_base, out_size, out_ports = out_r[:m], out_base[:m], out_size[:m], out_ports[:m]
    ptr = np.searchsorted(out_r, np.arange(rids.size + 1)).astype(np.int64)
    routers = np.stack([rids // H, rids % H], axis=1).astype(np.int32).reshape(-1, 2)
    return routers, ptr, out_base, out_size, out_ports.astype(np.uint8)


def interchip_links(routes: Any, target: Any) -> np.ndarray:
    """int32 [K, 5] (chip_x, chip_y, x, y, dir) of every link the routes use that crosses a chip border, sorted."""
    lk = as_flat(routes).links.astype(np.int64).reshape(-1, 5)
    gx = lk[:, 0] * target.cores_x + lk[:, 2]
    gy = lk[:, 1] * target.cores_y + lk[:, 3]
    nx, ny = gx + STEP_X[lk[:, 4]], gy + STEP_Y[lk[:, 4]]
    cross = (nx // target.cores_x != lk[:, 0]) | (ny // target.cores_y != lk[:, 1])
    ids = np.unique(lk[cross] @ np.array([1 << 48, 1 << 32, 1 << 16, 1 << 4, 1], dtype=np.int64))
    return np.stack([ids >> 48, (ids >> 32) & 0xFFFF, (ids >> 16) & 0xFFFF, (ids >> 4) & 0xFFF, ids & 0xF],
                    axis=1).astype(np.int32).reshape(-1, 5)
