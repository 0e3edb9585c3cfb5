"""Compile stages of mesh-family targets: lower, partition (spikemesh.partition), place, route, config (the chip
configuration, emit.py)."""

from __future__ import annotations

from typing import Any

from spikemesh.backends.lower import lower_stage
from spikemesh.backends.mesh.emit import config_stage
from spikemesh.partition import partition
from spikemesh.placement.stage import place_stage
from spikemesh.routing.stage import route_stage


def partition_stage(program: Any, options: Any) -> Any:
    """Split the graph into logical cores that fit the target's cores (options ``strategy``, ``rates``,
    ``sample_input``)."""
    part = partition(program.graph, program.target, strategy=options.strategy, seed=options.seed,
                     time_limit=options.time_limit, rates=options.rates, sample_input=options.sample_input)
    return program.with_section("partition", part).with_report(partition=part.report)


#: weights of the stages' shares of the compile's time limit (spikemesh.budget). With the default 8 s: the split
#: search of ResNet-18 needs ~6,000 evaluations (4 s at groups.EVALS_PER_SECOND) to reach its exhaustive optimum,
#: so the partition weighs most; placement of snn2conv reaches its quality with 2.4 s; route selection only lowers
#: the max link load below the XY routes' (its hint), so it weighs least
BUDGET = {"partition": 0.6, "place": 0.3, "route": 0.1}

STAGES = (("lower", lower_stage), ("partition", partition_stage), ("place", place_stage), ("route", route_stage),
          ("config", config_stage))
