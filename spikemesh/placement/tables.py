"""Routing tables per router: one entry per route that visits the router (key = the route's source id, value =
the output ports: E/W/N/S links plus local delivery), then key/mask compression — the keys with one output set are
covered by aligned power-of-two blocks (ternary key/mask entries) that contain no key of another output set at
that router (a key no route brings to the router can never match there, so blocks may cover it). The Target's
``noc.table_entries`` limits compressed entries per router."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikemesh.errors import PlacementError
from spikemesh.placement.routing import Route
from spikemesh.placement.topology import DIRS, STEP, Mesh


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


def build_tables(routes: tuple[Route, ...] | list[Route], mesh: Mesh, coords: np.ndarray, n_inputs: int,
                 limit: int | None) -> Tables:
    gx, gy = mesh.global_xy(coords)
    per: dict[tuple[int, int], dict[int, set[str]]] = {}
    for r in routes:
        key = int(r.source) + n_inputs
        sx, sy = (0, 0) if r.source < 0 else (int(gx[r.source]), int(gy[r.source]))
        per.setdefault((sx, sy), {}).setdefault(key, set())
        for cx, cy, x, y, d in r.links:
            rx, ry = int(cx) * mesh.cores_x + int(x), int(cy) * mesh.cores_y + int(y)
            per.setdefault((rx, ry), {}).setdefault(key, set()).add(DIRS[int(d)])
            per.setdefault((rx + STEP[int(d)][0], ry + STEP[int(d)][1]), {}).setdefault(key, set())
        for dst in r.destinations:
            per.setdefault((int(gx[dst]), int(gy[dst])), {}).setdefault(key, set()).add("L")
    routers = sorted(per)
    entries = np.array([len(per[k]) for k in routers], dtype=np.int32)
    comp = []
    for k in routers:
        groups: dict[frozenset[str], list[int]] = {}
        for key, outs in per[k].items():
            groups.setdefault(frozenset(outs), []).append(key)
        n = 0
        for outs, keys in groups.items():
            others = {key for o, ks in groups.items() if o != outs for key in ks}
            n += _cover(keys, others)
        comp.append(n)
    compressed = np.array(comp, dtype=np.int32)
    if limit is not None and len(compressed) and int(compressed.max()) > limit:
        i = int(compressed.argmax())
        x, y = routers[i]
        cx, cy, lx, ly = mesh.split(x, y)
        raise PlacementError("routing table too large", node=f"chip({cx},{cy}) router({lx},{ly})",
                             needed=f"{int(compressed[i])} entries after key/mask compression",
                             available=f"{limit} entries per router",
                             hint="place communicating cores closer (--placer auto) or use a target with larger tables")
    rep = {"routers": len(routers), "max_table_entries": int(entries.max(initial=0)),
           "max_table_entries_compressed": int(compressed.max(initial=0)), "table_limit": limit}
    return Tables(np.array(routers, dtype=np.int32).reshape(-1, 2), entries, compressed, rep)
