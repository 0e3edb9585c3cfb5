"""The ``crossbar`` engine: every projection's weighted op (Dense / Sparse / Conv via im2col) runs on memristor
arrays; spikes (or bit-serial multi-bit inputs) drive rows, column values are digitised, shift-added over bit
slices, added over row tiles and integrated by the digital neurons of the reference semantics (docs/semantics.md).

With every non-ideality off the result equals ``run_reference`` spike for spike on integer graphs. Non-idealities
(devices.DeviceModel, IR drop, ADC/DAC resolution) are seeded: one ``seed`` fixes programming, drift and faults.
Counts per action and per (step, sample): row_drive, cell_read, adc_conversion, shift_add, digital_accumulate,
neuron_update; × CrossbarEnergy → pJ per sample, by layer and by partition core (each array group's actions on
its core, each neuron's updates on the core holding it: ``counts_by_core``), and dense-equivalent ops / pJ =
TOPS/W. The arrays and their step-by-step run are ``array_sim.py``; this module is the engine's entry point, its
energy, early stop and summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from spikemesh.backends.crossbar import devices as dev
from spikemesh.backends.crossbar.array_sim import ACTIONS, CrossbarSimulator, dense_ops_per_step
from spikemesh.backends.crossbar.config import CrossbarProgram
from spikemesh.backends.crossbar.peripherals import adc_bits_needed
from spikemesh.backends.crossbar.target import CrossbarConfig, crossbar_config
from spikemesh.backends.crossbar.tiling import MappedLayer, map_graph
from spikemesh.errors import SimulationError
from spikemesh.ir.graph import Graph
from spikemesh.ir.reference import run_reference
from spikemesh.ir.result import SimResult, make_summary
from spikemesh.ir.result import fidelity as fidelity_of
from spikemesh.target.model import Target
from spikemesh.target.registry import target as get_target


def energy_pj(counts: np.ndarray, cfg: CrossbarConfig, adc_bits: int) -> dict[str, np.ndarray]:
    """pJ per action and per (step, sample) from ``counts`` [len(ACTIONS), T, B]."""
    unit = energy_pj_unit(cfg, adc_bits)
    return {a: counts[i] * unit[a] for i, a in enumerate(ACTIONS)}


def early_stop_steps(output: np.ndarray, alpha: float = 2.0, threshold: float = 0.8) -> np.ndarray:
    """PRIME's input-aware early stop (Wang et al., Sci. Adv. 11, eads5340, 2025; ``ConvNet_ee`` in the authors' code,
    github.com/bo-wang-up/PRIME): per sample, the number of steps until
    softmax(running mean of the outputs / α) has top-1 probability > ``threshold`` (T when never). ``output``
    [T, B, n_classes] (spikes or states)."""
    out = np.asarray(output, dtype=np.float64)
    T = out.shape[0]
    mean = np.cumsum(out, axis=0) / np.arange(1, T + 1)[:, None, None]
    z = mean / alpha
    z = z - z.max(axis=2, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=2, keepdims=True)
    hit = p.max(axis=2) > threshold  # [T, B]
    first = np.where(hit.any(0), hit.argmax(0) + 1, T)
    return first.astype(np.int64)


def run_crossbar_engine(subject: Any, inputs: Any, record: Sequence[str] | None = None, *,
                        target: str | Target | None = None, config: dict[str, Any] | None = None,
                        device: dev.DeviceModel | dict[str, Any] | None = None, ir_drop: bool = False,
                        seed: int = 0, early_stop: dict[str, float] | None = None, fidelity: bool = True
                        ) -> SimResult:
    """Run a Graph (with a crossbar ``target``, default preset ``crossbar``) or a Program compiled for a crossbar
    target. ``config``: overrides of the target's [extra.crossbar] keys; ``device``: a DeviceModel or its fields;
    ``early_stop``: {"alpha": 2, "threshold": 0.8} enables PRIME's per-sample stop (energy counted to the stop);
    ``fidelity``: also run the reference on the same input and report the distance in ``summary()["fidelity"]``."""
    compiled = None
    if isinstance(subject, Graph):
        graph, tgt = subject, get_target(target or "crossbar")
    elif isinstance(getattr(subject, "graph", None), Graph):
        graph, tgt = subject.graph, get_target(target) if target is not None else subject.target
        compiled = subject.sections.get("config") if target is None else None
    else:
        raise SimulationError("cannot simulate this object", node=type(subject).__name__,
                              needed="an ir.Graph or a Program", available=type(subject).__name__)
    layers = None
    if isinstance(compiled, CrossbarProgram):  # a compiled Program: program the arrays from its emitted levels
        fixed = sorted(set(config or {}) & LAYOUT_KEYS)
        if fixed:
            raise SimulationError("these keys fix the compiled tiling and cannot be overridden at run time",
                                  node=fixed[0], available=fixed, hint="compile again with a target that sets them")
        cfg = crossbar_config(replace(tgt, extra={**tgt.extra, "crossbar": compiled.crossbar}), **(config or {}))
        layers = compiled.mapped_layers(graph, cfg)
        _check_layers(graph, cfg, layers)
    else:
        cfg = crossbar_config(tgt, **(config or {}))
    if isinstance(device, dict):
        device = replace(dev.DeviceModel(), **device)
    sim = CrossbarSimulator(graph, cfg, device, ir_drop=ir_drop, seed=seed, layers=layers)
    res, counts = sim.run(inputs, record, per_step_tiles=early_stop is not None)
    T, B = counts.shape[1:]
    steps = np.full(B, T, dtype=np.int64)
    if early_stop is not None:
        if res.output is None:
            raise SimulationError("early stop needs an output node", node="early_stop")
        steps = early_stop_steps(res.output.reshape(T, B, -1), **early_stop)
    used = (np.arange(T)[:, None] < steps[None, :]).astype(np.float64)  # [T, B]
    counts_used = counts * used[None]
    adc_bits = cfg.adc_bits if cfg.adc_bits is not None else adc_bits_needed(
        cfg.rows_parallel * cfg.levels, cfg.scheme == "differential")
    pj = energy_pj(counts_used, cfg, adc_bits)
    total_pj = sum(v.sum() for v in pj.values())
    ops = dense_ops_per_step(sim) * float(used.sum())
    res.stats = {
        "actions": {a: int(round(counts_used[i].sum())) for i, a in enumerate(ACTIONS)},
        "energy": {"total_pj": float(total_pj), "by_action_pj": {a: float(v.sum()) for a, v in pj.items()},
                   "per_sample_pj": float(total_pj / B)},
        "tops_per_w": float(ops / total_pj) if total_pj > 0 else 0.0,
        "dense_ops": ops,
        "steps_used": steps.tolist(),
        "mean_steps": float(steps.mean()),
        "mapping": mapping_by_population(graph, sim.layers),
        "arrays": int(sum(layer.arrays for layer in sim.layers.values())),
        "drift_alpha": sim.alpha,
        "adc_bits": adc_bits,
        "config": cfg.to_dict(),
        "compiled": compiled is not None and isinstance(compiled, CrossbarProgram),
    }
    if isinstance(compiled, CrossbarProgram):
        res.stats["cores"] = len(compiled.tiles)
    by_layer = {name: float(sum((c * used[None])[i].sum() * energy_pj_unit(cfg, adc_bits)[a]
                                for i, a in enumerate(ACTIONS)))
                for name, c in sim.layer_counts.items()}
    core_counts = counts_by_core(graph, cfg, sim, used)
    res.stats["actions_by_core"] = {a: core_counts[i].tolist() for i, a in enumerate(ACTIONS)}
    unit = energy_pj_unit(cfg, adc_bits)
    res.stats["energy"]["by_core_pj"] = [float(sum(core_counts[i, c] * unit[a] for i, a in enumerate(ACTIONS)))
                                         for c in range(core_counts.shape[1])]
    res.stats["summary"] = crossbar_summary(graph, res, inputs, B, res.stats, by_layer,
                                            reference=run_reference(graph, inputs) if fidelity else None)
    return res


def counts_by_core(graph: Graph, cfg: CrossbarConfig, sim: CrossbarSimulator, used: np.ndarray) -> np.ndarray:
    """Action counts per partition core [len(ACTIONS), n_cores] over the used (step, sample) cells ``used``
    [T, B]: the array actions of each array group on its core (``tiles.tiles_of`` numbering, as
    ``crossbar_partition``), each neuron's updates on the core holding its state (``tiles.population_cores``: the
    row-tile-0 group of its column tile, or a digital core after the groups)."""
    from spikemesh.backends.crossbar.tiles import population_cores, tiles_of

    tiles = tiles_of(sim.layers, cfg, graph)
    neuron_core, digital = population_cores(graph, cfg, sim.layers, tiles)
    n_cores = len(tiles) + len(digital)
    tc = sim.tile_counts
    per_group = (tc * used[None, None]).sum((2, 3)) if tc.shape[2] == used.shape[0] else tc.sum((2, 3))
    out = np.zeros((len(ACTIONS), n_cores))
    out[:, :len(tiles)] = per_group
    updates = float(used.sum())  # every neuron is updated in every used (step, sample)
    k = ACTIONS.index("neuron_update")
    for cores in neuron_core.values():
        out[k] += np.bincount(np.asarray(cores, dtype=np.int64), minlength=n_cores) * updates
    return out


def mapping_by_population(graph: Graph, layers: dict[str, MappedLayer]) -> dict[str, dict[str, Any]]:
    """Array mapping per target population (the per-layer key of every engine's statistics): the summary of its
    crossbar projection with ``projection`` naming it, or, for a population fed by several, ``projections`` (one
    summary each, with its name) and the summed ``arrays``."""
    per_pop: dict[str, list[dict[str, Any]]] = {}
    for proj in graph.projections:
        if proj.name in layers:
            per_pop.setdefault(proj.target, []).append({**layers[proj.name].summary(), "projection": proj.name})
    out: dict[str, dict[str, Any]] = {}
    for pop, items in per_pop.items():
        out[pop] = items[0] if len(items) == 1 else {"projections": items,
                                                     "arrays": int(sum(int(i["arrays"]) for i in items))}
    return out


def energy_pj_unit(cfg: CrossbarConfig, adc_bits: int) -> dict[str, float]:
    """pJ per count of each crossbar action."""
    e = cfg.energy
    return {"row_drive": e.row_drive_pj, "cell_read": e.cell_read_pj, "adc_conversion": e.adc(adc_bits),
            "shift_add": e.shift_add_pj, "digital_accumulate": e.digital_accumulate_pj,
            "neuron_update": e.neuron_update_pj}


def crossbar_summary(graph: Graph, res: SimResult, inputs: Any, batch: int, stats: dict[str, Any],
                     by_layer: dict[str, float], reference: SimResult | None) -> dict[str, Any]:
    """The engine-independent summary (spikemesh.ir.result) of a crossbar run: synaptic operations counted
    from the rasters like every engine (sends × non-zero fan-out), energy from the crossbar actions, no time
    model, and the fidelity to the reference on the same input."""
    from spikemesh.simulator.energy import synaptic_operations

    e = stats["energy"]
    energy = {"total_pj": e["total_pj"], "by_action_pj": {**e["by_action_pj"], "static": 0.0},
              "by_layer_pj": by_layer, "by_core_pj": e.get("by_core_pj")}
    fid = None
    if reference is not None:
        fid = fidelity_of(res.spikes, reference, result_output=res.output)
    return make_summary(
        engine="crossbar", steps=res.steps, batch=batch, spikes_per_layer=res.spike_counts(),
        synops=synaptic_operations(graph, res, inputs, integer=True), neuron_updates=stats["actions"]["neuron_update"],
        energy=energy, time_model="none",
        latency_note="the crossbar engine counts array actions but does not model time (no static energy either)",
        fidelity=fid)


#: CrossbarConfig keys that decide the tiling and the cell levels of a compiled Program
LAYOUT_KEYS = frozenset({"rows", "cols", "cell_bits", "weight_bits", "scheme"})


def _check_layers(graph: Graph, cfg: CrossbarConfig, layers: dict[str, MappedLayer]) -> None:
    """The compiled levels must encode the graph's weights (a Program whose graph and config disagree is corrupt)."""
    fresh = map_graph(graph, cfg)
    if sorted(fresh) != sorted(layers):
        raise SimulationError("the compiled crossbar configuration does not cover the graph's projections",
                              node="config", needed=sorted(fresh), available=sorted(layers), hint="compile again")
    for name, lay in fresh.items():
        for a, b in zip(lay.matrices, layers[name].matrices, strict=True):
            if a.weight.shape != b.weight.shape or not np.array_equal(a.weight, b.weight):
                raise SimulationError("compiled cell levels do not encode the graph's weights", node=name,
                                      hint="compile again")
