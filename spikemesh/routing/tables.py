"""Routing tables per router: one entry per route that visits the router (key = the route's source id, value =
the output ports: E/W/N/S links plus local delivery), then key/mask compression — the keys with one output set are
covered by aligned power-of-two blocks (ternary key/mask entries) that contain no key of another output set at
that router (a key no route brings to the router can never match there, so blocks may cover it). The Target's
``noc.table_entries`` limits compressed entries per router.

Flat construction: one (router, key, output bit) event per route source router, per link (its direction, at the
router it leaves) and per destination (local delivery), packed in one int64, sorted and OR-reduced per entry;
the compression runs per router in Numba with the same greedy rule as ``_cover`` (its specification). A link's end
router needs no event of its own: it is the next link's start or a destination of the same route."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numba import njit

from spikemesh.errors import PlacementError
from spikemesh.routing.trees import as_flat
from spikemesh.target.topology import Mesh


def _cover(keys: list[int], forbidden: set[int]) -> int:
    """Aligned blocks covering ``keys`` and no key of ``forbidden`` (greedy: the largest block around each
    uncovered key); the forbidden keys are counted per block with a binary search."""
    bad = np.array(sorted(forbidden), dtype=np.int64)
    limit = max(max(keys, default=0), max(forbidden, default=0)) + 1  # a block this large covers every key
    covered_to = -1  # keys are visited in order, so a block covers everything up to its end
    blocks = 0
    for k in sorted(set(keys)):
        if k <= covered_to:
            continue
        size = 1
        while True:
            lo = (k // (2 * size)) * (2 * size)
            if size >= limit or np.searchsorted(bad, lo + 2 * size) - np.searchsorted(bad, lo):
                break
            size *= 2
        covered_to = (k // size) * size + size - 1
        blocks += 1
    return blocks


@dataclass(frozen=True, eq=False)
class Tables:
    """``routers`` int32 [R, 2] global (x, y) of routers with entries; ``entries`` and ``compressed`` per router."""

    section_type: ClassVar[str] = "tables"  # its registered name in program.json (spikemesh.program)

    routers: np.ndarray
    entries: np.ndarray
    compressed: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)

    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"report": self.report}, {"routers": self.routers, "entries": self.entries,
                                         "compressed": self.compressed}

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Tables:
        return cls(arrays["routers"], arrays["entries"], arrays["compressed"], dict(meta.get("report", {})))


@njit(cache=True)
def _events(ptr: np.ndarray, links: np.ndarray, dest_ptr: np.ndarray, s_rid: np.ndarray, d_rid: np.ndarray,
            key: np.ndarray, K: int, cores_x: int, cores_y: int, H: int, out: np.ndarray) -> None:
    """One event ``((router × K + key) << 5) | bit`` per source router (bit 0), link start (1 << dir) and
    destination router (16 = local delivery)."""
    n = 0
    for r in range(ptr.size - 1):
        k = key[r]
        out[n] = (s_rid[r] * K + k) << 5
        n += 1
        for i in range(ptr[r], ptr[r + 1]):
            rid = np.int64(links[i, 0] * cores_x + links[i, 2]) * H + links[i, 1] * cores_y + links[i, 3]
            out[n] = ((rid * K + k) << 5) | (1 << links[i, 4])
            n += 1
        for j in range(dest_ptr[r], dest_ptr[r + 1]):
            out[n] = ((d_rid[j] * K + k) << 5) | 16
            n += 1


@njit(cache=True)
def _entries(ev: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """From sorted events: router ids, router segment pointers, and per entry its key and OR of output bits."""
    n_ent, n_rt = 0, 0
    prev_c, prev_r = -1, -1
    for e in ev:
        c = e >> 5
        if c != prev_c:
            n_ent += 1
            prev_c = c
            if c // K != prev_r:
                n_rt += 1
                prev_r = c // K
    rids = np.empty(n_rt, dtype=np.int64)
    rptr = np.empty(n_rt + 1, dtype=np.int64)
    keys = np.empty(n_ent, dtype=np.int64)
    masks = np.zeros(n_ent, dtype=np.int64)
    i, j = -1, -1
    prev_c, prev_r = -1, -1
    for e in ev:
        c = e >> 5
        if c != prev_c:
            i += 1
            prev_c = c
            keys[i] = c % K
            if c // K != prev_r:
                j += 1
                prev_r = c // K
                rids[j] = prev_r
                rptr[j] = i
        masks[i] |= e & 31
    rptr[n_rt] = n_ent
    return rids, rptr, keys, masks


@njit(cache=True)
def cover_router(keys: np.ndarray, masks: np.ndarray, lo: int, hi: int, write: bool, out_base: np.ndarray,
                 out_size: np.ndarray, out_ports: np.ndarray, n_out: int) -> int:
    """The compressed entries of one router (its keys ``keys[lo:hi]``, sorted, with output bits ``masks``): for
    each output set at the router, ``_cover`` of its keys against the router's other keys. A block around key k is
    free of other keys exactly when it lies strictly between the nearest keys of another output set below and
    above k. Returns ``n_out`` plus the number of entries; with ``write``, entry ``n_out + j`` is written out as
    its block base key, block size (a power of two) and output bits."""
    big = 1 << 62
    n = hi - lo
    limit = keys[hi - 1] + 1
    below = np.empty(n, dtype=np.int64)  # nearest key of another output set below each key
    above = np.empty(n, dtype=np.int64)
    for i in range(n):
        if i == 0:
            below[i] = -big
        elif masks[lo + i - 1] != masks[lo + i]:
            below[i] = keys[lo + i - 1]
        else:
            below[i] = below[i - 1]
    for i in range(n - 1, -1, -1):
        if i == n - 1:
            above[i] = big
        elif masks[lo + i + 1] != masks[lo + i]:
            above[i] = keys[lo + i + 1]
        else:
            above[i] = above[i + 1]
    covered_to = np.full(32, -big, dtype=np.int64)  # per output set (5 bits), keys visited in order
    for i in range(n):
        k, m = keys[lo + i], masks[lo + i]
        if k <= covered_to[m]:
            continue
        size = 1
        while size < limit:
            blo = (k // (2 * size)) * (2 * size)
            if below[i] >= blo or above[i] < blo + 2 * size:
                break
            size *= 2
        covered_to[m] = (k // size) * size + size - 1
        if write:
            out_base[n_out] = (k // size) * size
            out_size[n_out] = size
            out_ports[n_out] = m
        n_out += 1
    return n_out


@njit(cache=True)
def _compress(rptr: np.ndarray, keys: np.ndarray, masks: np.ndarray, out: np.ndarray) -> None:
    """Compressed entry count per router (``cover_router``; keys sorted inside each router segment)."""
    none = np.empty(0, dtype=np.int64)
    for r in range(rptr.size - 1):
        out[r] = cover_router(keys, masks, rptr[r], rptr[r + 1], False, none, none, none, 0)


def route_entries(routes: Any, mesh: Mesh, coords: np.ndarray, n_inputs: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Uncompressed entries of every router: (router ids ``gx × height + gy``, router segment pointers, key and OR
    of output bits per entry, keys sorted inside each router); key = source + ``n_inputs``."""
    flat = as_flat(routes)
    gx, gy = mesh.global_xy(coords)
    H = mesh.height
    skey = flat.sources + n_inputs
    kmin = int(min(0, skey.min(initial=0)))
    K = int(skey.max(initial=0)) - kmin + 1
    src = np.maximum(flat.sources, 0)
    s_rid = np.where(flat.sources < 0, 0, gx[src] * H + gy[src])
    d_rid = gx[flat.dests] * H + gy[flat.dests]
    ev = np.empty(len(flat) + flat.n_links + flat.dests.size, dtype=np.int64)
    _events(flat.ptr, flat.links, flat.dest_ptr, s_rid, d_rid, skey - kmin, K, mesh.cores_x, mesh.cores_y, H, ev)
    ev.sort()  # (router, key) major, output bit minor
    rids, rptr, ekey, emask = _entries(ev, K)
    del ev
    ekey += kmin
    return rids, rptr, ekey, emask


