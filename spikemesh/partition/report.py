"""The ``partition`` entry of report.json (schema in docs/report.md).

- ``cores``; ``cores_per_layer`` (cores holding or accumulating each layer; a shared core counts for each of its
  layers); ``partial_sum_cores``; ``lower_bound_cores`` = max over resources of ceil(total demand / per-core
  limit) (neurons; stored weight bits under the target's storage rule), with the per-resource bounds in
  ``lower_bounds``;
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
from spikemesh.partition.geometry import ProjGeom
from spikemesh.partition.resources import Limits
from spikemesh.target.model import Target


def lower_bounds(graph: Graph, limits: Limits, geoms: dict[str, list[ProjGeom]]) -> dict[str, int]:
    """Cores needed by each resource alone (valid lower bounds on any partition)."""
    neurons = graph.n_neurons
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
            "synapse_bits": math.ceil(bits / limits.synapse_bits) if limits.synapse_bits else 0}


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
