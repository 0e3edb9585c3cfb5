"""Partition: split an IR graph into logical cores that fit a mesh target's cores (DESIGN §3; CONTRACT "partition").

``partition(graph, target, strategy="groups", seed=0, time_limit=10.0, rates=None, sample_input=None)`` returns a
``Partition`` (artifact.py). Strategies: ``slicing`` (slicing.py), ``tiles`` (tiles.py), ``groups`` (groups.py,
default), ``hypergraph`` (hypergraph.py). Resource rules: resources.py; geometry: geometry.py; traffic:
traffic.py; report fields: metrics.py. A graph that fits no legal split raises ``PartitionInfeasible`` (a
``PartitionError``) listing every such layer; a target with too few cores raises it with ``min_cores`` /
``min_chips`` / ``min_grid``.
"""

from __future__ import annotations

import time
from typing import Any

from spikemesh.errors import PartitionError
from spikemesh.ir.graph import Graph
from spikemesh.partition.artifact import LogicalCore, Partition
from spikemesh.partition.build import Draft, build
from spikemesh.partition.geometry import geometry, view_shape
from spikemesh.partition.plan import mean_rates, smallest_piece_problem
from spikemesh.partition.resources import LayerProblem, PartitionInfeasible, limits_for, raise_layer_problems
from spikemesh.partition.traffic import neuron_rates
from spikemesh.target.model import Target
from spikemesh.target.registry import target as as_target

STRATEGIES = ("slicing", "tiles", "groups", "hypergraph")


def partition(graph: Graph, target: Target | str, strategy: str = "groups", seed: int = 0, time_limit: float = 10.0,
              rates: dict[str, Any] | None = None, sample_input: Any = None,
              check_capacity: bool = True) -> Partition:
    """Partition ``graph`` for ``target`` (module docstring). ``check_capacity=False`` skips the check that the
    target has enough cores (the report still gives ``min_chips``)."""
    t0 = time.perf_counter()
    tgt = as_target(target)
    if strategy not in STRATEGIES:
        raise PartitionError(f"unknown partition strategy {strategy!r}", node="strategy",
                             needed=" | ".join(STRATEGIES), available=strategy)
    limits = limits_for(tgt)
    geoms = geometry(graph)
    r = neuron_rates(graph, rates, sample_input)
    mr = mean_rates(r)
    layers = graph.layers()
    views = {p.name: view_shape(p.shape) for p in graph.populations}
    extra: dict[str, Any] = {}
    drafts: list[Draft] = []
    problems: list[LayerProblem] = []
    if strategy == "slicing":
        from spikemesh.partition.slicing import slicing_drafts, slicing_layer

        sizes: dict[str, int] = {}
        for gi, layer in enumerate(layers):
            got = slicing_layer(layer, geoms[layer], views[layer], limits, mr)
            if isinstance(got, LayerProblem):
                problems.append(got)
                continue
            sizes[layer], plans = got
            drafts.extend(slicing_drafts(layer, geoms[layer], plans, len(drafts), gi))
        extra["solver"] = {"neurons_per_slice": sizes}
    elif strategy == "tiles":
        from spikemesh.partition.tiles import grid_drafts, manual_split

        splits: dict[str, list[int]] = {}
        for gi, layer in enumerate(layers):
            got2 = manual_split(layer, geoms[layer], views[layer], limits, mr)
            if isinstance(got2, LayerProblem):
                problems.append(got2)
                continue
            split, _ = got2
            splits[layer] = list(split)
            drafts.extend(grid_drafts(layer, geoms[layer], views[layer], split, limits, mr, len(drafts), gi))
        extra["solver"] = {"rule": "output channels, then rows, then input channels, then columns",
                           "splits": splits}
    elif strategy == "groups":
        from spikemesh.partition.groups import groups_drafts

        drafts, problems, extra = groups_drafts(layers, geoms, views, limits, mr, seed, time_limit)
    else:
        from spikemesh.partition.hypergraph import hypergraph_drafts

        drafts, problems, extra = hypergraph_drafts(graph, layers, geoms, views, limits, mr, r, seed, time_limit)
    if problems:
        # name every layer that fits no legal split, each with its worst single neuron's need
        full = []
        for p in problems:
            worst = None if strategy == "hypergraph" else smallest_piece_problem(p.layer, geoms[p.layer],
                                                                                   views[p.layer], limits, mr)
            full.append(worst if worst is not None else p)
        unfit = [p for p in full if p is not None]
        raise_layer_problems(unfit, limits)
    return build(graph, tgt, geoms, drafts, strategy, r, limits, t0, extra, check_capacity=check_capacity)


__all__ = ["STRATEGIES", "LogicalCore", "Partition", "PartitionInfeasible", "partition"]