def build_tables(routes: Any, mesh: Mesh, coords: np.ndarray, n_inputs: int, limit: int | None) -> Tables:
    """Per-router tables of ``routes`` (FlatRoutes, Routes or Route sequence); key = source + ``n_inputs``."""
    H = mesh.height
    rids, rptr, ekey, emask = route_entries(routes, mesh, coords, n_inputs)
    entries = np.diff(rptr).astype(np.int32)
    compressed = np.zeros(rids.size, dtype=np.int64)
    _compress(rptr, ekey, emask, compressed)
    compressed = compressed.astype(np.int32)
    routers = np.stack([rids // H, rids % H], axis=1).astype(np.int32)
    if limit is not None and len(compressed) and int(compressed.max()) > limit:
        i = int(compressed.argmax())
        x, y = int(routers[i, 0]), int(routers[i, 1])
        cx, cy, lx, ly = mesh.split(x, y)
        raise PlacementError("routing table too large", node=f"chip({cx},{cy}) router({lx},{ly})",
                             needed=f"{int(compressed[i])} entries after key/mask compression",
                             available=f"{limit} entries per router",
                             hint="place communicating cores closer (--placer auto) or use a target with larger tables")
    rep = {"routers": int(rids.size), "max_table_entries": int(entries.max(initial=0)),
           "max_table_entries_compressed": int(compressed.max(initial=0)), "table_limit": limit}
    return Tables(routers.reshape(-1, 2), entries, compressed, rep)
