"""``compile``: run the stage list of the target's family in order, time each stage, and collect the report.

Each stage is a function ``(program, options) -> program`` that adds its own section and report entry; no stage
reaches into another's internals. The families and their stage lists are in ``spikemesh.backends``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from spikemesh.backends import Stage, family_budget, family_stages
from spikemesh.budget import Budget
from spikemesh.errors import FileFormatError, FrontendError, SpikemeshError
from spikemesh.fileio import BUILD_MARKER, is_build
from spikemesh.ir.graph import Graph
from spikemesh.options import CompileOptions
from spikemesh.program import Program
from spikemesh.target import Target, resources_summary
from spikemesh.target import target as find_target


def load_model(path: str | Path) -> Graph:
    """Read a model file: a spikemesh graph archive (``.smg``/``.npz``) or a NIR file (``.nir``)."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise FileFormatError("a model file must be a path", node="load_model", needed="str | Path",
                              available=type(path).__name__)
    p = Path(path)
    if p.suffix == ".nir":
        try:
            from spikemesh.frontend import load as load_nir
        except ImportError:
            raise FrontendError("NIR import is not available in this build", node=str(p)) from None
        return load_nir(p)
    build = p if p.is_dir() else p.parent if p.name == BUILD_MARKER else None
    if build is not None and is_build(build):
        raise FileFormatError("this is a build directory, not a model file", node=str(p),
                              needed="a model file (.smg, .npz or .nir)", available=f"the build {build}",
                              hint=f"simulate or inspect it as it is (spikemesh simulate {build} ...), or compile "
                                   f"its model again: spikemesh.Program.load('{build}').graph")
    return Graph.load(p)


def compile(graph: Graph | str | Path, target: str | Path | Target = "tianjic", *, progress: bool = False,
            **options: Any) -> Program:
    """Compile ``graph`` (a Graph or a model file) for ``target`` (a preset name, ``name:AxB``, a TOML path or a
    Target) with the stages of the target's family.

    Options are the fields of ``spikemesh.options.CompileOptions`` (``seed``, ``time_limit`` in seconds for all
    solver calls of the compile together, ``quantize``, ``strategy``, ``placer``, ``routing``, the speck
    options...); an unknown option is an error. Each stage runs with ``time_limit`` = its grant from the shared
    budget (spikemesh.budget). Returns a Program whose ``report["time"]`` holds seconds per stage that ran and
    ``report["budget"]`` the time limit's grants, spending and status per stage.
    """
    if not isinstance(graph, Graph | str | os.PathLike) or (isinstance(graph, str) and not graph):
        raise SpikemeshError("compile needs a Graph or a model file path", node="compile",
                             needed="spikemesh.ir.Graph | str | Path", available=type(graph).__name__)
    opts = CompileOptions.of(options)
    g = graph if isinstance(graph, Graph) else load_model(graph)
    t = find_target(target)
    check_fits(g, t)
    stages = family_stages(t.family)
    program = Program(graph=g, target=t, options=opts,
                      report={"target": {"name": t.name, "family": t.family, **resources_summary(t)}})
    times: dict[str, float] = {}
    budget = Budget(float(opts.time_limit), family_budget(t.family))
    for name, stage in _progress(progress)(stages):
        t0 = time.perf_counter()
        before = program
        grant = budget.grant(name)
        program = stage(program, replace(opts, time_limit=grant))
        if program is not before:  # a stage with nothing to do (e.g. no quantization asked) passes it through
            times[name] = round(time.perf_counter() - t0, 6)
            entry = program.report.get(REPORT_KEY.get(name, name))
            budget.record(name, grant, entry.get("budget") if isinstance(entry, dict) else None)
    return program.with_report(time=times, budget=budget.report())


#: report.json entry of a stage whose name differs from it (a stage reports its budget there, key "budget")
REPORT_KEY = {"place": "placement", "route": "routing"}


def check_fits(g: Graph, t: Target) -> None:
    """Refuse, before any expensive stage, a graph that cannot fit ``t`` by a cheap lower bound: every neuron of
    a population takes a neuron slot of some core (the training family maps layers in time and is not bounded).
    Raises PartitionInfeasible with the minimum cores, chips and grid, as the partition stage would."""
    if t.family == "trainer":
        return
    available = resources_summary(t)["neurons"]
    if g.n_neurons <= available:
        return
    import math

    from spikemesh.partition.resources import PartitionInfeasible  # only on this path: keeps a Speck compile light

    per_core = max(s.neurons for s in (t.cores or (t.core,)))
    cores = math.ceil(g.n_neurons / per_core)
    chips = math.ceil(cores / t.cores_per_chip)
    side = math.ceil(math.sqrt(chips))
    base = t.name.split(":")[0]
    raise PartitionInfeasible(
        "the model has more neurons than the target", min_cores=cores, min_chips=chips, min_grid=(side, side),
        node=t.name, needed=f"{g.n_neurons:,} neurons (at least {cores:,} cores, {chips:,} chips)",
        available=f"{available:,} neurons on {t.n_cores:,} cores",
        hint=f"use --target {base}:{side}x{side} or larger, or a smaller model")


def _progress(enabled: bool) -> Callable[[Iterable[tuple[str, Stage]]], Any]:
    """With ``enabled`` and stderr a terminal: a transient line naming the running stage with the elapsed time;
    otherwise nothing is printed."""
    import sys

    if not enabled or not sys.stderr.isatty():
        return iter
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    def run(stages: Iterable[tuple[str, Stage]]) -> Any:
        items = list(stages)
        with Progress(TextColumn("compiling: [bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(items[0][0] if items else "", total=len(items))
            for name, stage in items:
                bar.update(task, description=name)
                yield name, stage
                bar.advance(task)

    return run
