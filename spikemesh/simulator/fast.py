"""The ``fast`` engine: the reference semantics (docs/semantics.md) as an event-driven Numba kernel over CSR
connectivity, for large functional runs. Spikes equal ``run_reference`` exactly in int mode; in float mode they
agree up to the order of floating-point summation of synaptic input.

Flow: ``arrays.flatten`` (once per graph and mode) → inputs as a per-step sparse list → ``step_kernels.run_steps`` in
chunks of steps (each chunk returns its spikes as events, scattered into the rasters by NumPy) → SimResult with
``stats`` (counts, timings, energy, metrics).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikemesh.ir.graph import Graph
from spikemesh.ir.reference import check_record, graph_outputs, resolve_mode
from spikemesh.ir.result import SimResult
from spikemesh.simulator import special
from spikemesh.simulator.arrays import FlatGraph, flatten
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
             traces: bool = True, progress: bool | None = None, specialize: bool | None = None) -> SimResult:
    """Execute ``graph`` like ``run_reference`` (see ``run_fast_detailed`` for the options)."""
    return run_fast_detailed(graph, inputs, record, mode, traces, progress, specialize).result


def run_fast_detailed(graph: Graph, inputs: Any, record: Sequence[str] | None = None, mode: str = "auto",
                      traces: bool = True, progress: bool | None = None, specialize: bool | None = None) -> FastRun:
    """Execute ``graph`` like ``run_reference``. ``inputs``: ``[T, B, *shape]`` array, a dict per input name, or a
    ``StepInputs`` (sparse per-step values, see io.py). ``traces=False`` skips the state traces of
    non-spiking populations (their outputs then are unavailable) to save memory on long runs.
    ``progress``: rich bar (None: shown when the run takes longer than a second). ``specialize``: the kernel
    specialised to the populations' flags (special.py; about 5x faster, a few seconds of JIT once per machine and
    graph profile, then loaded from the disk cache); False: the generic kernel; None: the specialised one when it
    is compiled already (this process or the disk cache) or when steps x batch x neurons exceeds
    ``SPECIALIZE_CELLS``, else the generic one. ``stats["kernel"]`` says which ran."""
    mode = resolve_mode(graph, mode)
    integer = mode == "int"
    record = check_record(graph, record)
    t_build = time.perf_counter()
    fg = flat_graph(graph, integer)
    si = step_inputs(graph, inputs, fg, integer)
    t_build = time.perf_counter() - t_build
    T, B = si.steps, si.batch
    pops = fg.populations
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
    # which population each global neuron index belongs to (for scattering events)
    owner = np.full(fg.n, -1, dtype=np.int64)
    for p in range(len(pops)):
        owner[pop_off[p]:pop_off[p] + pop_size[p]] = p
    kb = (fg.beta_k if integer else fg.beta).astype(dtype)
    ka = (fg.alpha_k if integer else fg.alpha).astype(dtype)
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
        dargs = special.driver_args(fg, kb, ka, cols, integer)
        if specialize or T * B * fg.n > SPECIALIZE_CELLS or special.is_cached(*dargs):
            kernel, _ = special.driver(*dargs)
    warm = True
    ev_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    t_run = time.perf_counter()
    with StepProgress(T * B, "fast engine", enabled=progress) as bar:
        for b in range(B):
            v, i_cur, s_prev, ref, pending = empty_state(fg.n, fg.max_delay + 1, dtype, fg.n_slots)
            ptr, idx, val = si.batch_entries(b)
            args = (pop_off, pop_size, fg.pop_spiking, fg.pop_current, fg.pop_reset, fg.pop_after, fg.pop_strict,
                    fg.pop_refractory, fg.pop_lo, fg.pop_hi, cols, fg.pop_ports, fg.pop_port_off,
                    kb, ka, fg.gain, fg.syn_gain, fg.leak, fg.threshold, fg.v_reset,
                    fg.indptr, fg.slot, fg.weight, fg.delay, fg.bias, fg.has_bias,
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
    synaptic_events = int(counters[0])
    stats = {
        "synaptic_events": synaptic_events,
        "value_events": int(counters[1]),
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
