"""Compile stages of crossbar-family targets: lower, partition (one core per array group, tiles.py), place and
route (as on a mesh), crossbar (programmed levels, tiles and their placement: the ``config`` section, config.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from spikemesh.backends.crossbar.config import crossbar_program
from spikemesh.backends.crossbar.tiles import crossbar_partition
from spikemesh.backends.lower import lower_stage
from spikemesh.placement.stage import place_stage
from spikemesh.routing.stage import route_stage


def partition_stage(program: Any, options: Any) -> Any:
    part = crossbar_partition(program.graph, program.target, rates=options.rates, sample_input=options.sample_input)
    return program.with_section("partition", part).with_report(partition=part.report)


def config_stage(program: Any, options: Any) -> Any:
    cp = crossbar_program(program)
    arrays = sum(t.arrays for t in cp.tiles)
    util = [u for lay in cp.layout.values() for u in lay["utilisation"]]
    return program.with_section("config", cp).with_report(crossbar={
        "tiles": len(cp.tiles), "arrays": arrays, "utilisation_mean": float(np.mean(util)) if util else 0.0,
        "layers": {k: {kk: v[kk] for kk in ("kind", "groups", "rows", "cols", "positions")}
                   for k, v in cp.layout.items()}})


STAGES = (("lower", lower_stage), ("partition", partition_stage), ("place", place_stage), ("route", route_stage),
          ("crossbar", config_stage))
