"""The ``fast`` engine: the reference semantics (docs/semantics.md) as Numba kernels, for large functional runs:
Dense / Sparse projections over an explicit CSR, convolution, pooling and element-wise projections implicitly from
their weights (implicit.py, deliver.py), so memory grows with weights and neurons, not synapses. Spikes equal
``run_reference`` exactly in int mode; in float mode they agree up to the order of floating-point summation of
synaptic input.

Flow: ``check_memory`` (refuse a run that cannot fit, before allocating) → ``arrays.flatten`` (once per graph and
mode) → inputs as a per-step sparse list → ``step_kernels.run_steps`` in chunks of steps (each chunk returns its
spikes as events, scattered into the rasters by NumPy) → SimResult with ``stats`` (counts, timings, delivery
modes; energy and metrics are added by runners.py).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikemesh.errors import SimulationError
from spikemesh.ir.graph import Graph
from spikemesh.ir.operators import Conv, Dense, Sparse
from spikemesh.ir.reference import check_record, graph_outputs, resolve_mode
from spikemesh.ir.result import SimResult
from spikemesh.simulator import special
from spikemesh.simulator.arrays import FlatGraph, flatten
from spikemesh.simulator.deliver import MODE
from spikemesh.simulator.implicit import chain_degrees, is_explicit, pack
from spikemesh.simulator.io import StepInputs, step_inputs
from spikemesh.simulator.progress import StepProgress
from spikemesh.simulator.step_kernels import empty_state, run_steps

#: steps x batch x neurons above which the default call compiles the specialised kernel (special.py) when it is not
#: compiled yet: there the generic kernel takes >= ~0.1 s and the specialised one ~5x less, and the one-time JIT
#: (~1-2 s per graph profile) is kept on disk for every later run of the profile on the machine. Below it, the
#: specialised kernel is used only when it is already compiled (the demo and the tests stay below: no JIT they do
#: not need).
SPECIALIZE_CELLS = 20_000_000
#: values (state slots) processed per kernel call; bounds the per-chunk event and trace buffers
CHUNK_CELLS = 2_000_000

#: ``delivery`` option -> the plan's MODE code (deliver.py)
DELIVERY_MODES = {"auto": 0, "event": 1, "dense": 2}

#: graph id -> (graph, explicit synapses, implicit weights) for memory_estimate
_SIZE_CACHE: dict[int, tuple[Graph, int, int]] = {}
_FLAT_CACHE: dict[tuple[int, bool], tuple[Graph, FlatGraph]] = {}


def flat_graph(graph: Graph, integer: bool) -> FlatGraph:
    """``flatten(graph, integer)``, cached for the most recent graphs (keyed by identity)."""
    key = (id(graph), integer)
    hit = _FLAT_CACHE.get(key)
    if hit is not None and hit[0] is graph:
        return hit[1]
    fg = flatten(graph, integer)
    if len(_FLAT_CACHE) > 8:
        _FLAT_CACHE.clear()
    _FLAT_CACHE[key] = (graph, fg)
    return fg


def available_memory() -> int:
    """Bytes the machine can still give (``MemAvailable`` of /proc/meminfo, else free physical pages)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def memory_estimate(graph: Graph, steps: int, batch: int, integer: bool = True, traces: bool = True,
                    record: Sequence[str] = ()) -> int:
    """Bytes a fast-engine run allocates (flat graph, state, rasters, traces and buffers), from the graph alone:
    per neuron the state (membrane, current, spike flag, refractory counter, pending input per delay slot, sends),
    per step and sample a bit per spiking neuron (raster) and a value per traced neuron, the explicit CSR's synapses
    (22 bytes each, about twice that while it is built) and the implicit projections' weights (two layouts)."""
    pops = graph.populations
    n = sum(math.prod(i.shape) for i in graph.inputs) + sum(p.size for p in pops)
    slots = n + sum((p.neuron.ports - 1) * p.size for p in pops)
    delay = max((pr.max_delay for pr in graph.projections), default=0)
    cur = any(p.neuron.has_current for p in pops)
    state = 8 * n + n + 8 * n + 8 * slots * (delay + 1 + cur) + 8 * n * any(p.neuron.refractory for p in pops)
    spiking = sum(p.size for p in pops if p.neuron.spiking)
    traced = sum(p.size for p in pops if p.name in record or (traces and not p.neuron.spiking))
    chunk = max(1, min(steps, CHUNK_CELLS // max(n, 1)))
    rasters = steps * batch * (spiking + 8 * traced) + chunk * (8 * spiking + 8 * traced)
    hit = _SIZE_CACHE.get(id(graph))
    if hit is None or hit[0] is not graph:
        syn = weights = 0
        for pr in graph.projections:
            for op, shp in zip(pr.ops, graph.chain_shapes(pr)):
                if is_explicit(pr) and isinstance(op, Dense | Sparse):
                    syn += op.synapses(shp)
                elif isinstance(op, Conv | Dense | Sparse):
                    weights += int(np.size(getattr(op, "weight", getattr(op, "data", 0))))
        if len(_SIZE_CACHE) > 8:
            _SIZE_CACHE.clear()
        hit = _SIZE_CACHE[id(graph)] = (graph, syn, weights)
    return int(state + rasters + 44 * hit[1] + 16 * hit[2])


def _steps_batch(graph: Graph, inputs: Any) -> tuple[int, int]:
    """(T, B) of ``inputs`` without converting them (1, 1 when they cannot be read: step_inputs reports that)."""
    if isinstance(inputs, StepInputs):
        return inputs.steps, inputs.batch
    x = next(iter(inputs.values()), None) if isinstance(inputs, dict) else inputs
    shp = np.shape(x) if x is not None and not isinstance(x, str | bytes) else ()
    nd = len(graph.inputs[0].shape) if graph.inputs else 0
    if len(shp) == nd + 2:
        return int(shp[0]), int(shp[1])
    return (int(shp[0]), 1) if len(shp) == nd + 1 else (1, 1)


def check_memory(graph: Graph, steps: int, batch: int, integer: bool = True, traces: bool = True,
                 record: Sequence[str] = ()) -> None:
    """SimulationError (one line, before anything is allocated) when ``memory_estimate`` exceeds the available
    memory."""
    need = memory_estimate(graph, steps, batch, integer, traces, record)
    have = available_memory()
    if need > have:
        raise SimulationError(f"a fast-engine run of {steps:,} steps x {batch:,} samples does not fit in memory",
                              node="simulate", needed=f"about {need / 2**30:,.1f} GiB",
                              available=f"{have / 2**30:,.1f} GiB available",
                              hint="simulate fewer steps or a smaller batch, pass traces=False, or use another "
                                   "engine (reference)")


@dataclass
class FastRun:
    """A fast-engine run with what the energy and metrics layers need: the flat graph, per-neuron ``sends``
    [N] (spikes, or non-zero values of non-spiking/input sources) and the inputs in step form."""

    result: SimResult
    flat: FlatGraph
    sends: np.ndarray
    inputs: StepInputs
    #: every spike as (step, batch element, global neuron index), in kernel order
    spike_events: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def binary_inputs(self) -> set[str]:
        """Inputs whose values all lie in {-1, 0, 1} (NeuroBench counts their synaptic ops as ACs)."""
        out = set()
        for name, off, shape in zip(self.inputs.names, self.inputs.offsets, self.inputs.shapes):
            n = int(np.prod(shape))
            m = (self.inputs.index >= off) & (self.inputs.index < off + n)
            if np.all(np.abs(self.inputs.value[m]) == 1):
                out.add(name)
        return out


def run_fast(graph: Graph, inputs: Any, record: Sequence[str] | None = None, mode: str = "auto",
             traces: bool = True, progress: bool | None = None, specialize: bool | None = None,
             delivery: str = "auto") -> SimResult:
    """Execute ``graph`` like ``run_reference`` (see ``run_fast_detailed`` for the options)."""
    return run_fast_detailed(graph, inputs, record, mode, traces, progress, specialize, delivery).result


def run_fast_detailed(graph: Graph, inputs: Any, record: Sequence[str] | None = None, mode: str = "auto",
                      traces: bool = True, progress: bool | None = None, specialize: bool | None = None,
                      delivery: str = "auto") -> FastRun:
    """Execute ``graph`` like ``run_reference``. ``inputs``: ``[T, B, *shape]`` array, a dict per input name, or a
    ``StepInputs`` (sparse per-step values, see io.py). ``traces=False`` skips the state traces of
    non-spiking populations (their outputs then are unavailable) to save memory on long runs.
    ``progress``: rich bar (None: shown when the run takes longer than a second). ``specialize``: the kernel
    specialised to the populations' flags (special.py; about 5x faster, a few seconds of JIT once per machine and
    graph profile, then loaded from the disk cache); False: the generic kernel; None: the specialised one when it
    is compiled already (this process or the disk cache) or when steps x batch x neurons exceeds
    ``SPECIALIZE_CELLS``, else the generic one. ``stats["kernel"]`` says which ran. ``delivery``: how
    convolutions reach their targets (implicit.py) — "auto" (per projection and step: a gather convolution when
    more than ``implicit.DENSE_FRAC`` of the sources are active, else event-driven), "event" or "dense" (forced
    where it applies); the statistics ``delivery`` (each implicit projection's mode: "event", "dense" or "mixed")
    and ``delivery_steps`` (steps delivered each way) report it. A run whose arrays would not fit in the available
    memory is refused before allocating (SimulationError)."""
    if delivery not in DELIVERY_MODES:
        raise SimulationError(f"unknown delivery {delivery!r}", node="delivery", needed=list(DELIVERY_MODES),
                              available=delivery)
    mode = resolve_mode(graph, mode)
    integer = mode == "int"
    record = check_record(graph, record)
    t_build = time.perf_counter()
    check_memory(graph, *_steps_batch(graph, inputs), integer, traces, record)
    fg = flat_graph(graph, integer)
    si = step_inputs(graph, inputs, fg, integer)
    t_build = time.perf_counter() - t_build
    T, B = si.steps, si.batch
    pops = fg.populations
    plan = pack(fg)
    plan_proj = fg._cache["plan_proj"]
    plan[1][:, MODE] = DELIVERY_MODES[delivery]
    dcount = np.zeros((max(len(plan_proj), 1), 2), dtype=np.int64)
    in_nodes = np.nonzero(fg.node_is_input)[0].astype(np.int64)
    traced = [n for n in pops if n in record or (traces and not graph.population[n].neuron.spiking)]
    cols = np.full(len(pops), -1, dtype=np.int64)
    col = 0
    for p, name in enumerate(pops):
        if name in traced:
            cols[p] = col
            col += graph.population[name].size
    n_traced = col
    n_spiking = int(sum(graph.population[n].size for n in pops if graph.population[n].neuron.spiking))
    dtype = fg.dtype
    spikes = {n: np.zeros((T, B, *graph.population[n].shape), dtype=bool) for n in pops
              if graph.population[n].neuron.spiking}
    flat_spk = {n: s.reshape(T, B, -1) for n, s in spikes.items()}
    v_rec = {n: np.zeros((T, B, *graph.population[n].shape), dtype=dtype) for n in traced}
    flat_v = {n: a.reshape(T, B, -1) for n, a in v_rec.items()}
    pop_off = fg.node_off[fg.pop_node]
    pop_size = fg.node_size[fg.pop_node]
    par = fg.par
    owner = fg._cache.get("owner")  # population of each global index (for scattering events; -1: an input)
    if owner is None:
        owner = np.full(fg.n, -1, dtype=np.int32)
        for p in range(len(pops)):
            owner[pop_off[p]:pop_off[p] + pop_size[p]] = p
        fg._cache["owner"] = owner
    kb = (par["beta_k"] if integer else par["beta"]).astype(dtype)
    ka = (par["alpha_k"] if integer else par["alpha"]).astype(dtype)
    chunk = max(1, min(T, CHUNK_CELLS // max(fg.n, 1)))
    ev_t = np.empty(chunk * max(n_spiking, 1), dtype=np.int32)  # only the first n_ev of a chunk are read
    ev_n = np.empty_like(ev_t)
    trace = np.zeros((chunk, max(n_traced, 1)), dtype=dtype)
    counters = np.zeros(4, dtype=np.int64)
    sends = np.zeros(fg.n, dtype=np.int64)
    kernel = run_steps
    warm = False
    jit_s = 0.0
    kernel_s = 0.0
    if specialize is not False:  # the specialised kernel when asked, when the run is long, or when it is compiled
        dargs = special.driver_args(fg, cols, integer)
        if specialize or T * B * fg.n > SPECIALIZE_CELLS or special.is_cached(*dargs):
            kernel, _ = special.driver(*dargs)
    warm = True
    ev_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    any_current, any_refractory = bool(np.any(fg.pop_current)), bool(np.any(fg.pop_refractory))
    t_run = time.perf_counter()
    with StepProgress(T * B, "fast engine", enabled=progress) as bar:
        for b in range(B):
            v, i_cur, s_prev, ref, pending = empty_state(fg.n, fg.max_delay + 1, dtype, fg.n_slots, any_current,
                                                         any_refractory)
            ptr, idx, val = si.batch_entries(b)
            args = (pop_off, pop_size, fg.pop_spiking, fg.pop_current, fg.pop_reset, fg.pop_after, fg.pop_strict,
                    fg.pop_refractory, fg.pop_lo, fg.pop_hi, cols, fg.pop_ports, fg.pop_port_off,
                    fg.pop_par, fg.pop_spar, fg.pop_uniform,
                    kb, ka, par["gain"], par["syn_gain"], par["leak"], par["threshold"], par["v_reset"],
                    fg.ex_indptr, fg.ex_slot, fg.ex_weight, fg.ex_delay, fg.bias, fg.has_bias,
                    plan, dcount, fg.node_off, fg.node_size, in_nodes, fg.pop_node,
                    v, i_cur, s_prev, ref, pending, ev_t, ev_n, trace, counters, sends)
            for t0 in range(0, T, chunk):
                t1 = min(T, t0 + chunk)
                if warm:  # compile the specialised driver on an empty step range, timed apart from the run
                    warm = False
                    t_jit = time.perf_counter()
                    kernel(0, 0, integer, ptr, idx, val, *args)
                    jit_s = time.perf_counter() - t_jit
                tk = time.perf_counter()
                n_ev = kernel(t0, t1, integer, ptr, idx, val, *args)
                kernel_s += time.perf_counter() - tk
                et, en = ev_t[:n_ev], ev_n[:n_ev].astype(np.int64)
                ev_parts.append((et.copy(), np.full(n_ev, b, dtype=np.int32), en))
                ep = owner[en]
                for p, name in enumerate(pops):
                    if name in flat_spk:
                        m = ep == p
                        flat_spk[name][et[m], b, en[m] - pop_off[p]] = True
                    if cols[p] >= 0:
                        c = int(cols[p])
                        flat_v[name][t0:t1, b] = trace[:t1 - t0, c:c + pop_size[p]]
                bar.advance(t1 - t0)
    t_run = time.perf_counter() - t_run - jit_s
    outputs = graph_outputs(graph, spikes, v_rec, lambda name: si.dense(name) if name in si.names else None)
    spk_node = np.zeros(len(fg.order), dtype=bool)
    spk_node[fg.pop_node] = fg.pop_spiking != 0
    for pi, od in chain_degrees(fg):  # implicit projections: Σ sends × out-degree (the kernel counts the CSR's)
        k = fg.order.index(graph.projections[pi].source)
        a = int(fg.node_off[k])
        counters[0 if spk_node[k] else 1] += int(sends[a:a + len(od)] @ od)
    synaptic_events = int(counters[0])
    names = [fg.proj_names[pi] for pi in plan_proj]
    stats = {
        "synaptic_events": synaptic_events,
        "value_events": int(counters[1]),
        "delivery": {n: ("mixed" if dcount[j, 0] and dcount[j, 1] else "dense" if dcount[j, 1] else "event")
                     for j, n in enumerate(names)},
        "delivery_steps": {n: {"event": int(dcount[j, 0]), "dense": int(dcount[j, 1])} for j, n in enumerate(names)},
        "neuron_updates": int(counters[2]),
        "input_events": int(counters[3]),
        "build_s": t_build,
        "run_s": t_run,
        "jit_s": jit_s,
        "kernel_s": kernel_s,
        "kernel": "generic" if kernel is run_steps else "specialised",
        "kernel_code": None if kernel is run_steps else special.kernel_code(kernel),
        "events_per_s": synaptic_events / t_run if t_run > 0 else 0.0,
    }
    res = SimResult(spikes=spikes, v=v_rec, outputs=outputs, engine="fast", steps=T, mode=mode, stats=stats)
    events = tuple(np.concatenate([p[k] for p in ev_parts]) if ev_parts else np.zeros(0, dt)
                   for k, dt in enumerate((np.int32, np.int32, np.int64)))
    return FastRun(result=res, flat=fg, sends=sends, inputs=si, spike_events=events)  # type: ignore[arg-type]


__all__ = ["run_fast", "run_fast_detailed", "FastRun", "flat_graph", "StepInputs"]
