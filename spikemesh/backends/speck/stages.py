"""Compile stages of speck-family targets: speck_quantize, lower, speck.

- ``quantize_stage`` (before "lower"): sinabs-style discretization (discretize.py). The generic lower stage then
  finds an integer graph that fits and leaves it unchanged.
- ``map_stage`` (last): lowering to DYNAP-CNN layers, fit + assignment, the ``config`` section and the
  ``speck`` report entry (per-core memory table, core map, DVS).

Options (spikemesh.options.CompileOptions): ``speck_min_v_mem`` (discretize.py), ``speck_readout``,
``speck_assign`` (assign.py), ``layer2core`` (manual placement, checked), ``device``, ``dvs`` (dvs.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from spikemesh.backends.lower import lower_stage
from spikemesh.backends.speck.assign import assign, core_memory, fits
from spikemesh.backends.speck.config import SpeckConfig
from spikemesh.backends.speck.discretize import discretize
from spikemesh.backends.speck.lowering import lower
from spikemesh.backends.speck.memory import MEMORY_KINDS
from spikemesh.errors import PartitionError


def quantize_stage(program: Any, options: Any) -> Any:
    if not options.quantize:
        return program
    g, rep = discretize(program.graph, min_v_mem=options.speck_min_v_mem)
    changed = any(r["source"] != "integer" for r in rep.values())  # keep the float model the user gave
    fg = program.graph if changed else None
    return replace(program, graph=g, float_graph=fg).with_report(speck_quantization={"rule": "sinabs discretize",
                                                                                     "layers": rep})


def build_config(program: Any, options: Any) -> SpeckConfig:
    t = program.target
    layers, dvs, routes = lower(program.graph, readout=bool(options.speck_readout), dvs=options.dvs)
    names = [L.name for L in layers]
    needs = [L.memory for L in layers]
    manual = options.layer2core
    if manual:
        if set(manual) != set(names):
            raise PartitionError("layer2core must name every layer", node="layer2core", needed=sorted(names),
                                 available=sorted(manual))
        cores = [int(manual[n]) for n in names]
        if len(set(cores)) != len(cores) or not all(0 <= c < t.cores_per_chip for c in cores):
            raise PartitionError("layer2core must use distinct cores 0..8", node="layer2core", available=cores)
        for n, nd, c in zip(names, needs, cores):
            if not fits(nd, core_memory(t, c)):
                off = core_memory(t, c)
                kinds = [k for k in MEMORY_KINDS if nd[k] > off[k]]
                raise PartitionError(f"does not fit core {c}: {', '.join(kinds)} memory", node=n,
                                     needed={k: nd[k] for k in kinds}, available={k: off[k] for k in kinds})
        info: dict[str, Any] = {"method": "manual"}
    else:
        cores, info = assign(needs, t, names, time_limit=float(options.time_limit),
                             seed=int(options.seed), method=str(options.speck_assign))
    by_core = {c: i for i, c in enumerate(cores)}
    table = []
    for c in range(t.cores_per_chip):
        off = core_memory(t, c)
        row: dict[str, Any] = {"core": c, "layer": None}
        i = by_core.get(c)
        for k in MEMORY_KINDS:
            row[f"{k}_used"] = needs[i][k] if i is not None else 0
            row[f"{k}_available"] = off[k]
        if i is not None:
            row["layer"] = names[i]
            row["describe"] = layers[i].describe()
        table.append(row)
    return SpeckConfig(layers=tuple(layers), cores=tuple(cores), dvs=dvs, input_routes=routes,
                       memory_table=tuple(table), assignment=info, device=str(options.device))


def map_stage(program: Any, options: Any) -> Any:
    cfg = build_config(program, options)
    report = {
        "layer2core": {L.name: c for L, c in zip(cfg.layers, cfg.cores)},
        "memory": list(cfg.memory_table),
        "assignment": cfg.assignment,
        "dvs": None if cfg.dvs is None else {"pooling": cfg.dvs.pooling, "destinations": list(cfg.dvs.destinations)},
    }
    return program.with_section("config", cfg).with_report(speck=report)


STAGES = (("speck_quantize", quantize_stage), ("lower", lower_stage), ("speck", map_stage))
