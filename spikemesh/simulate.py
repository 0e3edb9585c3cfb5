"""``simulate``: run a Graph or a compiled Program on one of the engines.

Engines: ``reference`` (the golden NumPy executor, spikemesh.ir.reference), ``fast`` and ``cycle``
(spikemesh.simulator), ``async`` (Speck, spikemesh.backends.speck), ``crossbar`` (spikemesh.backends.crossbar),
``trainer`` (the training chip's forward pass, spikemesh.trainer). Each engine's module is imported only when it
runs.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from typing import Any

from spikemesh.errors import SimulationError
from spikemesh.ir.graph import Graph
from spikemesh.ir.reference import run_reference
from spikemesh.ir.result import SimResult


def _reference(subject: Any, inputs: Any, record: Sequence[str] | None, **kw: Any) -> SimResult:
    from spikemesh.simulator.io import as_dense_inputs

    graph = subject if isinstance(subject, Graph) else subject.graph
    return run_reference(graph, as_dense_inputs(graph, inputs), record=record, **kw)


#: engine name -> "module:function" running (graph_or_program, inputs, record, **options)
ENGINES: dict[str, str] = {
    "reference": "spikemesh.simulate:_reference",
    "fast": "spikemesh.simulator.runners:run_fast_engine",
    "cycle": "spikemesh.simulator.runners:run_cycle_engine",
    "async": "spikemesh.backends.speck.async_engine:run_async",
    "crossbar": "spikemesh.backends.crossbar.engine:run_crossbar_engine",
    "trainer": "spikemesh.trainer.loop:run_fp",
}

#: engine names of earlier releases -> their name now
RENAMED = {"training": "trainer"}


def simulate(subject: Any, inputs: Any, engine: str = "reference", record: Sequence[str] | None = None,
             **options: Any) -> SimResult:
    """Run ``subject`` (an ir.Graph or a Program) on ``inputs``.

    ``inputs``: an array ``[T, B, *input_shape]`` for a graph with one input (binary spikes, integer counts
    or real currents), or a dict input name -> array. ``record``: populations whose membrane traces go into
    ``SimResult.v``. Returns a SimResult with ``spikes[name]`` of shape ``[T, B, *shape]``.

    Engines: ``reference`` (golden NumPy executor), ``fast`` (Numba event-driven, same spikes; options ``mode``,
    ``traces``, ``progress``, ``specialize``, ``delivery``, ``target`` for energy on a bare graph), ``cycle`` (a
    Program with partition/placement/routes: NoC timing, latency and energy; spikes equal reference;
    ``source="config"`` runs the mesh configuration alone instead, docs/config.md), ``async`` (a Speck Program),
    ``crossbar`` (a crossbar Program or graph), ``trainer`` (float32 forward pass of the training chip). ``inputs``
    may also be a ``spikemesh.simulator.io.StepInputs`` (sparse per-step values).
    """
    if not isinstance(engine, str):
        raise SimulationError("engine must be a name", node="simulate", needed="one of " + ", ".join(ENGINES),
                              available=type(engine).__name__)
    if engine in RENAMED:
        warnings.warn(f"engine {engine!r} is now called {RENAMED[engine]!r}", DeprecationWarning, stacklevel=2)
        engine = RENAMED[engine]
    if engine not in ENGINES:
        import difflib

        close = difflib.get_close_matches(engine, list(ENGINES), n=1)
        raise SimulationError(f"unknown engine {engine!r}", node="simulate", needed="one of " + ", ".join(ENGINES),
                              available=engine, hint=f"did you mean engine={close[0]!r}?" if close else
                              "use engine='reference'")
    check_run(subject, inputs, record)
    spec = ENGINES[engine]
    if engine == "cycle":  # source="config": the Program's mesh configuration alone (docs/config.md)
        if options.pop("source", "program") == "config":
            spec = "spikemesh.backends.mesh.engine:run_config_engine"
    module, _, func = spec.partition(":")
    result = getattr(importlib.import_module(module), func)(subject, inputs, record, **options)
    if isinstance(result, SimResult) and result.dt is None:
        graph = subject if isinstance(subject, Graph) else getattr(subject, "graph", None)
        result.dt = getattr(graph, "dt", None)
    return result


def check_run(subject: Any, inputs: Any, record: Sequence[str] | None = None) -> None:
    """The checks every engine shares, before any engine allocates: ``subject`` is a Graph or a Program, the
    inputs are valid (``normalize_inputs``' rules), ``record`` names populations, and the spike and trace arrays
    of the run fit in memory."""
    from spikemesh.checks import memory
    from spikemesh.ir.reference import check_input_values, input_array, normalize_inputs
    from spikemesh.simulator.io import StepInputs

    graph = subject if isinstance(subject, Graph) else getattr(subject, "graph", None)
    if not isinstance(graph, Graph):
        hint = ("load it first: spikemesh.load_model(path) or spikemesh.Program.load(dir)"
                if isinstance(subject, str) or hasattr(subject, "__fspath__") else None)
        raise SimulationError("simulate needs a Graph or a Program", node="simulate",
                              needed="spikemesh.Graph | spikemesh.Program", available=type(subject).__name__, hint=hint)
    if record is not None:
        if isinstance(record, str) or not all(isinstance(r, str) for r in record):
            raise SimulationError("record must be a list of population names", node="simulate",
                                  available=repr(record)[:80])
        bad = [r for r in record if r not in graph.population]
        if bad:
            raise SimulationError(f"cannot record {bad[0]!r}: not a population", node="simulate",
                                  needed="one of " + ", ".join(graph.population), available=bad[0])
    dvs = None if isinstance(subject, Graph) else getattr(getattr(subject, "config", None), "dvs", None)
    if isinstance(inputs, StepInputs):
        steps, batch = inputs.steps, inputs.batch
    elif dvs is not None and getattr(dvs, "sensor", False):  # raw sensor events: the engine checks their shape
        x = input_array(inputs, "sensor events")
        check_input_values(x, "sensor events")
        steps, batch = (x.shape[0], x.shape[1]) if x.ndim >= 2 else (1, 1)
    else:
        _, steps, batch = normalize_inputs(graph, inputs)
    per_step = graph.n_neurons * (2 + len(record or ()))  # spikes, state and recorded traces
    memory(8.0 * steps * batch * per_step, f"a run of {steps:,} steps x {batch:,} samples", "simulate",
           SimulationError, hint="simulate fewer steps or a smaller batch")
