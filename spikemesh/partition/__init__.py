"""Partition: split an IR graph into logical cores that fit a mesh target's cores.

``partition(graph, target, strategy="groups", seed=0, time_limit=10.0, rates=None, sample_input=None)`` returns a
``Partition`` (artifact.py). Strategies (strategies.py, one interface): ``slicing`` (slicing.py), ``tiles``
(tiles.py), ``groups`` (groups.py, default), ``hypergraph`` (hypergraph.py). Resource rules: resources.py;
geometry: geometry.py; traffic: traffic.py; report fields: report.py. A graph that fits no legal split raises
``PartitionInfeasible`` (a ``PartitionError``) listing every such layer; a target with too few cores raises it with
``min_cores`` / ``min_chips`` / ``min_grid``.
"""

from __future__ import annotations

import time
from typing import Any

from spikemesh.errors import PartitionError
from spikemesh.ir.graph import Graph
from spikemesh.partition.artifact import LogicalCore, Partition
from spikemesh.partition.build import build
from spikemesh.partition.geometry import geometry, view_shape
from spikemesh.partition.plan import mean_rates
from spikemesh.partition.resources import PartitionInfeasible, limits_for, raise_layer_problems
from spikemesh.partition.strategies import STRATEGIES, StrategyJob
from spikemesh.partition.traffic import neuron_rates
from spikemesh.target.model import Target
from spikemesh.target.registry import target as as_target


def partition(graph: Graph, target: Target | str, strategy: str = "groups", seed: int = 0, time_limit: float = 10.0,
              rates: dict[str, Any] | None = None, sample_input: Any = None,
              check_capacity: bool = True) -> Partition:
    """Partition ``graph`` for ``target`` (module docstring). ``check_capacity=False`` skips the check that the
    target has enough cores (the report still gives ``min_chips``)."""
    t0 = time.perf_counter()
    tgt = as_target(target)
    run = STRATEGIES.get(strategy)
    if run is None:
        raise PartitionError(f"unknown partition strategy {strategy!r}", node="strategy",
                             needed=" | ".join(STRATEGIES), available=strategy)
    limits = limits_for(tgt)
    geoms = geometry(graph)
    r = neuron_rates(graph, rates, sample_input)
    job = StrategyJob(graph=graph, layers=graph.layers(), geoms=geoms,
                      views={p.name: view_shape(p.shape) for p in graph.populations}, limits=limits, rates=r,
                      mean_rates=mean_rates(r), seed=seed, time_limit=time_limit)
    drafts, problems, extra = run(job)
    raise_layer_problems(problems, limits)  # names every layer that fits no legal split
    return build(graph, tgt, geoms, drafts, strategy, r, limits, t0, extra, check_capacity=check_capacity)


__all__ = ["STRATEGIES", "LogicalCore", "Partition", "PartitionInfeasible", "partition"]
