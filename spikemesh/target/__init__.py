"""Targets as data: the chip model (``Target``, its core, NoC and energy tables; model.py), finding and reading
targets (presets, TOML files, the ``:AxB`` chip grid; registry.py) and the mesh geometry every later stage
shares (router coordinates, links, directions; topology.py)."""

from spikemesh.target.model import CoreSpec, EnergyTable, NocSpec, Target
from spikemesh.target.registry import list_targets, resources_summary, target

__all__ = ["CoreSpec", "EnergyTable", "NocSpec", "Target", "list_targets", "resources_summary", "target"]
