"""Engine entry points registered in ``spikemesh.simulate.ENGINES``: ``fast`` (a Graph or a Program) and
``cycle`` (a Program with partition, placement and routes sections). Both add counts, energy and NeuroBench
metrics to ``SimResult.stats`` (the ``simulation`` entry of report.json, docs/report.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spikemesh.errors import SimulationError
from spikemesh.ir.graph import Graph
from spikemesh.ir.result import SimResult
from spikemesh.simulator.arrays import FlatGraph, neuron_cores
from spikemesh.simulator.energy import Actions, count_actions, energy
from spikemesh.simulator.fast import run_fast_detailed
from spikemesh.simulator.neurobench import neurobench
from spikemesh.target.model import Target


def _split(subject: Any) -> tuple[Graph, Any]:
    if isinstance(subject, Graph):
        return subject, None
    graph = getattr(subject, "graph", None)
    if not isinstance(graph, Graph):
        raise SimulationError("cannot simulate this object", node=type(subject).__name__,
                              needed="an ir.Graph or a Program", available=type(subject).__name__)
    return graph, subject


def simulation_stats(graph: Graph, flat: FlatGraph, sends: np.ndarray, spikes: dict[str, np.ndarray], steps: int,
                     batch: int, binary_inputs: set[str], target: Target | None, partition: Any = None,
                     extra: Actions | None = None) -> dict[str, Any]:
    """Action counts, energy (when a target is known) and NeuroBench metrics of one run."""
    core, n_cores = None, 1
    if partition is not None:
        core, n_cores = neuron_cores(flat, partition), len(partition.cores)
        core = np.where(core < 0, 0, core)  # input elements: their synapses still land on neuron cores
    wbits = target.core.weight_bits if target is not None else 8
    acts = count_actions(flat, sends, steps, batch, wbits, core, n_cores)
    if extra is not None:
        for k, v in extra.counts.items():
            acts.add(k, v)
        acts.seconds = extra.seconds
    out: dict[str, Any] = {"actions": acts.totals(), "metrics": neurobench(graph, flat, sends, spikes, steps, batch,
                                                                          binary_inputs)}
    if target is not None:
        out["energy"] = energy(acts, target.energy).to_dict()
        out["energy"]["by_layer_pj"] = layer_energy(flat, sends, steps, batch, wbits, target, partition, extra)
    return out


def layer_energy(flat: FlatGraph, sends: np.ndarray, steps: int, batch: int, weight_bits: int, target: Target,
                 partition: Any = None, extra: Actions | None = None) -> dict[str, float]:
    """Dynamic energy (pJ) per graph node name (populations, and inputs for what their source cores spend):
    synaptic events are charged to the layer of the target neuron, neuron updates to their own layer, and the
    per-core ``extra`` actions (NoC) to the first layer of the core they are charged to."""
    names = list(flat.order)
    node = np.zeros(flat.n, dtype=np.int64)
    for k, name in enumerate(names):
        a, b = flat.node_range(name)
        node[a:b] = k
    acts = count_actions(flat, sends, steps, batch, weight_bits, node, len(names))
    if extra is not None and partition is not None:
        core_node = np.array([names.index(c.layers[0]) if c.layers and c.layers[0] in names else 0
                              for c in partition.cores], dtype=np.int64)
        for k, per_core in extra.counts.items():
            per_core = np.asarray(per_core)
            acts.add(k, np.bincount(core_node[:len(per_core)], weights=per_core.astype(np.float64),
                                    minlength=len(names)))
    by_node = energy(acts, target.energy).by_core
    return {name: float(by_node[k]) for k, name in enumerate(names)}


def run_fast_engine(subject: Any, inputs: Any, record: Sequence[str] | None = None, target: Any = None,
                    **kw: Any) -> SimResult:
    """``fast`` engine on a Graph or Program. Options of ``run_fast_detailed`` (mode, traces, progress);
    ``target`` (a Target or preset name) prices the actions when ``subject`` is a bare Graph."""
    from spikemesh.target.registry import target as resolve

    graph, program = _split(subject)
    run = run_fast_detailed(graph, inputs, record=record, **kw)
    tgt = program.target if program is not None else (resolve(target) if target is not None else None)
    res = run.result
    res.stats.update(simulation_stats(graph, run.flat, run.sends, res.spikes, res.steps, run.inputs.batch,
                                      run.binary_inputs(), tgt,
                                      getattr(program, "partition", None) if program is not None else None))
    return res


def run_cycle_engine(subject: Any, inputs: Any, record: Sequence[str] | None = None, **kw: Any) -> SimResult:
    """``cycle`` engine on a Program with partition, placement and routes (cycle.py); options mode, progress,
    specialize."""
    from spikemesh.simulator.cycle import run_cycle

    graph, program = _split(subject)
    if program is None:
        raise SimulationError("the cycle engine needs a compiled Program, not a bare graph", node="simulate",
                              hint="spikemesh.compile(graph, target) first, or use engine='fast'")
    kw.pop("target", None)
    res, run, acts = run_cycle(program, inputs, record=record, **kw)
    res.stats.update(simulation_stats(graph, run.flat, run.sends, res.spikes, res.steps, run.inputs.batch,
                                      run.binary_inputs(), program.target, program.partition, extra=acts))
    return res
