"""Engine entry points registered in ``spikemesh.simulate.ENGINES``: ``fast`` (a Graph or a Program) and
``cycle`` (a Program with partition, placement and routes sections). Both add counts, energy and NeuroBench
metrics to ``SimResult.stats`` (the ``simulation`` entry of report.json, docs/report.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spikemesh.errors import SimulationError
from spikemesh.ir.graph import Graph
from spikemesh.ir.result import SimResult, make_summary
from spikemesh.simulator.arrays import FlatGraph
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
                     extra: Actions | None = None, v: dict[str, np.ndarray] | None = None,
                     step_inputs: Any = None, spike_events: Any = None) -> dict[str, Any]:
    """Action counts, energy (when a target is known) and NeuroBench metrics of one run; ``extra``: the NoC
    actions and simulated seconds of the cycle engine. When the target prices active neuron updates apart
    (``neuron_update_active_pj``), ``v`` (the run's traces) and ``step_inputs`` (its ``io.StepInputs``) give the
    action ``neuron_update_active`` (simulator/activity.py; ``spike_events``: the run's spikes as events, which
    spares reading them back from the rasters)."""
    wbits = target.core.weight_bits if target is not None else 8
    acts = count_actions(flat, sends, steps, batch, wbits, partition, getattr(extra, "fanout", None))
    note = None
    if target is not None and target.energy.neuron_update_active_pj is not None and step_inputs is not None:
        from spikemesh.simulator.activity import active_actions, active_updates

        active, note = active_updates(flat, spikes, v or {}, step_inputs, steps, batch, spike_events)
        per_core, per_layer = active_actions(flat, active, partition)
        acts.add("neuron_update_active", per_core)
        acts.layers["neuron_update_active"] = per_layer
    if extra is not None:
        for k, v in extra.counts.items():
            acts.add(k, v)
        acts.seconds = extra.seconds
    out: dict[str, Any] = {"actions": acts.totals(), "metrics": neurobench(graph, flat, sends, spikes, steps, batch,
                                                                          binary_inputs)}
    if target is not None:
        out["energy"] = energy(acts, target.energy).to_dict()
    if note:
        out["notes"] = {"neuron_update_active": note}
    return out


def _summary(res: SimResult, batch: int, target: Target | None, **kw: Any) -> dict[str, Any]:
    acts = res.stats["actions"]
    spikes = res.stats["metrics"]["spikes_per_layer"]  # = res.spike_counts() (boolean rasters), counted once
    sm = make_summary(engine=res.engine, steps=res.steps, batch=batch, spikes_per_layer=spikes,
                      synops=acts["synop"], neuron_updates=acts["neuron_update"], energy=res.stats.get("energy"),
                      energy_note=None if target is not None else "no target: pass target= (or a Program)", **kw)
    sm["notes"].update(res.stats.get("notes", {}))
    if res.engine == "fast" and sm["energy_per_inference_uJ"] is not None and target is not None \
            and target.family == "mesh":
        sm["notes"]["energy_scope"] = ("compute only: the fast engine models no NoC; engine 'cycle' adds packets, "
                                       "router hops and inter-chip bits")
    return sm


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
                                      getattr(program, "partition", None) if program is not None else None,
                                      v=res.v, step_inputs=run.inputs, spike_events=run.spike_events))
    res.stats["summary"] = _summary(res, run.inputs.batch, tgt, time_model="none",
                                    latency_note="the fast engine is functional (no time model): use engine='cycle'")
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
                                      run.binary_inputs(), program.target, program.partition, extra=acts,
                                      v=res.v, step_inputs=run.inputs, spike_events=run.spike_events))
    noc = res.stats["noc"]
    cyc = noc["latency_cycles_per_sample"]
    res.stats["summary"] = _summary(res, run.inputs.batch, program.target, time_model="cycles",
                                    latency_s=float(np.mean(noc["latency_s_per_sample"])) if cyc else 0.0,
                                    latency_cycles=float(np.mean(cyc)) if cyc else 0.0, seconds=acts.seconds)
    return res
