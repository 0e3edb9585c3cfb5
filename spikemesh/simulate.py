"""``simulate``: run a Graph or a compiled Program on one of the engines (DESIGN §6)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from spikemesh.errors import SimulationError
from spikemesh.ir.graph import Graph
from spikemesh.ir.reference import run_reference
from spikemesh.ir.result import SimResult


def _reference(subject: Any, inputs: Any, record: Sequence[str] | None, **kw: Any) -> SimResult:
    from spikemesh.simulator.io import as_dense_inputs

    graph = subject if isinstance(subject, Graph) else subject.graph
    return run_reference(graph, as_dense_inputs(graph, inputs), record=record, **kw)


def _fast(subject: Any, inputs: Any, record: Sequence[str] | None, **kw: Any) -> SimResult:
    from spikemesh.simulator.engine import run_fast_engine

    return run_fast_engine(subject, inputs, record, **kw)


def _cycle(subject: Any, inputs: Any, record: Sequence[str] | None, **kw: Any) -> SimResult:
    from spikemesh.simulator.engine import run_cycle_engine

    return run_cycle_engine(subject, inputs, record, **kw)


#: engine name -> runner(graph_or_program, inputs, record, **options)
def _async(subject: Any, inputs: Any, record: Sequence[str] | None, **kw: Any) -> SimResult:
    from spikemesh.simulator.cores.async_core import run_async

    return run_async(subject, inputs, record, **kw)


ENGINES: dict[str, Callable[..., SimResult]] = {"reference": _reference, "fast": _fast, "cycle": _cycle,
                                                "async": _async}


def _training(subject: Any, inputs: Any, record: Sequence[str] | None, **kw: Any) -> SimResult:
    from spikemesh.simulator.cores.training.loop import run_fp

    return run_fp(subject, inputs, record=record, **kw)


ENGINES["training"] = _training  # the training engine's FP pass (float32)


def _crossbar(subject: Any, inputs: Any, record: Sequence[str] | None, **kw: Any) -> SimResult:
    from spikemesh.simulator.cores.crossbar.engine import run_crossbar_engine

    return run_crossbar_engine(subject, inputs, record, **kw)


ENGINES["crossbar"] = _crossbar  # memristor crossbar tiles (spikemesh/simulator/cores/crossbar)


def simulate(subject: Any, inputs: Any, engine: str = "reference", record: Sequence[str] | None = None,
             **options: Any) -> SimResult:
    """Run ``subject`` (an ir.Graph or a Program) on ``inputs``.

    ``inputs``: an array ``[T, B, *input_shape]`` for a graph with one input (binary spikes, integer counts
    or real currents), or a dict input name -> array. ``record``: populations whose membrane traces go into
    ``SimResult.v``. Returns a SimResult with ``spikes[name]`` of shape ``[T, B, *shape]``.

    Engines: ``reference`` (golden NumPy executor), ``fast`` (Numba event-driven, same spikes; options ``mode``,
    ``traces``, ``progress``, ``specialize``, ``target`` for energy on a bare graph), ``cycle`` (a Program with
    partition/placement/routes: NoC timing, latency and energy; spikes equal reference). ``inputs`` may also be a
    ``spikemesh.simulator.io.StepInputs`` (sparse per-step values).
    """
    if engine not in ENGINES:
        raise SimulationError(f"unknown engine {engine!r}", node="simulate", needed="one of " + ", ".join(ENGINES),
                              available=engine, hint="use engine='reference'")
    return ENGINES[engine](subject, inputs, record, **options)
