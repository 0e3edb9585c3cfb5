"""Multicast trees as flat arrays, built by Numba kernels (one pass to count links, one to fill them).

A tree is the trie of its destinations' minimal paths from the source router (graph inputs: global router
(0, 0)): paths share links while they agree and branch at routers. Path algorithms (codes index ``ALGO_NAMES``;
directions 0=E 1=W 2=N 3=S, N = +y) are the same as the per-pair Python functions in ``routing``:
``xy``/``yx`` dimension order, the turn models ``west_first``, ``north_last``, ``negative_first`` (Glass and Ni,
ISCA 1992) and ``odd_even`` (Chiu, IEEE TPDS 2000; depth-first, X preferred, backtracking).

``FlatRoutes`` holds every route of a Program: per route ``sources``, destinations (``dest_ptr``/``dests``),
``copies``, algorithm code; per link (``ptr`` [R+1] offsets) ``links`` [L, 5] = (chip_x, chip_y, x, y, dir),
``parent`` [L] (index inside its route, -1 = leaves the source router) and ``vc`` [L] (virtual channel).
A link's global id is ``(gy * width + gx) * 4 + dir`` of its source router.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from spikemesh.errors import PlacementError
from spikemesh.target.topology import Mesh

ALGO_NAMES = ("xy", "yx", "west_first", "north_last", "negative_first", "odd_even")
STEP_X = np.array([1, -1, 0, 0], dtype=np.int64)
STEP_Y = np.array([0, 0, 1, -1], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Route:
    """A multicast tree. ``links`` int32 [L, 5] = (chip_x, chip_y, x, y, dir) in traversal
    order; ``parent`` int32 [L] (-1: leaves the source router); ``vc`` int8 [L]."""

    source: int
    destinations: tuple[int, ...]
    links: np.ndarray
    parent: np.ndarray
    vc: np.ndarray
    algorithm: str = "xy"
    copies: float = 0.0


@dataclass(frozen=True)
class Flows:
    """One multicast flow per source: ``sources`` int64 [R] ascending, destinations ``dests`` [D] (sorted, unique
    per flow) in ``dest_ptr`` [R+1] segments, ``copies`` float64 [R] (largest copies to any destination: a spike is
    multicast once to all)."""

    sources: np.ndarray
    dest_ptr: np.ndarray
    dests: np.ndarray
    copies: np.ndarray

    def __len__(self) -> int:
        return int(self.sources.size)

    @staticmethod
    def of(traffic: np.ndarray) -> Flows:
        t = np.asarray(traffic, dtype=np.float64).reshape(-1, 3)
        s, d, c = t[:, 0].astype(np.int64), t[:, 1].astype(np.int64), t[:, 2]
        keep = s != d
        s, d, c = s[keep], d[keep], c[keep]
        order = np.lexsort((d, s))
        s, d, c = s[order], d[order], c[order]
        if s.size == 0:
            z = np.zeros(0, dtype=np.int64)
            return Flows(z, np.zeros(1, dtype=np.int64), z.copy(), np.zeros(0))
        src, first = np.unique(s, return_index=True)
        copies = np.maximum.reduceat(c, first)
        new = np.ones(s.size, dtype=bool)
        new[1:] = (s[1:] != s[:-1]) | (d[1:] != d[:-1])
        ss, ds = s[new], d[new]
        ptr = np.append(np.searchsorted(ss, src), ss.size).astype(np.int64)
        return Flows(src.astype(np.int64), ptr, ds.astype(np.int64), copies.astype(np.float64))


@dataclass(frozen=True, eq=False)
class FlatRoutes:
    """Every route as flat arrays (module docstring). ``algo`` int8 [R] indexes ``names``."""

    sources: np.ndarray
    dest_ptr: np.ndarray
    dests: np.ndarray
    copies: np.ndarray
    algo: np.ndarray
    ptr: np.ndarray
    links: np.ndarray
    parent: np.ndarray
    vc: np.ndarray
    names: tuple[str, ...] = ALGO_NAMES

    def __len__(self) -> int:
        return int(self.sources.size)

    @property
    def n_links(self) -> int:
        return int(self.ptr[-1])

    def route_of_link(self) -> np.ndarray:
        """int64 [L]: the route each link belongs to."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.ptr))

    def global_parent(self) -> np.ndarray:
        """int64 [L]: the parent's index in ``links`` (-1 at the source router)."""
        p = self.parent.astype(np.int64)
        return np.where(p >= 0, p + self.ptr[:-1][self.route_of_link()], -1)

    def route(self, i: int) -> Route:
        a, b = int(self.ptr[i]), int(self.ptr[i + 1])
        d = self.dests[self.dest_ptr[i]:self.dest_ptr[i + 1]]
        return Route(int(self.sources[i]), tuple(int(v) for v in d), self.links[a:b], self.parent[a:b],
                     self.vc[a:b], self.names[int(self.algo[i])], float(self.copies[i]))

    def to_routes(self) -> tuple[Route, ...]:
        return tuple(self.route(i) for i in range(len(self)))

    @staticmethod
    def of(routes: Sequence[Route]) -> FlatRoutes:
        names = list(ALGO_NAMES)
        for r in routes:
            if r.algorithm not in names:
                names.append(r.algorithm)
        n = [len(r.parent) for r in routes]
        nd = [len(r.destinations) for r in routes]

        def cat(parts: list[np.ndarray], dtype: type, shape: tuple[int, ...]) -> np.ndarray:
            if parts:
                return np.concatenate(parts).astype(dtype).reshape(shape)
            return np.zeros(tuple(max(0, k) for k in shape), dtype=dtype)

        return FlatRoutes(
            np.array([r.source for r in routes], dtype=np.int64),
            np.concatenate([[0], np.cumsum(nd, dtype=np.int64)]).astype(np.int64),
            cat([np.asarray(r.destinations, dtype=np.int64) for r in routes], np.int64, (-1,)),
            np.array([r.copies for r in routes], dtype=np.float64),
            np.array([names.index(r.algorithm) for r in routes], dtype=np.int8),
            np.concatenate([[0], np.cumsum(n, dtype=np.int64)]).astype(np.int64),
            cat([np.asarray(r.links).reshape(-1, 5) for r in routes], np.int32, (-1, 5)),
            cat([np.asarray(r.parent) for r in routes], np.int32, (-1,)),
            cat([np.asarray(r.vc) for r in routes], np.int8, (-1,)), tuple(names))

    def take(self, idx: np.ndarray) -> FlatRoutes:
        """The routes ``idx`` (in that order)."""
        idx = np.asarray(idx, dtype=np.int64)
        lp = np.concatenate([np.arange(self.ptr[i], self.ptr[i + 1]) for i in idx]) if idx.size else np.zeros(
            0, dtype=np.int64)
        dp = np.concatenate([np.arange(self.dest_ptr[i], self.dest_ptr[i + 1]) for i in idx]) if idx.size else (
            np.zeros(0, dtype=np.int64))
        cnt, dcnt = np.diff(self.ptr)[idx], np.diff(self.dest_ptr)[idx]
        return FlatRoutes(self.sources[idx], np.concatenate([[0], np.cumsum(dcnt)]).astype(np.int64),
                          self.dests[dp], self.copies[idx], self.algo[idx],
                          np.concatenate([[0], np.cumsum(cnt)]).astype(np.int64), self.links[lp], self.parent[lp],
                          self.vc[lp], self.names)


