"""Backends: one package per target family, each declaring the compile stages its targets run (``STAGES`` in
its ``stages`` module) beside its presets, chip-configuration emitter and engine.

- ``mesh``: synchronous multi-core / multi-chip meshes (Tianjic-like, Loihi-like, TOML targets): lower,
  partition, place, route.
- ``speck``: SynSense Speck / DYNAP-CNN: sinabs-style discretization, lower, map (layers, cores, config); the
  ``async`` engine.
- ``crossbar``: memristor crossbar tile arrays: lower, tiles as cores, place, route, programmed levels; the
  ``crossbar`` engine.
- ``trainer`` (package ``spikemesh.trainer``): the multi-core training chip: lower; ``spikemesh.train``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from spikemesh.errors import TargetError

#: a compile stage: (program, options) -> program with its section and report entry added
Stage = Callable[[Any, Any], Any]

#: target family -> module whose ``STAGES`` lists (name, stage) in order (imported only when compiling)
FAMILIES: dict[str, str] = {
    "mesh": "spikemesh.backends.mesh.stages",
    "speck": "spikemesh.backends.speck.stages",
    "crossbar": "spikemesh.backends.crossbar.stages",
    "trainer": "spikemesh.trainer.stages",
}


def family_stages(family: str) -> tuple[tuple[str, Stage], ...]:
    """The (name, stage) list a target family compiles with."""
    if family not in FAMILIES:
        raise TargetError(f"unknown target family {family!r}", node="family", needed=" | ".join(FAMILIES),
                          available=family)
    return tuple(importlib.import_module(FAMILIES[family]).STAGES)


def family_budget(family: str) -> dict[str, float]:
    """Weights by which the family's stages share the compile's time limit (``BUDGET`` in its stages module;
    empty: every stage weighs the same; spikemesh.budget)."""
    family_stages(family)  # the same error for an unknown family
    return dict(getattr(importlib.import_module(FAMILIES[family]), "BUDGET", {}))
