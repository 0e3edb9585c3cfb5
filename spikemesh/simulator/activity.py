"""Active neuron updates: which (step, sample, neuron) updates are *active*, for tables that price active and
inactive updates apart (``EnergyTable.neuron_update_active_pj``; Loihi: 81 pJ active / 52 pJ inactive, Davies et
al., "Loihi: a neuromorphic manycore processor with on-chip learning", IEEE Micro 38(1), 2018, Table 2).

Definition (one for every engine that prices it, fast and cycle): a population neuron's update in step t is
active when the neuron receives at least one synaptic event in that step (a send of a source: a spike, a non-zero
value of a non-spiking population or of an input, through a non-zero synapse of delay d sent at step t − d) or
fires in that step; otherwise it is inactive (the neuron only decays). Table 2 labels the two figures without
defining them further; this is the model's reading.

The count is derived from what every engine already returns (rasters of spikes, traces of non-spiking
populations, the inputs in step form) and the flat graph's synapses, so no kernel counts it: one sparse product
pass over every step's sends and their synapses (a Numba kernel: the cost of the run's synaptic events, no
memory beyond the send lists).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numba import njit

from spikemesh.errors import SimulationError
from spikemesh.simulator.fast import available_memory


def _cells(arr: np.ndarray, T: int, B: int, off: int) -> tuple[np.ndarray, np.ndarray]:
    """(row t·B + b, global column) of the non-zero cells of a ``[T, B, *shape]`` array."""
    t, b, i = np.nonzero(np.asarray(arr).reshape(T, B, -1))
    return t.astype(np.int64) * B + b, i.astype(np.int64) + off


def _matrix(rows: list[np.ndarray], cols: list[np.ndarray], shape: tuple[int, int]) -> sp.csr_matrix:
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    m = sp.csr_matrix((np.ones(len(r), np.float64), (r, c)), shape=shape)
    m.data[:] = 1.0  # duplicates summed: a cell sends or not
    return m


@njit(cache=True)
def _count_active(T: int, B: int, N: int, send_ptr: np.ndarray, send_idx: np.ndarray, fire_ptr: np.ndarray,
                  fire_idx: np.ndarray, indptr: np.ndarray, target: np.ndarray, delay: np.ndarray,
                  delays: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Per neuron, the (step, sample) cells in which it fires (row t·B + b of ``fire``) or a synapse of delay d
    delivers a send of row (t − d)·B + b of ``send`` to it (CSR rows of global indices); a stamp per neuron
    counts each cell once."""
    active = np.zeros(N, np.int64)
    stamp = np.full(N, -1, np.int64)
    for t in range(T):
        for b in range(B):
            row = t * B + b
            for j in range(fire_ptr[row], fire_ptr[row + 1]):
                n = fire_idx[j]
                if stamp[n] != row:
                    stamp[n] = row
                    active[n] += 1
            for di in range(len(delays)):
                d = delays[di]
                if d > t:
                    continue
                src_row = (t - d) * B + b
                for j in range(send_ptr[src_row], send_ptr[src_row + 1]):
                    s = send_idx[j]
                    for k in range(indptr[s], indptr[s + 1]):
                        if delay[k] == d:
                            n = target[k]
                            if stamp[n] != row:
                                stamp[n] = row
                                active[n] += 1
    return active


#: bytes per synapse of the counting pass: the flat per-synapse table (arrays.FlatGraph: target, slot, weight,
#: delay, projection) and the int64 copies of its indices, targets and delays read here
SYNAPSE_BYTES = 48


