"""Planning one piece of a layer (a box, or the boxes of a flat range) onto cores, shared by all strategies.

A piece fits one core when its neurons and all its input units fit (``k = 1``). Otherwise, on targets with the
feature ``"partial_sums"``, it becomes a **partial-sum tree** of ``k`` cores over the piece's neurons (``vol``):
node 0 (the root, role "neurons") holds the neuron state, every other node is a ``partial_sum`` core whose
``merge_into`` is its parent; the tree is heap-shaped with fan ``b`` (node ``i``'s parent is ``(i − 1) // b``).
Every node may take a chunk of consecutive input units *and* receive ``vol`` partial sums from each child, within
one core: chunk axons + children × vol ≤ axons, chunk bits + children × vol × weight bits ≤ synapse bits (a received
partial sum is modelled as an input on its own axon with a unit weight, one per neuron). So the
merge of a wide fan-in is spread over the tree instead of one merge core per piece needing ``vol × k`` axons.

Counting over the tree: U chunk axons plus (k − 1) × vol partial-sum axons fit k cores of A axons, so
k ≥ (U − vol) / (A − vol) for *every* tree shape; the search (``merge_tree``) tries a few fans, for each the
smallest k from that bound upward whose greedy chunking (nodes in heap order, each filled to its remaining caps)
covers every unit, and keeps the fewest cores (then the shallowest tree).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikemesh.partition.build import Draft
from spikemesh.partition.chunk_kernels import first_tree_k
from spikemesh.partition.geometry import AX, BITS, KERN, N_COST, Box, ProjGeom, box_volume
from spikemesh.partition.resources import (
    BIG,
    Chunks,
    LayerProblem,
    Limits,
    chunk,
    chunks_from_ends,
    greedy_ends,
    unit_table,
)

_RES = {AX: "axons", BITS: "synapse_bits", KERN: "kernel_entries"}


@dataclass(frozen=True)
class PiecePlan:
    boxes: tuple[Box, ...]
    chunks: Chunks  # one chunk per core (node order); a node's chunk may be empty
    cores: int
    copies: float  # estimated remote copies into the piece's cores per step (mean source rates)
    parent: tuple[int, ...] = (-1,)  # partial-sum tree: parent node of each node (root 0 has -1)

    @property
    def k(self) -> int:
        return self.chunks.k


#: fans tried for partial-sum trees (plus the largest fan the caps allow); the core count hardly depends on the
#: fan (module docstring), so a few keep the search cheap
FANS = (1, 2, 4)


def heap_parents(k: int, fan: int) -> np.ndarray:
    p = (np.arange(k, dtype=np.int64) - 1) // fan
    p[0] = -1
    return p


def _depth(k: int, fan: int) -> int:
    d, n, width = 0, 1, 1
    while n < k:
        width *= fan
        n += width
        d += 1
    return d


def tree_lower_bound(total: np.ndarray, cap: np.ndarray, vol: int, weight_bits: int) -> int:
    """Fewest cores of any partial-sum tree over units of summed costs ``total`` (module docstring)."""
    lb = 2
    for r, e in ((AX, vol), (BITS, vol * weight_bits)):
        if cap[r] >= BIG:
            continue
        room = int(cap[r]) - e
        if room <= 0:
            return BIG
        lb = max(lb, -(-(int(total[r]) - e) // room))
    return lb


def merge_tree(costs: np.ndarray, pidx: np.ndarray, units: np.ndarray, cap: np.ndarray, n_proj: int, vol: int,
               weight_bits: int) -> tuple[Chunks, tuple[int, ...]] | None:
    """The partial-sum tree with the fewest cores over the fans tried (module docstring); None when no tree fits
    (a core cannot receive one partial sum per neuron plus a unit, nor two children's)."""
    edge = np.zeros(N_COST, dtype=np.int64)
    edge[AX] = vol
    edge[BITS] = vol * weight_bits
    act = [r for r in range(N_COST) if cap[r] < BIG]
    bmax = int(min((cap[r] // edge[r]) if edge[r] else BIG for r in act))
    if bmax < 1:
        return None
    total = costs.sum(axis=0)
    umin = costs.min(axis=0) if len(costs) else np.zeros(N_COST, np.int64)
    cs = np.zeros((len(costs) + 1, N_COST), dtype=np.int64)
    np.cumsum(costs, axis=0, out=cs[1:])
    lb = tree_lower_bound(total, cap, vol, weight_bits)
    if lb >= BIG:
        return None
    active = np.zeros(N_COST, dtype=np.bool_)
    active[act] = True
    best: tuple[tuple[int, int], int, int] | None = None  # ((k, depth), k, fan)
    for fan in sorted({f for f in FANS if f <= bmax} | {bmax}):
        if fan == 1 and any(cap[r] - edge[r] < umin[r] for r in act):
            continue  # a chain node would have no room for a unit
        k_hi = lb * 2 + 16 if best is None else best[1]
        k = int(first_tree_k(cs, cap, edge, active, fan, lb, k_hi))
        if k > 0 and (best is None or (k, _depth(k, fan)) < best[0]):
            best = ((k, _depth(k, fan)), k, fan)
    if best is None:
        return None
    _, k, fan = best
    par = heap_parents(k, fan)
    nchild = np.bincount(par[1:], minlength=k)
    caps = cap[None, :] - nchild[:, None] * edge[None, :]
    ends = greedy_ends(cs, caps, act)
    assert ends is not None
    per_proj = np.bincount(pidx, weights=costs[:, AX], minlength=n_proj)
    chunks = chunks_from_ends(cs, pidx, units, ends, total, per_proj, n_proj)
    return chunks, tuple(int(x) for x in par)


def piece_lower_bound(geoms: list[ProjGeom], box: Box, limits: Limits) -> int:
    """A lower bound on the cores ``plan_piece`` gives ``box`` (1 when every unit fits one core)."""
    total = np.zeros(N_COST, dtype=np.int64)
    for g in geoms:
        total += g.total_costs(box, limits.weight_bits, limits.shared_kernels)
    if np.all(total <= limits.cap):
        return 1
    return tree_lower_bound(total, limits.cap, box_volume(box), limits.weight_bits)


def plan_piece(layer: str, geoms: list[ProjGeom], boxes: list[Box], limits: Limits, mean_rate: dict[str, float],
               allow_partial: bool = True) -> PiecePlan | LayerProblem:
    """Plan ``boxes`` (of ``layer``) onto one core, or a partial-sum tree of cores; else a LayerProblem."""
    vol = sum(box_volume(b) for b in boxes)
    if vol > limits.neurons:
        return LayerProblem(layer, "neurons", vol, limits.neurons)
    if limits.neuron_entries is not None and vol > limits.neuron_entries:
        return LayerProblem(layer, "neuron_entries", vol, limits.neuron_entries)
    ch = sum(b[1] - b[0] for b in boxes)
    if limits.bias_entries is not None and ch > limits.bias_entries:
        return LayerProblem(layer, "bias_entries", ch, limits.bias_entries)
    costs, pidx, units = unit_table(geoms, boxes, limits.weight_bits, limits.shared_kernels)
    cap = limits.cap
    chunks = chunk(costs, pidx, units, cap, len(geoms))
    if chunks is None:
        worst = costs.max(axis=0)
        for r, name in _RES.items():
            if worst[r] > cap[r]:
                return LayerProblem(layer, name, int(worst[r]), int(cap[r]), "one input unit alone")
        return LayerProblem(layer, "axons", int(worst[AX]), int(cap[AX]))
    k = chunks.k
    if k > 1 and not (allow_partial and limits.partial_sums):
        tot = chunks.total
        for r, name in _RES.items():
            if tot[r] > cap[r]:
                return LayerProblem(layer, name, int(tot[r]), int(cap[r]),
                                    "fan-in of the piece" + ("" if limits.partial_sums else "; no partial sums"))
    parent: tuple[int, ...] = (-1,)
    if k > 1:
        tree = merge_tree(costs, pidx, units, cap, len(geoms), vol, limits.weight_bits)
        if tree is None:
            return LayerProblem(layer, "axons", 2 * vol, limits.axons,
                                f"partial-sum tree: a core receiving the partial sums of {vol} neurons")
        chunks, parent = tree
        k = chunks.k
    copies = float(sum(mean_rate[g.source] * chunks.per_proj_axons[i] for i, g in enumerate(geoms)))
    copies += vol * (k - 1)
    return PiecePlan(tuple(boxes), chunks, k, copies, parent)


def drafts_for(layer: str, geoms: list[ProjGeom], plan: PiecePlan, start: int, group: int) -> list[Draft]:
    """The drafts of one planned piece, node i of its tree at draft index ``start + i``."""
    pieces = [(layer, b) for b in plan.boxes]
    if plan.k == 1:
        return [Draft("neurons", pieces, None, None, group)]
    ranges = [{geoms[p].name: r for p, r in rng.items()} for rng in plan.chunks.ranges]
    has_child = set(plan.parent[1:])
    out = []
    for i, (rng, par) in enumerate(zip(ranges, plan.parent)):
        out.append(Draft("neurons" if i == 0 else "partial_sum", pieces, rng, None if i == 0 else start + par,
                         group, from_partials=i in has_child))
    return out


def mean_rates(rates: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(v.mean()) if len(v) else 0.0 for k, v in rates.items()}


def smallest_piece_problem(layer: str, geoms: list[ProjGeom], view: tuple[int, int, int], limits: Limits,
                           mean_rate: dict[str, float]) -> LayerProblem | None:
    """The problem of the worst single neuron of a layer (None when every single neuron can be placed)."""
    c, h, w = view
    worst: LayerProblem | None = None
    cands = {(0, 0), (h // 2, w // 2), (h - 1, w - 1), (0, w - 1), (h - 1, 0)}
    for ch in {0, c - 1}:
        for y, x in cands:
            got = plan_piece(layer, geoms, [(ch, ch + 1, y, y + 1, x, x + 1)], limits, mean_rate)
            if isinstance(got, LayerProblem) and (worst is None or got.needed > worst.needed):
                worst = got
    return worst