def as_flat(routes: object) -> FlatRoutes:
    """A FlatRoutes from a FlatRoutes, a Routes section (``.flat``) or a sequence of Route."""
    if isinstance(routes, FlatRoutes):
        return routes
    flat = getattr(routes, "flat", None)
    if isinstance(flat, FlatRoutes):
        return flat
    return FlatRoutes.of(list(routes))  # type: ignore[call-overload]


@njit(cache=True)
def _link_ids(links: np.ndarray, cores_x: int, cores_y: int, width: int, out: np.ndarray) -> None:
    for i in range(links.shape[0]):
        gx = links[i, 0] * cores_x + links[i, 2]
        gy = links[i, 1] * cores_y + links[i, 3]
        out[i] = (np.int64(gy) * width + gx) * 4 + links[i, 4]


@njit(cache=True)
def _end_routers(links: np.ndarray, cores_x: int, cores_y: int, width: int, height: int, out: np.ndarray) -> None:
    for i in range(links.shape[0]):
        d = links[i, 4]
        gx = links[i, 0] * cores_x + links[i, 2] + STEP_X[d]
        gy = links[i, 1] * cores_y + links[i, 3] + STEP_Y[d]
        inside = gx >= 0 and gy >= 0 and gx < width and gy < height
        out[i] = np.int64(gy) * width + gx if inside else np.int64(width) * height


@njit(cache=True)
def _loads(ptr: np.ndarray, links: np.ndarray, copies: np.ndarray, cores_x: int, cores_y: int, width: int,
           load: np.ndarray, uses: np.ndarray) -> None:
    for r in range(ptr.size - 1):
        for i in range(ptr[r], ptr[r + 1]):
            gx = links[i, 0] * cores_x + links[i, 2]
            gy = links[i, 1] * cores_y + links[i, 3]
            lid = (np.int64(gy) * width + gx) * 4 + links[i, 4]
            load[lid] += copies[r]
            uses[lid] += 1