def active_updates(flat: Any, spikes: dict[str, np.ndarray], v: dict[str, np.ndarray], inputs: Any, steps: int,
                   batch: int, spike_events: tuple[np.ndarray, ...] | None = None) -> tuple[np.ndarray, str | None]:
    """Active updates per global index [N] (0 for graph inputs) over every step and sample, and a note (None
    when exact). ``inputs``: the run's ``io.StepInputs``; ``spike_events``: the run's spikes as (step, sample,
    global index) (``FastRun.spike_events``; read from the rasters ``spikes`` when None). A non-spiking source
    without a trace (a fast run with ``traces=False``) has unknown per-step values: its targets count as active
    in every step (an upper bound, said in the note)."""
    T, B, N = int(steps), int(batch), int(flat.n)
    need = SYNAPSE_BYTES * int(flat.out_degree.sum())
    if need > available_memory():
        raise SimulationError(
            "counting active neuron updates (the target prices active and inactive updates apart) lists every "
            "synapse, which does not fit in memory", node="neuron_update_active",
            needed=f"{need / 2**30:.1f} GiB", available=f"{available_memory() / 2**30:.1f} GiB",
            hint="simulate on a target whose energy table has one neuron-update price (e.g. tianjic), or a smaller "
                 "model")
    rows, cols, frows, fcols = [], [], [], []
    if spike_events is not None:
        et, eb, en = (np.asarray(a, dtype=np.int64) for a in spike_events)
        frows, fcols = [et * B + eb], [en]
        rows, cols = [et * B + eb], [en]
    missing = []
    for k, name in enumerate(flat.order):
        a = int(flat.node_off[k])
        if bool(flat.node_is_input[k]):
            continue
        if name in spikes:
            if spike_events is not None:
                continue
            r, c = _cells(spikes[name], T, B, a)
            frows.append(r)
            fcols.append(c)
        elif name in v:
            r, c = _cells(v[name], T, B, a)
        else:
            if flat.indptr[a + int(flat.node_size[k])] > flat.indptr[a]:  # a source whose sends are unknown
                missing.append(name)
            continue
        rows.append(r)
        cols.append(c)
    key = np.repeat(np.arange(B * T, dtype=np.int64), np.diff(inputs.ptr))  # batch-major (b, t) entries
    nz = np.asarray(inputs.value) != 0
    rows.append((key[nz] % T) * B + key[nz] // T)
    cols.append(np.asarray(inputs.index, dtype=np.int64)[nz])
    send = _matrix(rows, cols, (T * B, N))
    fire = _matrix(frows, fcols, (T * B, N))
    dly = np.asarray(flat.delay, dtype=np.int64)
    active = _count_active(T, B, N, send.indptr.astype(np.int64), send.indices.astype(np.int64),
                           fire.indptr.astype(np.int64), fire.indices.astype(np.int64),
                           np.asarray(flat.indptr, dtype=np.int64), np.asarray(flat.target, dtype=np.int64), dly,
                           np.unique(dly))
    src = np.repeat(np.arange(N), np.diff(flat.indptr))
    tgt = np.asarray(flat.target, dtype=np.int64)
    note = None
    if missing:
        unknown = np.zeros(N, dtype=bool)
        for name in missing:
            lo, hi = flat.node_range(name)
            reach = tgt[(src >= lo) & (src < hi)]
            unknown[reach] = True
        active[unknown] = T * B
        note = (f"no per-step values of {', '.join(missing)} (traces off): their targets count as active in "
                "every step (an upper bound)")
    is_input = np.zeros(N, dtype=bool)
    for k in np.nonzero(np.asarray(flat.node_is_input))[0]:
        is_input[int(flat.node_off[k]):int(flat.node_off[k] + flat.node_size[k])] = True
    active[is_input] = 0
    return active, note


def active_actions(flat: Any, active: np.ndarray, partition: Any = None) -> tuple[np.ndarray, dict[str, float]]:
    """``neuron_update_active`` per logical core [n_cores] (a neuron's updates on its core, as ``neuron_update``)
    and per population."""
    from spikemesh.simulator.fanout import neuron_cores

    if partition is None:
        per_core = np.array([int(active.sum())], dtype=np.int64)
    else:
        core = np.maximum(neuron_cores(flat, partition), 0)
        per_core = np.bincount(core, weights=active, minlength=len(partition.cores)).astype(np.int64)
    per_layer = {}
    for k in flat.pop_node:
        a, n = int(flat.node_off[k]), int(flat.node_size[k])
        per_layer[flat.order[k]] = float(active[a:a + n].sum())
    return per_core, per_layer
