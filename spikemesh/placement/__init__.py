"""Placement: logical cores onto chips and mesh positions. Placers: ``auto`` (chip assignment, then annealing or
the exact placer), ``anneal``, ``cpsat`` (exact: cut search, branch and bound, CP-SAT), and the baselines
``rowmajor``, ``zigzag``, ``neighbor``. Pipeline stage ``place`` (stage.py; option ``placer``)."""

from spikemesh.placement.place import PLACERS, Placement, place

__all__ = ["PLACERS", "Placement", "place"]
