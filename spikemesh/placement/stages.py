"""The ``place`` and ``route`` compiler stages (mesh- and crossbar-family targets; others place in their backends)."""

from __future__ import annotations

from typing import Any

from spikemesh.placement.deadlock import certify
from spikemesh.placement.place import place
from spikemesh.placement.routing import route
from spikemesh.placement.tables import build_tables
from spikemesh.placement.topology import Mesh


def place_stage(program: Any, options: dict[str, Any]) -> Any:
    part = program.partition
    if program.target.family not in ("mesh", "crossbar") or part is None:
        return program
    pl = place(part.n_cores, part.traffic, program.target, placer=options.get("placer", "auto"),
               seed=options["seed"], time_limit=options["time_limit"])
    return program.with_section("placement", pl).with_report(placement=pl.report)


def route_stage(program: Any, options: dict[str, Any]) -> Any:
    """Routes, the deadlock certificate (checked from the routes alone) and the routing tables."""
    part, pl = program.partition, program.placement
    if pl is None:
        return program
    t = program.target
    mesh = Mesh.of(t)
    relays = part.relays
    routes = route(pl.coords, part.traffic, t, algorithm=options.get("routing", "select"), seed=options["seed"],
                   time_limit=options["time_limit"], relays=relays)
    layer_of = {c.index: "+".join(c.layers) for c in part.cores}
    layer_of.update({-1 - k: i.name for k, i in enumerate(program.graph.inputs)})
    cert = certify(routes.flat, mesh, pl.coords, relays, layer_of, forwarding=t.noc.forwarding)
    tables = build_tables(routes.flat, mesh, pl.coords, len(program.graph.inputs), t.noc.table_entries)
    routing = {**routes.report, **cert.report, "max_table_entries": tables.report["max_table_entries"],
               "max_table_entries_compressed": tables.report["max_table_entries_compressed"]}
    placement = {**program.report.get("placement", {}), "max_link_load": routes.report["max_link_load"]}
    return (program.with_section("routes", routes).with_section("certificate", cert).with_section("tables", tables)
            .with_report(routing=routing, placement=placement))
