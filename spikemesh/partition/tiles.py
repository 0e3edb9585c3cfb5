"""``tiles``: the fixed manual scheme — every layer split by one rule: output channels first, then rows, then input
channels (partial sums + merge), then columns, until every limit holds (``manual_split``).

Also the tile-grid machinery shared with ``groups``: a split ``(sc, sh, sw)`` cuts a layer's (C, H, W) view into
blocks of ``sc`` channels × ``sh`` rows × ``sw`` columns (last blocks smaller). Tiles whose costs are equal by
construction (same block sizes and, for conv axes, the same receptive-field size and tap count) are planned once
(``grid_plan``), so a split is evaluated in time independent of the number of tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikemesh.partition.build import Draft
from spikemesh.partition.geometry import Box, ProjGeom
from spikemesh.partition.plan import PiecePlan, drafts_for, piece_lower_bound, plan_piece
from spikemesh.partition.resources import Chunks, LayerProblem, Limits

Split = tuple[int, int, int]


def blocks(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def sizes(n: int) -> list[int]:
    """Distinct block sizes ceil(n / f) for f = 1..n, descending."""
    return sorted({-(-n // f) for f in range(1, n + 1)}, reverse=True)


def _axis_keys(geoms: list[ProjGeom], axis: int, bl: list[tuple[int, int]]) -> list[tuple]:
    """Per block of one axis (0 = channels, 1 = rows, 2 = columns), a key equal for blocks with equal costs."""
    exact = any(g.kind == "csr" for g in geoms)
    if axis == 0:
        exact = exact or any(g.kind == "conv" and g.conv is not None and g.conv.groups > 1 for g in geoms)
    keys = []
    for a, b in bl:
        if exact:
            keys.append((a, b))
            continue
        k: list = [b - a]
        if axis > 0:
            for g in geoms:
                if g.fine:  # per-unit costs in unit order: the per-index pair counts
                    k.append(tuple(g.axis_counts(axis - 1, a, b)[2].tolist()))
                elif g.kind == "conv":
                    idx, taps = g.axis(axis - 1, a, b)
                    k.append((len(idx), taps))
        keys.append(tuple(k))
    return keys


@dataclass(frozen=True)
class GridPlan:
    split: Split
    cores: int
    copies: float
    tiles: int
    classes: dict[tuple, tuple[PiecePlan, int]]  # class key -> (plan of a representative, count)


def grid_plan(layer: str, geoms: list[ProjGeom], view: tuple[int, int, int], split: Split, limits: Limits,
              mean_rate: dict[str, float], allow_partial: bool = True,
              bound: int | None = None) -> GridPlan | LayerProblem | None:
    """Plan every tile class of ``split``. With ``bound``, return None as soon as the split provably needs more
    than ``bound`` cores (a per-class lower bound first, then the running count)."""
    bls = [blocks(view[i], split[i]) for i in range(3)]
    keys = [_axis_keys(geoms, i, bls[i]) for i in range(3)]
    reps: list[dict[tuple, tuple[tuple[int, int], int]]] = []
    for i in range(3):
        d: dict[tuple, tuple[tuple[int, int], int]] = {}
        for blk, key in zip(bls[i], keys[i]):
            if key in d:
                d[key] = (d[key][0], d[key][1] + 1)
            else:
                d[key] = (blk, 1)
        reps.append(d)
    classes: dict[tuple, tuple[PiecePlan, int]] = {}
    cores = 0
    copies = 0.0
    if bound is not None:
        lb = 0
        for bc, nc in reps[0].values():
            for bh, nh in reps[1].values():
                for bw, nw in reps[2].values():
                    lb += nc * nh * nw * piece_lower_bound(geoms, (bc[0], bc[1], bh[0], bh[1], bw[0], bw[1]), limits)
        if lb > bound:
            return None
    for kc, (bc, nc) in reps[0].items():
        for kh, (bh, nh) in reps[1].items():
            for kw, (bw, nw) in reps[2].items():
                box: Box = (bc[0], bc[1], bh[0], bh[1], bw[0], bw[1])
                got = plan_piece(layer, geoms, [box], limits, mean_rate, allow_partial)
                if isinstance(got, LayerProblem):
                    return got
                n = nc * nh * nw
                classes[(kc, kh, kw)] = (got, n)
                cores += got.cores * n
                copies += got.copies * n
                if bound is not None and cores > bound:
                    return None
    return GridPlan(split, cores, copies, len(bls[0]) * len(bls[1]) * len(bls[2]), classes)


def grid_drafts(layer: str, geoms: list[ProjGeom], view: tuple[int, int, int], split: Split, limits: Limits,
                mean_rate: dict[str, float], start: int, group: int,
                allow_partial: bool = True) -> list[Draft]:
    """Drafts of every tile of ``split`` (tiles in C-order of their block indices)."""
    bls = [blocks(view[i], split[i]) for i in range(3)]
    keys = [_axis_keys(geoms, i, bls[i]) for i in range(3)]
    cache: dict[tuple, PiecePlan] = {}
    out: list[Draft] = []
    for bc, kc in zip(bls[0], keys[0]):
        for bh, kh in zip(bls[1], keys[1]):
            for bw, kw in zip(bls[2], keys[2]):
                box: Box = (bc[0], bc[1], bh[0], bh[1], bw[0], bw[1])
                key = (kc, kh, kw)
                rep = cache.get(key)
                moves = None if rep is None else _fine_moves(geoms, rep.boxes[0], box)
                if rep is None or moves is None:
                    got = plan_piece(layer, geoms, [box], limits, mean_rate, allow_partial)
                    assert not isinstance(got, LayerProblem), got
                    rep, moves = got, {}
                    cache.setdefault(key, got)
                plan = PiecePlan((box,), _shift(rep, geoms, box[0] - rep.boxes[0][0], moves), rep.cores, rep.copies,
                                 rep.parent)
                out.extend(drafts_for(layer, geoms, plan, start + len(out), group))
    return out


def _fine_moves(geoms: list[ProjGeom], rep: Box, box: Box) -> dict[int, int] | None:
    """Per fine projection (source neurons as units), the flat offset between the sources of a same-class tile
    ``box`` and those of its representative ``rep``: their receptive rows and columns must be translates (same
    channels); None when they are not (e.g. clipped at opposite borders), so the tile is planned itself."""
    out: dict[int, int] = {}
    for p, g in enumerate(geoms):
        if not g.fine:
            continue
        if g.conv_channels(rep) != g.conv_channels(box):
            return None
        off = []
        for a in (0, 1):
            u, v = g.axis(a, rep[2 + 2 * a], rep[3 + 2 * a])[0], g.axis(a, box[2 + 2 * a], box[3 + 2 * a])[0]
            if len(u) != len(v) or (len(u) and np.any(v - u != v[0] - u[0])):
                return None
            off.append(int(v[0] - u[0]) if len(u) else 0)
        out[p] = off[0] * g.src_view[2] + off[1]
    return out


def _shift(rep: PiecePlan, geoms: list[ProjGeom], dc: int, moves: dict[int, int]) -> Chunks:
    """The chunks of a same-class tile ``dc`` channels further whose fine projections' sources are those of the
    representative moved by ``moves`` (flat offsets, ``_fine_moves``): element-wise projections' units are the
    tile's own channels and fine ones its source neurons, so their ranges move; conv (groups=1) channel and dense
    units are absolute and do not (grouped conv and csr layers use exact per-block class keys, so dc is 0)."""
    move = {p: dc for p, g in enumerate(geoms) if g.kind == "elementwise" and dc}
    move.update({p: d for p, d in moves.items() if d})
    if rep.k == 1 or not move:
        return rep.chunks
    ranges = tuple({p: ((a + move[p], b + move[p]) if p in move else (a, b)) for p, (a, b) in r.items()}
                   for r in rep.chunks.ranges)
    return Chunks(ranges, rep.chunks.sums, rep.chunks.total, rep.chunks.per_proj_axons)


def manual_split(layer: str, geoms: list[ProjGeom], view: tuple[int, int, int], limits: Limits,
                 mean_rate: dict[str, float]) -> tuple[Split, GridPlan] | LayerProblem:
    """The fixed rule: tile shapes in the order (sc, H, W) for decreasing output-channel blocks sc, then
    (1, sh, W) for decreasing row blocks, then (1, 1, sw); shapes with more neurons than a core are skipped; the
    first shape whose tiles all fit — with input-channel partial sums where a tile's fan-in needs them — wins."""
    c, h, w = view
    shapes = [(sc, h, w) for sc in sizes(c)] + [(1, sh, w) for sh in sizes(h)] + [(1, 1, sw) for sw in sizes(w)]
    last: LayerProblem | None = None
    seen: set[Split] = set()
    for split in shapes:
        if split in seen or split[0] * split[1] * split[2] > limits.neurons:
            continue
        seen.add(split)
        got = grid_plan(layer, geoms, view, split, limits, mean_rate, allow_partial=True)
        assert got is not None
        if isinstance(got, GridPlan):
            return got.split, got
        last = got
    assert last is not None
    return last