def link_ids(flat: FlatRoutes, mesh: Mesh) -> np.ndarray:
    """int64 [L] global link id ``(gy * width + gx) * 4 + dir`` of every link."""
    out = np.empty(flat.n_links, dtype=np.int64)
    _link_ids(flat.links, mesh.cores_x, mesh.cores_y, mesh.width, out)
    return out


def end_routers(flat: FlatRoutes, mesh: Mesh) -> np.ndarray:
    """int64 [L] global router ``gy * width + gx`` each link ends at (``width * height`` if it leaves the mesh)."""
    out = np.empty(flat.n_links, dtype=np.int64)
    _end_routers(flat.links, mesh.cores_x, mesh.cores_y, mesh.width, mesh.height, out)
    return out


def link_load_array(flat: FlatRoutes, mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """(load, uses) per global link id, float64/int64 [width * height * 4]: Σ copies of the routes on each link and
    the number of routes using it."""
    n = mesh.width * mesh.height * 4
    load, uses = np.zeros(n), np.zeros(n, dtype=np.int64)
    _loads(flat.ptr, flat.links, flat.copies.astype(np.float64), mesh.cores_x, mesh.cores_y, mesh.width, load, uses)
    return load, uses


def crossing_links(mesh: Mesh) -> np.ndarray:
    """bool [width * height * 4]: whether each link id crosses a chip border (links leaving the mesh: False)."""
    ids = np.arange(mesh.width * mesh.height * 4, dtype=np.int64)
    r, d = np.divmod(ids, 4)
    gy, gx = np.divmod(r, mesh.width)
    nx, ny = gx + STEP_X[d], gy + STEP_Y[d]
    return (nx // mesh.cores_x != gx // mesh.cores_x) | (ny // mesh.cores_y != gy // mesh.cores_y)


@njit(cache=True, inline="always")
def _moves(buf: np.ndarray, n: int, d: int, count: int) -> int:
    for _ in range(count):
        buf[n] = d
        n += 1
    return n


@njit(cache=True)
def _path(alg: int, sx: int, sy: int, tx: int, ty: int, buf: np.ndarray, px: np.ndarray, py: np.ndarray,
          pprev: np.ndarray, opt: np.ndarray) -> int:
    """Write the path's directions into ``buf``; returns its length (-1: no odd-even path)."""
    dx, dy = tx - sx, ty - sy
    hx = 0 if dx > 0 else 1
    hy = 2 if dy > 0 else 3
    ax, ay = abs(dx), abs(dy)
    n = 0
    if alg == 0 or (alg == 2 and dx < 0) or (alg == 3 and dy >= 0):  # X then Y
        n = _moves(buf, n, hx, ax)
        return _moves(buf, n, hy, ay)
    if alg == 1 or alg == 2 or alg == 3:  # Y then X
        n = _moves(buf, n, hy, ay)
        return _moves(buf, n, hx, ax)
    if alg == 4:  # negative first: W, S, then E, N
        n = _moves(buf, n, 1, max(0, -dx))
        n = _moves(buf, n, 3, max(0, -dy))
        n = _moves(buf, n, 0, max(0, dx))
        return _moves(buf, n, 2, max(0, dy))
    # odd-even: depth-first over minimal moves (X first), Chiu's turn rules at each router
    depth, x, y, prev = 0, sx, sy, -1
    opt[0] = 0
    while True:
        if x == tx and y == ty:
            return depth
        o0, o1, k = -1, -1, 0
        if tx != x:
            o0 = 0 if tx > x else 1
            k = 1
        if ty != y:
            if k == 0:
                o0 = 2 if ty > y else 3
            else:
                o1 = 2 if ty > y else 3
            k += 1
        moved = False
        while opt[depth] < k:
            d = o0 if opt[depth] == 0 else o1
            opt[depth] += 1
            ok = True
            if prev >= 0 and prev != d:
                if x % 2 == 0 and prev == 0 and (d == 2 or d == 3):
                    ok = False
                if x % 2 == 1 and (prev == 2 or prev == 3) and d == 1:
                    ok = False
            if ok:
                buf[depth], px[depth], py[depth], pprev[depth] = d, x, y, prev
                x += STEP_X[d]
                y += STEP_Y[d]
                prev = d
                depth += 1
                opt[depth] = 0
                moved = True
                break
        if not moved:
            if depth == 0:
                return -1
            depth -= 1
            x, y, prev = px[depth], py[depth], pprev[depth]


@njit(cache=True)
def _trees(alg: int, sx: np.ndarray, sy: np.ndarray, dest_ptr: np.ndarray, dx: np.ndarray, dy: np.ndarray,
           cores_x: int, cores_y: int, max_len: int, child: np.ndarray, fill: bool, ptr: np.ndarray,
           links: np.ndarray, parent: np.ndarray) -> int:
    """Count (``fill`` False: ``ptr[r + 1] - ptr[r]`` = links of route r) or write the tries. ``child``: scratch
    [4 × (max links + 1)] of -1; ``max_len``: the longest path. Returns -1, or the flow whose odd-even path
    failed."""
    L = max_len + 1
    buf = np.empty(L + 1, dtype=np.int64)
    px = np.empty(L + 1, dtype=np.int64)
    py = np.empty(L + 1, dtype=np.int64)
    pprev = np.empty(L + 1, dtype=np.int64)
    opt = np.empty(L + 2, dtype=np.int64)
    for r in range(sx.size):
        n = 0
        x0, y0 = sx[r], sy[r]
        for k in range(dest_ptr[r], dest_ptr[r + 1]):
            length = _path(alg, x0, y0, dx[k], dy[k], buf, px, py, pprev, opt)
            if length < 0:
                return r
            node, x, y = 0, x0, y0
            for s in range(length):
                d = buf[s]
                c = child[node * 4 + d]
                if c < 0:
                    n += 1
                    c = n
                    child[node * 4 + d] = c
                    if fill:
                        i = ptr[r] + n - 1
                        links[i, 0] = x // cores_x
                        links[i, 1] = y // cores_y
                        links[i, 2] = x % cores_x
                        links[i, 3] = y % cores_y
                        links[i, 4] = d
                        parent[i] = node - 1
                node = c
                x += STEP_X[d]
                y += STEP_Y[d]
        for q in range(4 * (n + 1)):
            child[q] = -1
        if not fill:
            ptr[r + 1] = ptr[r] + n
    return -1


def build_trees(flows: Flows, coords: np.ndarray, mesh: Mesh, algorithm: str) -> FlatRoutes:
    """The multicast tree of every flow under one path algorithm (a name in ``ALGO_NAMES``)."""
    if algorithm not in ALGO_NAMES:
        raise PlacementError(f"unknown routing algorithm {algorithm!r}", node="routing",
                             needed=" | ".join(ALGO_NAMES), available=algorithm)
    alg = ALGO_NAMES.index(algorithm)
    gx, gy = mesh.global_xy(coords)
    src = flows.sources
    sx = np.where(src < 0, 0, gx[np.maximum(src, 0)]) if src.size else np.zeros(0, dtype=np.int64)
    sy = np.where(src < 0, 0, gy[np.maximum(src, 0)]) if src.size else np.zeros(0, dtype=np.int64)
    dx, dy = gx[flows.dests], gy[flows.dests]
    flow_of = np.repeat(np.arange(len(flows)), np.diff(flows.dest_ptr))
    dist = np.abs(dx - sx[flow_of]) + np.abs(dy - sy[flow_of])
    ub = np.bincount(flow_of, weights=dist, minlength=len(flows))
    child = np.full(4 * (int(ub.max(initial=0)) + 1), -1, dtype=np.int64)
    ptr = np.zeros(len(flows) + 1, dtype=np.int64)
    links = np.zeros((0, 5), dtype=np.int32)
    parent = np.zeros(0, dtype=np.int32)
    args = (alg, sx.astype(np.int64), sy.astype(np.int64), flows.dest_ptr, dx.astype(np.int64), dy.astype(np.int64),
            mesh.cores_x, mesh.cores_y, int(dist.max(initial=0)), child)
    bad = _trees(*args, False, ptr, links, parent)
    if bad < 0 and ptr[-1]:
        links = np.empty((int(ptr[-1]), 5), dtype=np.int32)
        parent = np.empty(int(ptr[-1]), dtype=np.int32)
        bad = _trees(*args, True, ptr, links, parent)
    if bad >= 0:  # cannot happen for minimal odd-even routing (Chiu 2000); kept as a guard
        raise PlacementError("no odd-even path", node=f"flow from source {int(src[bad])}")
    return FlatRoutes(src.copy(), flows.dest_ptr.copy(), flows.dests.copy(), flows.copies.copy(),
                      np.full(len(flows), alg, dtype=np.int8), ptr, links, parent,
                      np.zeros(int(ptr[-1]), dtype=np.int8))
