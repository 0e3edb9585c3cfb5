"""Numba kernels of the functional engines: one call advances one batch element over a range of steps.

The per-neuron update is docs/semantics.md §2 step for step (the same operations, in the same order, as
``spikemesh/ir/reference.py``); synaptic input goes into a ring buffer ``pending[(t + delay) % S, slot]``:
through the explicit source-major CSR of ``arrays.FlatGraph`` (Dense / Sparse projections) a spiking neuron adds
its row's weights, a non-spiking source (or an input element) with a non-zero value adds ``weight * value``; once
a node is updated, ``deliver.deliver`` sends its outputs through its implicit (convolution, pooling, element-wise)
projections.

Integer mode passes the decays as ``k`` (β = k / 4096) and computes ``sign(v·k) · (|v·k| // 4096)``, i.e. the
product truncated toward zero; float mode passes β and multiplies.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# run_steps' on-disk cache (cache=True) embeds deliver.py's kernels but is keyed on this file only: after editing
# deliver.py in a source checkout, delete __pycache__/step_kernels*.nbi / .nbc (an install rewrites both files)
from spikemesh.simulator.deliver import deliver_active


@njit(cache=True, inline="always")
def _decay(v, k, integer):  # type: ignore[no-untyped-def]
    if integer:
        p = v * k
        q = abs(p) // 4096
        return -q if p < 0 else q
    return k * v


@njit(cache=True, inline="always")
def _reset(u, mode, thr, vr):  # type: ignore[no-untyped-def]
    if mode == 0:
        return vr
    if mode == 1:
        return u - thr
    return u


@njit(cache=True, inline="always")
def scatter(g, scale, cur, indptr, target, weight, delay, pending):  # type: ignore[no-untyped-def]
    """Source ``g`` sends: each of its synapses ``k`` adds ``weight[k]`` (``scale`` None: a spike) or
    ``weight[k] * scale`` (a value) to ``pending[(cur + delay[k]) % S, target[k]]``. Returns the number of
    synapses. (``scale is None`` is resolved when Numba compiles the call, so the spike case has no multiply.)"""
    S = pending.shape[0]
    for k in range(np.uint64(indptr[g]), np.uint64(indptr[g + 1])):
        sl = cur + delay[k]
        if sl >= S:
            sl -= S
        if scale is None:
            pending[sl, np.uint64(target[k])] += weight[k]
        else:
            pending[sl, np.uint64(target[k])] += weight[k] * scale
    return indptr[g + 1] - indptr[g]


@njit(cache=True)
def run_steps(  # type: ignore[no-untyped-def]
    t0, t1, integer,
    # inputs of this batch element: entries of step t are in_ptr[t] .. in_ptr[t + 1] (t local to the whole run)
    in_ptr, in_idx, in_val,
    # populations (execution order) and nodes
    pop_off, pop_size, pop_spiking, pop_current, pop_reset, pop_after, pop_strict, pop_refractory, pop_lo, pop_hi,
    pop_trace_col, pop_ports, pop_port_off,
    # parameters per population (arrays.FlatGraph.par): neuron parameters from pop_par[p] (one value when
    # pop_uniform[p], else one per neuron), slot parameters (ka, syn_gain) from pop_spar[p] (one per port, else
    # one per port and neuron); decays as the state dtype (k in int mode, β in float mode)
    pop_par, pop_spar, pop_uniform,
    kb, ka, gain, syn_gain, leak, thr, vreset,
    # synapses: CSR over source neurons; ``target`` holds each synapse's input slot (arrays.FlatGraph.slot)
    indptr, target, weight, delay,
    bias, has_bias,
    # implicit projections (deliver.py): the plan, per-projection delivery counts [J, 2] (event, dense), the nodes
    plan, dcount, node_off, node_size, in_nodes, pop_node,
    # state (persists across calls of one batch element)
    v, i_cur, s_prev, ref, pending,
    # outputs of this call
    ev_t, ev_n, trace, counters, sends,
):
    """Advance steps ``t0 .. t1 - 1``. Writes spikes as events ``(ev_t, ev_n)`` and returns their count;
    traced populations write ``trace[t - t0, col + local]``. ``counters[0]`` += synaptic events from spikes,
    ``counters[1]`` += value-weighted synaptic events from non-spiking and input sources, ``counters[2]`` +=
    neuron updates, ``counters[3]`` += input elements with a non-zero value. ``sends[g]`` += 1 each time neuron
    (or input element) ``g`` sends: a spike, or a non-zero value of a non-spiking or input source."""
    S = pending.shape[0]
    D = bias.shape[0] - 1
    n_ev = 0
    n_pop = pop_off.shape[0]
    node_ptr, act = plan[0], plan[8]
    seen = np.zeros(v.shape[0] if in_nodes.shape[0] else 0, dtype=np.uint8)  # input elements listed this step
    for t in range(t0, t1):
        cur = t % S
        # inputs (no incoming projections: first in the execution order)
        for e in range(in_ptr[t], in_ptr[t + 1]):
            g = in_idx[e]
            val = in_val[e]
            counters[3] += 1
            sends[g] += 1
            counters[1] += scatter(g, val, cur, indptr, target, weight, delay, pending)
            v[g] += val  # an input's step value, for its implicit projections (cleared below)
        for k in in_nodes:
            if node_ptr[k] != node_ptr[k + 1]:  # the node has implicit projections (a call costs ~1 µs)
                ia, ib = node_off[k], node_off[k] + node_size[k]
                na = 0
                for e in range(in_ptr[t], in_ptr[t + 1]):  # the node's entries, each element once
                    g = in_idx[e]
                    if ia <= g < ib and v[g] != 0 and seen[g] == 0:
                        seen[g] = 1
                        act[na] = g - ia
                        na += 1
                deliver_active(k, v, ia, ib - ia, na, cur, pending, plan, dcount)
        for e in range(in_ptr[t], in_ptr[t + 1]):
            v[in_idx[e]] = 0
            seen[in_idx[e]] = 0
        bs = t if t < D else D
        for p in range(n_pop):
            a = pop_off[p]
            b = a + pop_size[p]
            spiking = pop_spiking[p] != 0
            current = pop_current[p] != 0
            rmode = pop_reset[p]
            after = pop_after[p] != 0
            strict = pop_strict[p] != 0
            refr = pop_refractory[p]
            lo = pop_lo[p]
            hi = pop_hi[p]
            col = pop_trace_col[p]
            nports = pop_ports[p]
            po = pop_port_off[p]
            uni = pop_uniform[p] != 0
            nb = pop_par[p]
            sb = pop_spar[p]
            counters[2] += b - a
            na = 0
            for j in range(np.uint64(a), np.uint64(b)):
                loc = np.int64(j) - a
                pn = np.uint64(nb if uni else nb + loc)  # this neuron's parameters (unsigned: no wraparound)
                ps = np.uint64(sb if uni else sb + loc)  # its port-0 slot parameters
                x = pending[cur, j]
                pending[cur, j] = 0
                if has_bias:
                    x += bias[bs, j]
                if current:
                    ic = _decay(i_cur[j], ka[ps], integer) + syn_gain[ps] * x
                    i_cur[j] = ic
                    drive = ic
                    if nports > 1:  # ports 1.. of this neuron: slots po + (k - 1) * size + local
                        q = np.uint64(po + loc)
                        for _k in range(1, nports):
                            pq = sb + _k if uni else sb + _k * (b - a) + loc
                            xq = pending[cur, q]
                            pending[cur, q] = 0
                            if has_bias:
                                xq += bias[bs, q]
                            iq = _decay(i_cur[q], ka[pq], integer) + syn_gain[pq] * xq
                            i_cur[q] = iq
                            drive += iq
                            q += np.uint64(b - a)
                else:
                    drive = x
                vj = v[j]
                u = _decay(vj, kb[pn], integer) + gain[pn] * drive + leak[pn]
                sp = s_prev[j] != 0
                if after and sp:
                    u = _reset(u, rmode, thr[pn], vreset[pn])
                active = True
                if refr > 0:
                    active = ref[j] == 0
                    if not active:
                        held = vj
                        if after and sp:
                            held = _reset(vj, rmode, thr[pn], vreset[pn])
                        u = held
                s = False
                if spiking:
                    if strict:
                        s = u > thr[pn]
                    else:
                        s = u >= thr[pn]
                    if not active:
                        s = False
                    if s and not after:
                        u = _reset(u, rmode, thr[pn], vreset[pn])
                if u < lo:
                    u = lo
                elif u > hi:
                    u = hi
                if refr > 0:
                    if s:
                        ref[j] = refr
                    elif ref[j] > 0:
                        ref[j] -= 1
                v[j] = u
                s_prev[j] = s
                if col >= 0:
                    trace[t - t0, col + np.int64(j) - a] = u
                if spiking:
                    if s:
                        ev_t[n_ev] = t
                        ev_n[n_ev] = j
                        n_ev += 1
                        sends[j] += 1
                        act[na] = loc
                        na += 1
                        counters[0] += scatter(j, None, cur, indptr, target, weight, delay, pending)
                elif u != 0:
                    sends[j] += 1
                    act[na] = loc
                    na += 1
                    counters[1] += scatter(j, u, cur, indptr, target, weight, delay, pending)
            k = pop_node[p]
            if node_ptr[k] != node_ptr[k + 1]:  # the sends listed in act[:na] during the update
                if spiking:
                    deliver_active(k, s_prev, a, b - a, na, cur, pending, plan, dcount)
                else:
                    deliver_active(k, v, a, b - a, na, cur, pending, plan, dcount)
    return n_ev


def empty_state(n: int, slots: int, dtype: type, n_slots: int | None = None, current: bool = True,
                refractory: bool = True) -> tuple[np.ndarray, ...]:
    """Zero state ``(v, i, s_prev, ref, pending)`` for ``n`` neurons, ``slots`` delay slots and ``n_slots`` input
    slots (synaptic currents and pending input; default ``n``). Without current-based (``current``) or refractory
    populations the currents or the refractory counters are a single unused element."""
    m = n if n_slots is None else n_slots
    return (np.zeros(n, dtype=dtype), np.zeros(m if current else 1, dtype=dtype), np.zeros(n, dtype=np.uint8),
            np.zeros(n if refractory else 1, dtype=np.int64), np.zeros((slots, m), dtype=dtype))
