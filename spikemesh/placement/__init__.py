"""Placement and routing: logical cores onto chips and mesh positions (placers), multicast routes (XY, YX, turn
models, CP-SAT selection), the deadlock certificate, routing tables and the placement map.

Pipeline stages (mesh-family targets): ``place`` (option ``placer``, default "auto") and ``route`` (option
``routing``, default "select"), which also certifies the routes and builds the tables."""

from spikemesh.placement.deadlock import Certificate, certify
from spikemesh.placement.place import PLACERS, Placement, place
from spikemesh.placement.routing import ALGORITHMS, Route, Routes, route
from spikemesh.placement.tables import Tables, build_tables

__all__ = ["ALGORITHMS", "PLACERS", "Certificate", "Placement", "Route", "Routes", "Tables", "build_tables",
           "certify", "place", "route"]
