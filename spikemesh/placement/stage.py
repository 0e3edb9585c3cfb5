"""The ``place`` compiler stage: a Program with a partition gains its ``placement`` section and report entry."""

from __future__ import annotations

from typing import Any

from spikemesh.placement.place import place


def place_stage(program: Any, options: Any) -> Any:
    part = program.partition
    if part is None:
        return program
    pl = place(part.n_cores, part.traffic, program.target, placer=options.placer, seed=options.seed,
               time_limit=options.time_limit)
    return program.with_section("placement", pl).with_report(placement=pl.report)
