"""Compile stages of mesh-family targets: lower, partition (spikemesh.partition), place, route, config (the chip
configuration, config.py)."""

from __future__ import annotations

from typing import Any

from spikemesh.backends.lower import lower_stage
from spikemesh.backends.mesh.config import config_stage
from spikemesh.partition import partition
from spikemesh.placement.stage import place_stage
from spikemesh.routing.stage import route_stage


def partition_stage(program: Any, options: Any) -> Any:
    """Split the graph into logical cores that fit the target's cores (options ``strategy``, ``rates``,
    ``sample_input``)."""
    part = partition(program.graph, program.target, strategy=options.strategy, seed=options.seed,
                     time_limit=options.time_limit, rates=options.rates, sample_input=options.sample_input)
    return program.with_section("partition", part).with_report(partition=part.report)


STAGES = (("lower", lower_stage), ("partition", partition_stage), ("place", place_stage), ("route", route_stage),
          ("config", config_stage))
