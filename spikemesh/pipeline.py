"""``compile``: run the compiler stages in order, time each, and collect the report (DESIGN §1, §5).

Each stage is a function ``(program, options) -> program`` that adds its own section and report entry;
no stage reaches into another's internals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from spikemesh.backends.base import Target
from spikemesh.backends.speck import stage as speck_stage
from spikemesh.backends.targets import resources_summary, target
from spikemesh.errors import FrontendError
from spikemesh.ir.graph import Graph
from spikemesh.ir.passes import fold_batchnorm, quantize
from spikemesh.program import Program

Stage = Callable[[Program, dict[str, Any]], Program]


def _lower(program: Program, options: dict[str, Any]) -> Program:
    """Fold BatchNorm; quantize to the target's weight/state widths unless ``quantize=False`` (an integer model
    that already fits keeps scale 1, so it is unchanged); record the model summary and the per-layer scales."""
    g = fold_batchnorm(program.graph)
    report: dict[str, Any] = {}
    if options["quantize"]:
        core = program.target.core
        g, scales = quantize(g, weight_bits=core.weight_bits, state_bits=core.state_bits)
        report["quantization"] = {"weight_bits": core.weight_bits, "state_bits": core.state_bits,
                                  "layers": scales}
    return replace(program, graph=g).with_report(model=g.summary(), **report)


def _partition(program: Program, options: dict[str, Any]) -> Program:
    """Split the graph into logical cores (spikemesh.partition) for mesh-family targets; crossbar targets get one
    core per array group (simulator/cores/crossbar/cores.py); other families are partitioned by their backends.
    Options: ``strategy`` (default "groups"), ``rates``, ``sample_input``."""
    if program.target.family == "crossbar":  # one array group (tile) = one core
        from spikemesh.simulator.cores.crossbar.cores import partition_stage

        return partition_stage(program, options)
    if program.target.family != "mesh":
        return program
    from spikemesh.partition import partition

    part = partition(program.graph, program.target, strategy=options.get("strategy", "groups"),
                     seed=options["seed"], time_limit=options["time_limit"], rates=options.get("rates"),
                     sample_input=options.get("sample_input"))
    return program.with_section("partition", part).with_report(partition=part.report)


def _place(program: Program, options: dict[str, Any]) -> Program:
    """The placement stage (mesh- and crossbar-family targets); OR-Tools and Numba are imported only when it
    runs."""
    if program.target.family not in ("mesh", "crossbar") or program.partition is None:
        return program
    from spikemesh.placement.stages import place_stage

    return place_stage(program, options)


def _route(program: Program, options: dict[str, Any]) -> Program:
    """Routes, deadlock certificate and tables (after a placement; imported only when it runs)."""
    if program.placement is None:
        return program
    from spikemesh.placement.stages import route_stage

    return route_stage(program, options)


def _crossbar_config(program: Program, options: dict[str, Any]) -> Program:
    if program.target.family != "crossbar":
        return program
    from spikemesh.simulator.cores.crossbar.cores import config_stage

    return config_stage(program, options)


#: (name, stage) in pipeline order
STAGES: list[tuple[str, Stage]] = [
    ("speck_quantize", speck_stage.quantize_stage),  # speck-family targets only (sinabs discretization)
    ("lower", _lower),
    ("partition", _partition),
    ("place", _place),  # mesh- and crossbar-family targets: logical cores onto chips and routers
    ("route", _route),  # routes, deadlock certificate, routing tables
    ("speck", speck_stage.map_stage),  # speck-family targets only: DYNAP-CNN layers, cores, config
    ("crossbar", _crossbar_config),  # crossbar-family targets only: programmed levels, tiles and their placement
]

DEFAULTS: dict[str, Any] = {"seed": 0, "time_limit": 10.0, "quantize": True, "strategy": "groups", "placer": "auto",
                            "routing": "select"}


def load_model(path: str | Path) -> Graph:
    """Read a model file: a spikemesh graph archive (``.smg``/``.npz``) or a NIR file (``.nir``)."""
    p = Path(path)
    if p.suffix == ".nir":
        try:
            from spikemesh.frontend import load as load_nir
        except ImportError:
            raise FrontendError("NIR import is not available in this build", node=str(p)) from None
        return load_nir(p)
    return Graph.load(p)


def compile(graph: Graph | str | Path, target_spec: str | Path | Target = "tianjic", *, progress: bool = False,
            **options: Any) -> Program:
    """Compile ``graph`` for ``target_spec`` (a preset name, ``name:AxB``, a TOML path or a Target).

    Options: ``seed`` (int, default 0), ``time_limit`` (seconds per solver call, default 10), ``quantize``
    (default True: integer weights and states at the target's bit widths), plus the options of each stage.
    Returns a Program whose ``report["time"]`` holds seconds per stage that ran.
    """
    g = graph if isinstance(graph, Graph) else load_model(graph)
    t = target(target_spec)
    opts = {**DEFAULTS, **options}
    program = Program(graph=g, target=t, options=opts,
                      report={"target": {"name": t.name, "family": t.family, **resources_summary(t)}})
    times: dict[str, float] = {}
    run = _progress(progress)
    for name, stage in run(STAGES):
        t0 = time.perf_counter()
        before = program
        program = stage(program, opts)
        if program is not before:  # stages for other target families pass the program through untouched
            times[name] = round(time.perf_counter() - t0, 6)
    return program.with_report(time=times)


def _progress(enabled: bool) -> Callable[[list[tuple[str, Stage]]], Any]:
    if not enabled:
        return iter
    from rich.progress import track

    def run(stages: list[tuple[str, Stage]]) -> Any:
        return track(stages, description="compiling", transient=True)

    return run
