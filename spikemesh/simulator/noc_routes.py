"""The routes of a Program as the flat arrays the NoC kernels (noc.py) read.

Routes arrive as multicast trees (``spikemesh.routing.Route``): per source, ``links`` int32 [L, 5] = (chip_x,
chip_y, x, y, direction 0=E 1=W 2=N 3=S) in traversal order, ``parent`` [L] (-1 for links leaving the source
router). ``flatten_routes`` turns them into ``NocArrays``: physical channels (one per distinct directed link, with
its latency: ``hop_cycles``, or ``interchip_hop_cycles`` on a link crossing a chip border), tree links with their
channel, their children (CSR) and the number of destination cores ejecting at their downstream router.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spikemesh.errors import SimulationError
from spikemesh.target.model import Target
from spikemesh.target.topology import DIRS, STEP


@dataclass(frozen=True)
class NocArrays:
    """The routes on a target as flat arrays of the NoC. Channels: ``ch_key`` [C, 5] (chip_x, chip_y, x, y, dir),
    ``ch_latency`` (cycles), ``ch_interchip``. Tree links (all routes): ``e_ch``, ``e_eject`` (destination cores at
    the downstream router), children CSR ``e_cptr``/``e_cidx``. Per route r: ``r_source``, roots CSR
    ``r_ptr``/``r_idx`` (links leaving the source router), ``r_local`` (destinations on the source router),
    ``r_ndest``."""

    ch_key: np.ndarray
    ch_latency: np.ndarray
    ch_interchip: np.ndarray
    e_ch: np.ndarray
    e_eject: np.ndarray
    e_cptr: np.ndarray
    e_cidx: np.ndarray
    r_source: np.ndarray
    r_ptr: np.ndarray
    r_idx: np.ndarray
    r_local: np.ndarray
    r_ndest: np.ndarray

    def channel_name(self, c: int) -> str:
        cx, cy, x, y, d = (int(v) for v in self.ch_key[c])
        return f"chip({cx},{cy}) router({x},{y}) {DIRS[d]}"


def global_xy(coord: np.ndarray, target: Target) -> tuple[int, int]:
    """Global router (x, y) of a (chip_x, chip_y, x, y, ...) row: a core's placement or a link's start."""
    return int(coord[0]) * target.cores_x + int(coord[2]), int(coord[1]) * target.cores_y + int(coord[3])


def _downstream(link: np.ndarray, target: Target) -> tuple[int, int, bool]:
    cx, cy, x, y, d = (int(v) for v in link)
    gx, gy = cx * target.cores_x + x + STEP[d][0], cy * target.cores_y + y + STEP[d][1]
    inter = (gx // target.cores_x != cx) or (gy // target.cores_y != cy)
    return gx, gy, inter


def _i64(a: list[int]) -> np.ndarray:
    return np.array(a, dtype=np.int64)


def flatten_routes(routes: list[Any], coords: np.ndarray, target: Target) -> NocArrays:
    """Flatten route trees (objects with source/destinations/links/parent) into ``NocArrays``. Raises
    SimulationError when a tree is malformed (a parent that does not end where its child starts, a destination
    the tree does not reach, a link leaving the mesh)."""
    W, H = target.chips_x * target.cores_x, target.chips_y * target.cores_y
    ch_index: dict[tuple[int, ...], int] = {}
    ch_key: list[tuple[int, ...]] = []
    ch_lat: list[int] = []
    ch_inter: list[bool] = []
    e_ch: list[int] = []
    e_eject: list[int] = []
    children: list[list[int]] = []
    r_source, r_ptr, r_idx, r_local, r_ndest = [], [0], [], [], []
    for r in routes:
        links = np.asarray(r.links, dtype=np.int64).reshape(-1, 5)
        parent = np.asarray(r.parent, dtype=np.int64).reshape(-1)
        src = int(r.source)
        sxy = global_xy(coords[src], target) if src >= 0 else (0, 0)
        dest_xy: dict[tuple[int, int], int] = {}
        for d in r.destinations:
            xy = global_xy(coords[int(d)], target)
            dest_xy[xy] = dest_xy.get(xy, 0) + 1
        base = len(e_ch)
        ends: list[tuple[int, int]] = []
        for i, lk in enumerate(links):
            gx, gy = global_xy(lk, target)
            start = sxy if parent[i] < 0 else ends[parent[i]]
            if parent[i] >= i or (gx, gy) != start:
                raise SimulationError("route tree is malformed: a link does not start where its parent ends",
                                      node=f"route from {src}", needed=start, available=(gx, gy),
                                      hint="links must be in traversal order with parent indices")
            dx, dy, inter = _downstream(lk, target)
            if not (0 <= dx < W and 0 <= dy < H):
                raise SimulationError("route leaves the mesh", node=f"route from {src}", available=(dx, dy))
            ends.append((dx, dy))
            key = tuple(int(v) for v in lk)
            if key not in ch_index:
                ch_index[key] = len(ch_key)
                ch_key.append(key)
                ch_lat.append(max(1, target.noc.interchip_hop_cycles if inter else target.noc.hop_cycles))
                ch_inter.append(inter)
            e_ch.append(ch_index[key])
            e_eject.append(dest_xy.get((dx, dy), 0))
            children.append([])
        reached = {sxy} | set(ends)
        missing = [xy for xy in dest_xy if xy not in reached]
        if missing:
            raise SimulationError("route does not reach a destination", node=f"route from {src}",
                                  needed=missing[0], hint="route trees must cover every destination core")
        # each destination router ejects once (at the first link of the tree ending there)
        seen: set[tuple[int, int]] = {sxy}
        for i in range(len(links)):
            if e_eject[base + i] and ends[i] in seen:
                e_eject[base + i] = 0
            seen.add(ends[i])
        for i in range(len(links)):
            if parent[i] >= 0:
                children[base + int(parent[i])].append(base + i)
            else:
                r_idx.append(base + i)
        r_ptr.append(len(r_idx))
        r_source.append(src)
        r_local.append(dest_xy.get(sxy, 0))
        r_ndest.append(len(r.destinations))
    cptr = np.zeros(len(children) + 1, dtype=np.int64)
    cptr[1:] = np.cumsum([len(c) for c in children])
    cidx = np.array([c for cs in children for c in cs], dtype=np.int64)
    return NocArrays(ch_key=np.array(ch_key, dtype=np.int64).reshape(-1, 5), ch_latency=_i64(ch_lat),
                     ch_interchip=np.array(ch_inter, dtype=np.bool_), e_ch=_i64(e_ch), e_eject=_i64(e_eject),
                     e_cptr=cptr, e_cidx=cidx, r_source=_i64(r_source), r_ptr=_i64(r_ptr), r_idx=_i64(r_idx),
                     r_local=_i64(r_local), r_ndest=_i64(r_ndest))
