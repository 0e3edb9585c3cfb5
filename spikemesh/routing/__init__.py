"""Routing: multicast route trees (XY, YX, turn models; trees.py), CP-SAT selection among them (routes.py), the
deadlock certificate (deadlock.py) and the routing tables with key/mask compression (tables.py). Pipeline stage
``route`` (stage.py; option ``routing``), which also certifies the routes and builds the tables."""

from spikemesh.routing.deadlock import Certificate, certify
from spikemesh.routing.routes import ALGORITHMS, Route, Routes, route
from spikemesh.routing.tables import Tables, build_tables

__all__ = ["ALGORITHMS", "Certificate", "Route", "Routes", "Tables", "build_tables", "certify", "route"]
