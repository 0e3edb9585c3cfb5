"""The ``route`` compiler stage: routes, the deadlock certificate (checked from the routes alone) and the routing
tables of a placed Program."""

from __future__ import annotations

from typing import Any

from spikemesh.routing.deadlock import certify
from spikemesh.routing.routes import route
from spikemesh.routing.tables import build_tables
from spikemesh.target.topology import Mesh


def route_stage(program: Any, options: Any) -> Any:
    part, pl = program.partition, program.placement
    if pl is None:
        return program
    t = program.target
    mesh = Mesh.of(t)
    relays = part.relays
    routes = route(pl.coords, part.traffic, t, algorithm=options.routing, seed=options.seed,
                   time_limit=options.time_limit, relays=relays)
    layer_of = {c.index: "+".join(c.layers) for c in part.cores}
    layer_of.update({-1 - k: i.name for k, i in enumerate(program.graph.inputs)})
    cert = certify(routes.flat, mesh, pl.coords, relays, layer_of, forwarding=t.noc.forwarding)
    tables = build_tables(routes.flat, mesh, pl.coords, len(program.graph.inputs), t.noc.table_entries)
    routing = {**routes.report, **cert.report, "max_table_entries": tables.report["max_table_entries"],
               "max_table_entries_compressed": tables.report["max_table_entries_compressed"]}
    placement = {**program.report.get("placement", {}), "max_link_load": routes.report["max_link_load"]}
    return (program.with_section("routes", routes).with_section("certificate", cert).with_section("tables", tables)
            .with_report(routing=routing, placement=placement))
