"""``slicing``: the PACMAN-style baseline (SpiNNaker's PACMAN splits each population into contiguous atom slices;
Rowley et al., SpiNNTools, Front. Neurosci. 2019) — each layer cut into contiguous C-order ranges of
``n`` neurons, never mixing layers; ``n`` is the atom count per core giving the layer the fewest cores (the largest
such ``n``), with partial-sum trees (plan.py) where a range's fan-in needs them. (Taking the largest ``n`` that
fits at all, as PACMAN does, would give a range of 255 neurons a 500-core chain of partial sums on 256-axon
cores.)

Candidate ``n``: the neuron limit, then every divisor of the layer's plane (H·W) and every multiple of a row (W)
below it, descending; ranges with equal shape (same offset within a plane, same length) and channel-agnostic
projections are planned once.
"""

from __future__ import annotations

import math

from spikemesh.partition.build import Draft
from spikemesh.partition.geometry import Box, ProjGeom, flat_range_boxes
from spikemesh.partition.plan import PiecePlan, drafts_for, plan_piece
from spikemesh.partition.resources import LayerProblem, Limits


def _agnostic(geoms: list[ProjGeom]) -> bool:
    """Unit ranges are the same for every range of the layer (conv with groups=1, dense)."""
    return all(g.kind == "dense" or (g.kind == "conv" and not g.fine and g.conv is not None and g.conv.groups == 1)
               for g in geoms)


def _translatable(geoms: list[ProjGeom]) -> bool:
    """Costs of a range depend only on its offset within a plane and its length (element-wise units move with
    the range's channels, so only their chunk ranges differ)."""
    return all(g.kind in ("dense", "elementwise") or (g.kind == "conv" and not g.fine and g.conv is not None
                                                       and g.conv.groups == 1)
               for g in geoms)


def _candidates(view: tuple[int, int, int], cap: int) -> list[int]:
    c, h, w = view
    size = c * h * w
    plane = h * w
    top = min(cap, size)
    cands = {top}
    cands |= {d for d in range(1, min(plane, top) + 1) if plane % d == 0}
    cands |= {w * m for m in range(1, top // w + 1)}
    cands |= {plane * m for m in range(1, top // plane + 1)}
    return sorted((x for x in cands if 1 <= x <= top), reverse=True)


def _ranges(size: int, n: int) -> list[tuple[int, int]]:
    return [(a, min(size, a + n)) for a in range(0, size, n)]


def _plan_all(layer: str, geoms: list[ProjGeom], view: tuple[int, int, int], n: int, limits: Limits,
              mean_rate: dict[str, float], exact: bool = True) -> list[PiecePlan] | LayerProblem:
    """Plans of every range; with ``exact=False`` partial-sum chunk ranges of translatable layers may belong to
    another range of the same shape (enough to count cores and check feasibility)."""
    c, h, w = view
    plane = h * w
    agn = _agnostic(geoms)
    trans = _translatable(geoms)
    cache: dict[tuple[int, int, int], PiecePlan | LayerProblem] = {}
    plans: list[PiecePlan] = []
    for a, b in _ranges(c * h * w, n):
        boxes: list[Box] = flat_range_boxes(a, b, view)
        key = (a % plane, b - a, (b - 1) // plane - a // plane) if trans else (a, b, 0)
        got = cache.get(key)
        if got is None or (exact and isinstance(got, PiecePlan) and got.k > 1 and not agn):
            got = plan_piece(layer, geoms, boxes, limits, mean_rate)
            cache[key] = got
        if isinstance(got, LayerProblem):
            return got
        plans.append(PiecePlan(tuple(boxes), got.chunks, got.cores, got.copies, got.parent))
    return plans


def slicing_layer(layer: str, geoms: list[ProjGeom], view: tuple[int, int, int], limits: Limits,
                  mean_rate: dict[str, float]) -> tuple[int, list[PiecePlan]] | LayerProblem:
    last: LayerProblem | None = None
    best: tuple[int, int] | None = None  # (cores, -n)
    for n in _candidates(view, limits.neurons):
        if best is not None and -(-math.prod(view) // n) > best[0]:
            continue  # every range needs a core
        got = _plan_all(layer, geoms, view, n, limits, mean_rate, exact=False)
        if isinstance(got, LayerProblem):
            last = got
            continue
        key = (sum(p.cores for p in got), -n)
        if best is None or key < best:
            best = key
        if all(p.cores == 1 for p in got):
            break  # the largest n without partial sums: smaller ones cannot need fewer cores
    if best is None:
        assert last is not None
        return last
    n = -best[1]
    final = _plan_all(layer, geoms, view, n, limits, mean_rate, exact=True)
    assert not isinstance(final, LayerProblem)
    return n, final


def slicing_drafts(layer: str, geoms: list[ProjGeom], plans: list[PiecePlan], start: int, group: int) -> list[Draft]:
    out: list[Draft] = []
    for p in plans:
        out.extend(drafts_for(layer, geoms, p, start + len(out), group))
    return out


__all__ = ["math", "slicing_drafts", "slicing_layer"]
