"""``compile``: run the stage list of the target's family in order, time each stage, and collect the report.

Each stage is a function ``(program, options) -> program`` that adds its own section and report entry; no stage
reaches into another's internals. The families and their stage lists are in ``spikemesh.backends``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from spikemesh.backends import Stage, family_stages
from spikemesh.errors import FileFormatError, FrontendError, PartitionError, SpikemeshError
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
    return Graph.load(p)


def compile(graph: Graph | str | Path, target: str | Path | Target = "tianjic", *, progress: bool = False,
            **options: Any) -> Program:
    """Compile ``graph`` (a Graph or a model file) for ``target`` (a preset name, ``name:AxB``, a TOML path or a
    Target) with the stages of the target's family.

    Options are the fields of ``spikemesh.options.CompileOptions`` (``seed``, ``time_limit`` in seconds per
    solver call, ``quantize``, ``strategy``, ``placer``, ``routing``, the speck options...); an unknown option
    is an error. Returns a Program whose ``report["time"]`` holds seconds per stage that ran.
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
    for name, stage in _progress(progress)(stages):
        t0 = time.perf_counter()
        before = program
        program = stage(program, opts)
        if program is not before:  # a stage with nothing to do (e.g. no quantization asked) passes it through
            times[name] = round(time.perf_counter() - t0, 6)
    return program.with_report(time=times)


def check_fits(g: Graph, t: Target) -> None:
    """Refuse, before any expensive stage, a graph that cannot fit ``t`` by a cheap lower bound: every neuron of
    a population takes a neuron slot of some core (the training family maps layers in time and is not bounded)."""
    if t.family == "trainer":
        return
    available = resources_summary(t)["neurons"]
    if g.n_neurons > available:
        raise PartitionError("the model has more neurons than the target", node=t.name,
                             needed=f"{g.n_neurons:,} neurons", available=f"{available:,} neurons on {t.n_cores:,} "
                             "cores", hint="use a grid of chips (NAME:AxB) or a larger target, or a smaller model")


def _progress(enabled: bool) -> Callable[[Iterable[tuple[str, Stage]]], Any]:
    if not enabled:
        return iter
    from rich.progress import track

    def run(stages: Iterable[tuple[str, Stage]]) -> Any:
        return track(list(stages), description="compiling", transient=True)

    return run
