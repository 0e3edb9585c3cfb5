"""From core drafts (what a strategy decides) to a ``Partition``: exact per-core use, neuron → core maps, traffic,
limit checks and the report.

A strategy only decides *which* neurons (boxes of a layer's (C, H, W) view) and *which* input units each core
gets; everything counted here is recomputed exactly from the geometry (distinct source sets as flat index arrays
of at most a core's axons, synapse counts per axis arithmetic), so an estimate used while searching can never
leak into the result.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikemesh.errors import PartitionError
from spikemesh.ir.graph import Graph
from spikemesh.partition.artifact import LogicalCore, Partition
from spikemesh.partition.geometry import Box, ProjGeom, box_span, box_volume, view_shape
from spikemesh.partition.report import partition_report
from spikemesh.partition.resources import Limits, require_capacity, spec_index, violations
from spikemesh.partition.traffic import TrafficBuilder
from spikemesh.target.model import Target


@dataclass
class Draft:
    """One core as a strategy plans it. ``inputs`` maps projection name → absolute unit range (None: every unit
    of every incoming projection of its layers); ``merge`` is the draft index of a partial-sum core's merge core;
    a merge core has ``from_partials=True`` and receives partial sums instead of projections."""

    role: str
    pieces: list[tuple[str, Box]]
    inputs: dict[str, tuple[int, int]] | None = None
    merge: int | None = None
    group: int = 0
    from_partials: bool = False
    note: dict[str, Any] = field(default_factory=dict)


def core_sources(d: Draft, geoms: dict[str, list[ProjGeom]], limits: Limits
                 ) -> tuple[dict[str, np.ndarray], int, int, int]:
    """Exact distinct source sets per source node (sorted flat indices), synapses, synapse bits and kernel
    entries of a (non-merge) draft."""
    wb = limits.weight_bits
    lists: dict[str, list[np.ndarray]] = defaultdict(list)
    syn_total = bits = kern_total = 0
    for layer, b in d.pieces:
        for g in geoms[layer]:
            if d.inputs is None:
                u0, u1 = 0, g.n_units
            elif g.name in d.inputs:
                u0, u1 = d.inputs[g.name]
            else:
                continue
            s = g.source_flat(b, u0, u1)
            if len(s):
                lists[g.source].append(s)
            syn, kern = g.counts(b, u0, u1)
            syn_total += syn
            kern_total += kern
            bits += (kern if (limits.shared_kernels and g.kind == "conv" and not g.fine) else syn) * wb
    sets = {src: (lst[0] if len(lst) == 1 else np.unique(np.concatenate(lst))) for src, lst in lists.items()}
    return sets, syn_total, bits, kern_total


def _slices(b: Box) -> tuple[slice, slice, slice]:
    return slice(b[0], b[1]), slice(b[2], b[3]), slice(b[4], b[5])


def build(graph: Graph, target: Target, geoms: dict[str, list[ProjGeom]], drafts: list[Draft], strategy: str,
          rates: dict[str, np.ndarray], limits: Limits, t0: float, extra: dict[str, Any] | None = None,
          check_capacity: bool = True) -> Partition:
    """Exact accounting of ``drafts`` → Partition (raises PartitionError on any over-limit core: a bug of the
    strategy, never silently returned)."""
    wb = limits.weight_bits
    n = len(drafts)
    views = {p.name: view_shape(p.shape) for p in graph.populations}
    neuron_core: dict[str, np.ndarray] = {p.name: np.full(views[p.name], -1, dtype=np.int32)
                                          for p in graph.populations}
    for i, d in enumerate(drafts):
        if d.role != "neurons":
            continue
        for layer, b in d.pieces:
            sl = neuron_core[layer][_slices(b)]
            if np.any(sl != -1):
                raise PartitionError("internal: a neuron is assigned to two cores", node=layer,
                                     hint=f"strategy {strategy}")
            neuron_core[layer][_slices(b)] = i
    flat_nc = {k: v.reshape(-1) for k, v in neuron_core.items()}
    for k, v in flat_nc.items():
        if np.any(v < 0):
            raise PartitionError("internal: a neuron has no core", node=k, hint=f"strategy {strategy}")
    input_id = {inp.name: -1 - k for k, inp in enumerate(graph.inputs)}
    # with the target's "input_cores" feature each graph input is replayed by source cores on the mesh (chunks of
    # a core's neuron capacity, after the population cores) instead of being streamed in from the host
    sources: list[tuple[str, int, int]] = []
    if target.supports("input_cores"):
        for inp in graph.inputs:
            size = math.prod(inp.shape)
            flat_nc[inp.name] = (n + len(sources) + np.arange(size) // limits.neurons).astype(np.int32)
            sources += [(inp.name, a, min(size, a + limits.neurons)) for a in range(0, size, limits.neurons)]
        input_id = {}
    traffic = TrafficBuilder()
    partial_traffic = TrafficBuilder()
    feeds: dict[int, int] = defaultdict(int)  # merge core -> partial sums received
    for d in drafts:
        if d.merge is not None:
            feeds[d.merge] += sum(box_volume(b) for _, b in d.pieces)
    uses: list[dict[str, int]] = []
    lim = limits.as_dict()
    for i, d in enumerate(drafts):
        neurons = sum(box_volume(b) for _, b in d.pieces)
        use: dict[str, int] = {"neurons": neurons, "axons": 0, "synapse_bits": 0, "synapses": 0}
        kern_total = 0
        if d.from_partials:
            use["axons"] = feeds.get(i, 0)
            use["synapse_bits"] = feeds.get(i, 0) * wb
        if not d.from_partials or d.inputs:
            srcsets, syn_total, bits_total, kern_total = core_sources(d, geoms, limits)
            use["synapses"] = syn_total
            use["synapse_bits"] += bits_total
            for src in sorted(srcsets):
                u = srcsets[src]
                use["axons"] += int(len(u))
                w = rates[src][u]
                if src in input_id:
                    traffic.add(np.array([input_id[src]]), i, np.array([w.sum()]))
                else:
                    ids = flat_nc[src][u]
                    uid, inv = np.unique(ids, return_inverse=True)
                    traffic.add(uid, i, np.bincount(inv, weights=w))
        if d.merge is not None:
            partial_traffic.add(np.array([i]), d.merge, np.array([float(neurons)]))
        if "kernel_entries" in lim:
            use["kernel_entries"] = kern_total
        if "neuron_entries" in lim:
            use["neuron_entries"] = neurons
        if "bias_entries" in lim:
            use["bias_entries"] = sum(b[1] - b[0] for _, b in d.pieces)
        bad = violations(use, lim)
        if bad:
            r, used, cap = bad[0]
            raise PartitionError(f"internal: core {i} ({d.role}, layers {sorted({p[0] for p in d.pieces})}) exceeds "
                                 f"{r}", node=d.pieces[0][0] if d.pieces else None, needed=used, available=cap,
                                 hint=f"strategy {strategy} produced an over-limit core; please report")
        uses.append(use)
    if check_capacity:
        require_capacity(n + len(sources), target)
    spikes = traffic.matrix()
    psums = partial_traffic.matrix()
    tm = np.concatenate([spikes, psums]) if len(psums) else spikes
    if len(tm):
        order = np.lexsort((tm[:, 1], tm[:, 0]))
        tm = tm[order]
    cores = []
    for i, d in enumerate(drafts):
        layers = tuple(dict.fromkeys(p[0] for p in d.pieces))
        bounds: dict[str, tuple[int, int]] = {}
        boxes: dict[str, tuple[Box, ...]] = {}
        for layer in layers:
            bs = tuple(b for ly, b in d.pieces if ly == layer)
            boxes[layer] = bs
            spans = [sp for sp in (box_span(b, views[layer]) for b in bs) if sp is not None]
            bounds[layer] = (min(sp[0] for sp in spans), max(sp[1] for sp in spans))
        inputs: dict[str, tuple[int, int]] = {}
        if d.inputs is not None:
            inputs = {k: (int(v[0]), int(v[1])) for k, v in d.inputs.items()}
        cores.append(LogicalCore(index=i, group=d.group, layers=layers, role=d.role,
                                 merge_into=d.merge, neurons=bounds, use=uses[i],
                                 spec=spec_index(target, uses[i]), boxes=boxes, inputs=inputs))
    group = max((c.group for c in cores), default=-1) + 1
    for j, (name, a, b) in enumerate(sources):  # one group per source core, after the populations' groups
        use = {"neurons": b - a, "axons": 0, "synapse_bits": 0, "synapses": 0}
        cores.append(LogicalCore(index=len(cores), group=group + j, layers=(name,), role="source",
                                 neurons={name: (a, b)}, use=use, spec=spec_index(target, use)))
    report = partition_report(graph, target, cores, spikes, psums, limits, strategy,
                              seconds=time.perf_counter() - t0, extra=extra or {}, geoms=geoms)
    return Partition(cores=tuple(cores), neuron_core={k: v.astype(np.int32) for k, v in flat_nc.items()},
                     traffic=tm, strategy=strategy, report=report)


def layer_boxes_full(view: tuple[int, int, int]) -> Box:
    c, h, w = view
    return (0, c, 0, h, 0, w)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


__all__ = ["Draft", "build", "ceil_div", "layer_boxes_full", "math"]
