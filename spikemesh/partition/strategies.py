"""The partition strategies behind one interface: ``STRATEGIES[name](job)`` takes a ``StrategyJob`` (the graph and
what every strategy reads about it) and returns ``(drafts, problems, extra)``: the core drafts (build.py turns them
into a Partition), the layers that fit no legal split (``LayerProblem``, each already its worst single piece) and
strategy details for the report (``extra["solver"]``).

- ``slicing``: contiguous C-order slices per layer (slicing.py).
- ``tiles``: a fixed split rule per layer (tiles.py).
- ``groups``: the network-group optimiser (groups.py; the default).
- ``hypergraph``: a hypergraph partition of the whole graph (hypergraph.py).

Each strategy module is imported only when its strategy runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spikemesh.ir.graph import Graph
from spikemesh.partition.build import Draft
from spikemesh.partition.geometry import ProjGeom
from spikemesh.partition.plan import smallest_piece_problem
from spikemesh.partition.resources import LayerProblem, Limits

Designs = tuple[list[Draft], list[LayerProblem], dict[str, Any]]


@dataclass(frozen=True)
class StrategyJob:
    """What a strategy partitions: the graph, its layers in order, per layer the projection geometries and the
    (C, H, W) view, the per-core limits, neuron rates (per neuron, and their per-layer means), the seed and the
    time limit of a solver call (seconds)."""

    graph: Graph
    layers: list[str]
    geoms: dict[str, list[ProjGeom]]
    views: dict[str, tuple[int, int, int]]
    limits: Limits
    rates: dict[str, Any]
    mean_rates: dict[str, float]
    seed: int
    time_limit: float

    def worst_pieces(self, problems: list[LayerProblem]) -> list[LayerProblem]:
        """Each layer's problem as the need of its worst single neuron (when one neuron alone does not fit)."""
        out = []
        for p in problems:
            worst = smallest_piece_problem(p.layer, self.geoms[p.layer], self.views[p.layer], self.limits,
                                           self.mean_rates)
            out.append(worst if worst is not None else p)
        return out


Strategy = Callable[[StrategyJob], Designs]


def slicing(job: StrategyJob) -> Designs:
    from spikemesh.partition.slicing import slicing_drafts, slicing_layer

    drafts: list[Draft] = []
    problems: list[LayerProblem] = []
    sizes: dict[str, int] = {}
    for gi, layer in enumerate(job.layers):
        got = slicing_layer(layer, job.geoms[layer], job.views[layer], job.limits, job.mean_rates)
        if isinstance(got, LayerProblem):
            problems.append(got)
            continue
        sizes[layer], plans = got
        drafts.extend(slicing_drafts(layer, job.geoms[layer], plans, len(drafts), gi))
    return drafts, job.worst_pieces(problems), {"solver": {"neurons_per_slice": sizes}}


def tiles(job: StrategyJob) -> Designs:
    from spikemesh.partition.tiles import grid_drafts, manual_split

    drafts: list[Draft] = []
    problems: list[LayerProblem] = []
    splits: dict[str, list[int]] = {}
    for gi, layer in enumerate(job.layers):
        got = manual_split(layer, job.geoms[layer], job.views[layer], job.limits, job.mean_rates)
        if isinstance(got, LayerProblem):
            problems.append(got)
            continue
        split, _ = got
        splits[layer] = list(split)
        drafts.extend(grid_drafts(layer, job.geoms[layer], job.views[layer], split, job.limits, job.mean_rates,
                                  len(drafts), gi))
    return drafts, job.worst_pieces(problems), {
        "solver": {"rule": "output channels, then rows, then input channels, then columns", "splits": splits}}


def groups(job: StrategyJob) -> Designs:
    from spikemesh.partition.groups import groups_drafts

    drafts, problems, extra = groups_drafts(job.layers, job.geoms, job.views, job.limits, job.mean_rates, job.seed,
                                            job.time_limit)
    return drafts, job.worst_pieces(problems), extra


def hypergraph(job: StrategyJob) -> Designs:
    """Its problems are kept as it reports them (it tests single neurons of every layer itself)."""
    from spikemesh.partition.hypergraph import hypergraph_drafts

    return hypergraph_drafts(job.graph, job.layers, job.geoms, job.views, job.limits, job.mean_rates, job.rates,
                             job.seed, job.time_limit)


STRATEGIES: dict[str, Strategy] = {"slicing": slicing, "tiles": tiles, "groups": groups, "hypergraph": hypergraph}
