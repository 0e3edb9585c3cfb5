"""The ``partition`` entry of report.json (schema in docs/report.md).

- ``cores``; ``cores_per_layer`` (cores holding or accumulating each layer; a shared core counts for each of its
  layers); ``partial_sum_cores``; ``lower_bound_cores`` = max over resources of ceil(total demand / per-core
  limit), with the per-resource bounds in ``lower_bounds`` (``lower_bounds`` below: neurons and accumulators,
  axons, stored weight bits under the target's storage rule);
- ``utilisation``: per resource, used / (cores × limit);
- ``remote_spike_copies``: expected spike copies per step delivered to another core (a spike counts once per
  distinct destination core; inputs from the host count as remote); ``partial_sum_copies``: partial sums sent to
  merge cores per step;
- ``max_core_load``: the largest number of copies (spikes + partial sums) per step arriving at one core;
- ``min_chips`` / ``min_grid``: chips of this target the partition needs (and the smallest square grid);
- ``strategy``, ``seconds`` (wall time of the partition call), plus strategy-specific fields (``solver``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spikemesh.ir.graph import Graph
from spikemesh.partition.artifact import LogicalCore
from spikemesh.partition.bound import fan_in, trees_bound
from spikemesh.partition.geometry import ProjGeom
from spikemesh.partition.resources import Limits
from spikemesh.target.model import Target


def sources_used(g: ProjGeom) -> int:
    """Source neurons of ``g`` with at least one synapse."""
    if g.kind == "conv":
        assert g.conv is not None
        _, h, w = g.dst_view
        return g.src_view[0] * len(g.axis(0, 0, h)[0]) * len(g.axis(1, 0, w)[0])
    if g.kind in ("elementwise", "dense"):
        return int(math.prod(g.src_view))
    assert g.csc is not None
    return int(np.count_nonzero(np.diff(g.csc.tocsr().indptr)))


def lower_bounds(graph: Graph, limits: Limits, geoms: dict[str, list[ProjGeom]]) -> dict[str, int]:
    """Cores needed by each resource alone: valid lower bounds on every partition (docs/report.md).

    Let ``f_v`` be neuron v's distinct presynaptic sources (summed over its source populations, each through its
    projection with the most: a lower bound when two projections share a source population). A core has ``A``
    axons. If ``f_v > A``, v's inputs are split over a partial-sum tree of ``k`` cores, each holding v (state or
    an accumulator: a neuron unit); the tree's axons carry v's ``f_v`` sources plus one partial sum per non-root
    node, so ``f_v + k − 1 ≤ k·A``, i.e. ``k_v = ceil((f_v − 1) / (A − 1))`` at least (``k_v = 1`` when
    ``f_v ≤ A``). Summing over neurons:

    - ``neurons``: ceil(Σ_v k_v / neurons per core) — every neuron and accumulator occupies a neuron unit;
    - ``axons``: ceil((S + Σ_v (k_v − 1)) / A), S = source neurons (inputs included) with a synapse, each
      delivered to at least one core (per source population the largest count over its projections) — every
      source takes an axon somewhere and every partial sum an axon at its parent;
    - ``synapse_bits``: ceil(stored weight bits / synapse bits per core).

    Each counts one resource over whole cores, so it ignores how a core's neurons share receptive fields:
    ``tests/partition/test_lower_bound.py`` finds the optimum by exhaustive search on small layers and shows
    both the bound's validity and how far the per-tree overhead (each child sends one partial sum per neuron
    of its tree, not per neuron it computes alone) can leave it below the optimum."""
    a = limits.axons
    units = 0
    partial = 0
    used: dict[str, int] = {}
    for layer, gs in geoms.items():
        if not gs:
            units += int(math.prod(graph.shape_of(layer)))
            continue
        per_src: dict[str, np.ndarray] = {}
        for g in gs:
            f = fan_in(g)
            per_src[g.source] = f if g.source not in per_src else np.maximum(per_src[g.source], f)
            used[g.source] = max(used.get(g.source, 0), sources_used(g))
        f = sum(per_src.values())
        assert isinstance(f, np.ndarray)
        k = np.where(f <= a, 1, -(-(f - 1) // max(1, a - 1))) if limits.partial_sums else np.ones_like(f)
        units += int(k.sum())
        partial += int((k - 1).sum())
    neurons = units
    bits = 0
    for _layer, gs in geoms.items():
        full = (0, gs[0].dst_view[0], 0, gs[0].dst_view[1], 0, gs[0].dst_view[2]) if gs else None
        for g in gs:
            syn, _ = g.counts(full, 0, g.n_units)
            if limits.shared_kernels and g.kind == "conv" and not g.fine:
                assert g.conv is not None
                bits += int(g.conv.weight.size) * limits.weight_bits
            else:
                bits += syn * limits.weight_bits
    return {"neurons": math.ceil(neurons / limits.neurons),
            "axons": math.ceil((sum(used.values()) + partial) / a) if a else 0,
            "synapse_bits": math.ceil(bits / limits.synapse_bits) if limits.synapse_bits else 0,
            "trees": trees_bound(graph, limits, geoms) if a else 0}


def tree_cores(sources: int, neurons: int, limits: Limits) -> int | None:
    """Fewest cores of a partial-sum tree holding ``neurons`` neurons of ``sources`` distinct sources (synapse memory
    aside): 1 when they fit one core; else every node holds the ``neurons`` (state or accumulators) and a non-root
    node sends one partial sum per neuron to its parent, so ``sources + (k − 1)·neurons ≤ k·A``, i.e.
    ``k = ceil((sources − neurons) / (A − neurons))`` — reached by a chain whose nodes take consecutive sources.
    None when no tree fits (more neurons than a core, or a core cannot receive a child's partial sums)."""
    a = limits.axons
    if neurons > limits.neurons:
        return None
    if sources <= a:
        return 1
    if neurons >= a or not limits.partial_sums:
        return None
    return -(-(sources - neurons) // (a - neurons))


def tree_bound(n: int, min_sources: list[int], limits: Limits) -> float:
    """A lower bound on the cores of any partition of a layer of ``n`` neurons into partial-sum trees, given
    ``min_sources[m]`` ≤ the distinct sources of any m of its neurons (m = 1..n; index 0 unused): a tree of m
    neurons costs at least ``tree_cores(min_sources[m], m)`` cores, so its cores per neuron are at least
    ``ρ = min_m tree_cores(min_sources[m], m) / m`` and the layer needs ``n·ρ`` cores (fractional)."""
    best = math.inf
    for m in range(1, min(n, limits.neurons) + 1):
        k = tree_cores(min_sources[m], m, limits)
        if k is not None:
            best = min(best, k / m)
    return n * best


def partition_report(graph: Graph, target: Target, cores: list[LogicalCore], spikes: np.ndarray,
                     psums: np.ndarray, limits: Limits, strategy: str, seconds: float,
                     extra: dict[str, Any], geoms: dict[str, list[ProjGeom]]) -> dict[str, Any]:
    n = len(cores)
    per_layer: dict[str, int] = {p.name: 0 for p in graph.populations}
    for c in cores:
        for layer in c.layers:
            per_layer[layer] = per_layer.get(layer, 0) + 1
    lim = limits.as_dict()
    util = {}
    for r, cap in lim.items():
        used = sum(c.use.get(r, 0) for c in cores)
        util[r] = round(used / (n * cap), 6) if n and cap else 0.0
    load = np.zeros(n)
    for m in (spikes, psums):
        if len(m):
            np.add.at(load, m[:, 1].astype(np.int64), m[:, 2])
    lb = lower_bounds(graph, limits, geoms)
    chips = math.ceil(n / target.cores_per_chip) if n else 0
    side = math.ceil(math.sqrt(chips)) if chips else 0
    return {
        "strategy": strategy,
        "cores": n,
        "cores_per_layer": per_layer,
        "partial_sum_cores": sum(1 for c in cores if c.role == "partial_sum"),
        "source_cores": sum(1 for c in cores if c.role == "source"),
        "lower_bound_cores": max(lb.values()) if lb else 0,
        "lower_bounds": lb,
        "limits": lim,
        "utilisation": util,
        "remote_spike_copies": round(float(spikes[:, 2].sum()) if len(spikes) else 0.0, 6),
        "partial_sum_copies": round(float(psums[:, 2].sum()) if len(psums) else 0.0, 6),
        "max_core_load": round(float(load.max()) if n else 0.0, 6),
        "min_chips": chips,
        "min_grid": [side, side],
        "storage_rule": "shared kernels" if limits.shared_kernels else "one weight per synapse",
        "seconds": round(seconds, 4),
        **extra,
    }
