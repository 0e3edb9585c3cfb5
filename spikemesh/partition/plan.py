"""Planning one piece of a layer (a box, or the boxes of a flat range) onto cores, shared by all strategies.

A piece fits one core when its neurons and all its input units fit (``k = 1``); otherwise, on targets with the
feature ``"partial_sums"``, its input units are cut greedily into ``k`` consecutive chunks, each on a
``partial_sum`` core that accumulates the piece's neurons, plus one merge core holding the neuron state and
receiving ``k`` partial sums per neuron (so ``neurons × k`` must fit the merge core's axons) — or, when the first
chunk plus ``k − 1`` partial sums per neuron fit one core, a merge core that takes that chunk itself and receives
the other ``k − 1`` (``k`` cores in all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikemesh.partition.build import Draft
from spikemesh.partition.geometry import AX, BITS, KERN, Box, ProjGeom, box_volume
from spikemesh.partition.resources import Chunks, LayerProblem, Limits, chunk, unit_table

_RES = {AX: "axons", BITS: "synapse_bits", KERN: "kernel_entries"}


@dataclass(frozen=True)
class PiecePlan:
    boxes: tuple[Box, ...]
    chunks: Chunks
    cores: int
    copies: float  # estimated remote copies into the piece's cores per step (mean source rates)
    absorbed: bool = False  # the merge core takes the first input chunk itself

    @property
    def k(self) -> int:
        return self.chunks.k


def plan_piece(layer: str, geoms: list[ProjGeom], boxes: list[Box], limits: Limits, mean_rate: dict[str, float],
               allow_partial: bool = True) -> PiecePlan | LayerProblem:
    """Plan ``boxes`` (of ``layer``) onto one core, or k partial-sum cores + a merge core; else a LayerProblem."""
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
    absorbed = False
    if k > 1:
        # the merge core takes the first input chunk itself when that chunk plus k - 1 partial sums per neuron
        # fit: k cores instead of k + 1
        first = cap.copy()
        first[AX] -= vol * (k - 1)
        first[BITS] -= vol * (k - 1) * limits.weight_bits
        if first[AX] > 0 and first[BITS] > 0:
            alt = chunk(costs, pidx, units, cap, len(geoms), first_cap=first)
            if alt is not None and alt.k == k:
                chunks, absorbed = alt, True
    if k > 1 and not absorbed:
        if vol * k > limits.axons:
            return LayerProblem(layer, "axons", vol * k, limits.axons, f"merge core of {k} partial sums")
        if vol * k * limits.weight_bits > limits.synapse_bits:
            return LayerProblem(layer, "synapse_bits", vol * k * limits.weight_bits, limits.synapse_bits,
                                f"merge core of {k} partial sums")
    copies = float(sum(mean_rate[g.source] * chunks.per_proj_axons[i] for i, g in enumerate(geoms)))
    if k > 1:
        copies += vol * (k - 1 if absorbed else k)
    return PiecePlan(tuple(boxes), chunks, 1 if k == 1 else (k if absorbed else k + 1), copies, absorbed)


def drafts_for(layer: str, geoms: list[ProjGeom], plan: PiecePlan, start: int, group: int) -> list[Draft]:
    """The drafts of one planned piece; ``start`` is the draft index of the first one."""
    pieces = [(layer, b) for b in plan.boxes]
    if plan.k == 1:
        return [Draft("neurons", pieces, None, None, group)]
    ranges = [{geoms[p].name: r for p, r in rng.items()} for rng in plan.chunks.ranges]
    own: dict[str, tuple[int, int]] = {}
    if plan.absorbed:
        own = ranges.pop(0)
    merge = start + len(ranges)
    out = [Draft("partial_sum", pieces, rng, merge, group) for rng in ranges]
    out.append(Draft("neurons", pieces, own, None, group, from_partials=True))
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
