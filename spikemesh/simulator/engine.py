"""Engine entry points registered in ``spikemesh.simulate.ENGINES``: ``fast`` (a Graph or a Program) and
``cycle`` (a Program with partition, placement and routes sections). Both add counts, energy and NeuroBench
metrics to ``SimResult.stats`` (the ``simulation`` entry of report.json, docs/report.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spikemesh.errors import SimulationError
from spikemesh.ir.graph import Graph
from spikemesh.ir.result import SimResult
from spikemesh.simulator.fast import run_fast


def _split(subject: Any) -> tuple[Graph, Any]:
    if isinstance(subject, Graph):
        return subject, None
    graph = getattr(subject, "graph", None)
    if not isinstance(graph, Graph):
        raise SimulationError("cannot simulate this object", node=type(subject).__name__,
                              needed="an ir.Graph or a Program", available=type(subject).__name__)
    return graph, subject


def run_fast_engine(subject: Any, inputs: Any, record: Sequence[str] | None = None, **kw: Any) -> SimResult:
    """``fast`` engine on a Graph or Program; options of ``run_fast`` (mode, traces, progress)."""
    graph, program = _split(subject)
    return run_fast(graph, inputs, record=record, **kw)


def run_cycle_engine(subject: Any, inputs: Any, record: Sequence[str] | None = None, **kw: Any) -> SimResult:
    raise SimulationError("the cycle engine is not available yet", node="simulate", hint="use engine='fast'")
