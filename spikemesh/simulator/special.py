"""Kernels specialised to a graph's population profiles, for long runs.

The generic kernel (step_kernels.run_steps) branches on each population's flags inside the neuron loop, which keeps
LLVM from vectorising it (about 5 ns per neuron update). Here every population's update loop is compiled with its
flags (kind, reset mode and timing, comparison, refractory, integer or float) as compile-time constants, and a
per-graph driver calling them in execution order is generated; the operations and their order are those of
step_kernels.run_steps (docs/semantics.md §2), so results are identical. Compilation takes a few seconds and is
memoised per profile tuple within the process (``jit_s`` in the stats reports it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from spikemesh.simulator.deliver import deliver
from spikemesh.simulator.step_kernels import scatter

#: spiking, current, after, strict, reset, refractory, integer, uniform (every neuron has the same parameters),
#: ports (synaptic current ports, Neuron.ports), bounded (a finite state bound exists: clamp; else no clamp code)
Profile = tuple[bool, bool, bool, bool, int, bool, bool, bool, int, bool]

_DRIVERS: dict[tuple[Any, ...], Callable[..., int]] = {}
#: generated source of each driver (for inspection)
_SOURCES: dict[tuple[Any, ...], str] = {}


def _make_update(spiking: bool, current: bool, after: bool, strict: bool, rmode: int, refr_on: bool,
                 integer: bool, uniform: bool = False, ports: int = 1, bounded: bool = True) -> Callable[..., Any]:
    @njit(inline="always")
    def decay(v, k):  # type: ignore[no-untyped-def]
        if integer:
            p = v * k
            q = abs(p) // 4096
            return -q if p < 0 else q
        return k * v

    @njit(inline="always")
    def reset(u, thr, vr):  # type: ignore[no-untyped-def]
        if rmode == 0:
            return vr
        if rmode == 1:
            return u - thr
        return u

    @njit
    def update(a, b, row, kb, ka, gain, syn_gain, leak, thr, vreset, lo, hi, refr,  # type: ignore
               v, i_cur, s_prev, ref, po, nb, sb):
        # parameters per population (arrays.FlatGraph.par): uniform populations read one value from nb (neuron
        # parameters) and sb + port (slot parameters); the others nb + local, sb + port * n + local
        kb0, ka0, g0, sg0, l0, th0, vr0 = kb[nb], ka[sb], gain[nb], syn_gain[sb], leak[nb], thr[nb], vreset[nb]
        # ports 1.. of local neuron l live in input slots po + (k - 1) * n + l (arrays.FlatGraph)
        n = np.uint64(b - a)
        kap = np.empty_like(ka[:ports])
        sgp = np.empty_like(syn_gain[:ports])
        for k in range(1, ports):
            kap[k] = ka[np.uint64(sb) + np.uint64(k)]
            sgp[k] = syn_gain[np.uint64(sb) + np.uint64(k)]
        # unsigned indices: numba then skips negative-index wraparound, which would block vectorisation
        for j in range(np.uint64(a), np.uint64(b)):
            x = row[j]
            row[j] = 0
            loc = j - np.uint64(a)
            if uniform:
                kbj, kaj, gj, sgj, lj, thj, vrj = kb0, ka0, g0, sg0, l0, th0, vr0
            else:
                pn = np.uint64(nb) + loc
                ps = np.uint64(sb) + loc
                kbj, kaj, gj, sgj, lj, thj, vrj = kb[pn], ka[ps], gain[pn], syn_gain[ps], leak[pn], thr[pn], vreset[pn]
            if current:
                ic = decay(i_cur[j], kaj) + sgj * x
                i_cur[j] = ic
                drive = ic
                q = np.uint64(po) + loc
                for k in range(1, ports):  # the ports' currents, summed in port order
                    xq = row[q]
                    row[q] = 0
                    if uniform:
                        kaq, sgq = kap[k], sgp[k]
                    else:
                        pq = np.uint64(sb) + np.uint64(k) * n + loc
                        kaq, sgq = ka[pq], syn_gain[pq]
                    iq = decay(i_cur[q], kaq) + sgq * xq
                    i_cur[q] = iq
                    drive += iq
                    q += n
            else:
                drive = x
            vj = v[j]
            u = decay(vj, kbj) + gj * drive + lj
            sp = s_prev[j] != 0
            if after:
                if sp:
                    u = reset(u, thj, vrj)
            active = True
            rj = 0
            if refr_on:
                rj = ref[j]
                active = rj == 0
                if not active:
                    held = vj
                    if after:
                        if sp:
                            held = reset(vj, thj, vrj)
                    u = held
            s = False
            if spiking:
                th = thj
                if strict:
                    s = u > th
                else:
                    s = u >= th
                s = s and active
                if not after:
                    if s:
                        u = reset(u, th, vrj)
            if bounded:
                if u < lo:
                    u = lo
                elif u > hi:
                    u = hi
            if refr_on:
                ref[j] = refr if s else max(rj - 1, 0)
            v[j] = u
            s_prev[j] = s

    return update


@njit
def _emit_spikes(a, b, t, cur, s_prev, indptr, target, weight, delay, pending, prow, ev_t, ev_n, n_ev,  # type: ignore
                 counters, sends):
    """Record the spikes of neurons ``a .. b - 1`` as events and scatter their synapses into ``pending``. ``prow``
    (not None) is the pending row of step t + d for a population whose outgoing synapses all have the one delay d
    (no per-synapse delay load or ring-slot arithmetic)."""
    c0 = 0
    for j in range(np.uint64(a), np.uint64(b)):
        if s_prev[j] != 0:
            ev_t[n_ev] = t
            ev_n[n_ev] = j
            n_ev += 1
            sends[j] += 1
            if prow is None:
                c0 += scatter(j, None, cur, indptr, target, weight, delay, pending)
            else:
                for k in range(np.uint64(indptr[j]), np.uint64(indptr[j + 1])):
                    prow[np.uint64(target[k])] += weight[k]
                c0 += indptr[j + 1] - indptr[j]
    counters[0] += c0
    return n_ev


@njit
def _emit_values(a, b, cur, v, indptr, target, weight, delay, pending, counters, sends):  # type: ignore
    for j in range(np.uint64(a), np.uint64(b)):
        u = v[j]
        if u != 0:
            sends[j] += 1
            counters[1] += scatter(j, u, cur, indptr, target, weight, delay, pending)


@njit
def _emit_values_now(a, b, v, indptr, target, weight, row, counters, sends):  # type: ignore
    """_emit_values for a population whose outgoing synapses all have delay 0 (no ring-slot arithmetic)."""
    for j in range(np.uint64(a), np.uint64(b)):
        u = v[j]
        if u != 0:
            sends[j] += 1
            for k in range(np.uint64(indptr[j]), np.uint64(indptr[j + 1])):
                row[np.uint64(target[k])] += weight[k] * u
            counters[1] += indptr[j + 1] - indptr[j]


@njit
def _emit_values_one(a, b, v, indptr, target, weight, row, counters, sends):  # type: ignore
    """_emit_values_now for a population whose neurons each have exactly one outgoing synapse."""
    c1 = 0
    for j in range(np.uint64(a), np.uint64(b)):
        u = v[j]
        if u != 0:
            sends[j] += 1
            k = np.uint64(indptr[j])
            row[np.uint64(target[k])] += weight[k] * u
            c1 += 1
    counters[1] += c1


def driver(profiles: tuple[Profile, ...], traced: tuple[bool, ...], has_bias: bool, integer: bool,
           zero_delay: tuple[int, ...] | None = None, spike_delay: tuple[int, ...] | None = None
           ) -> tuple[Callable[..., int], float]:
    """The specialised kernel for ``profiles`` (one per population, execution order; ``traced`` marks populations
    whose state is written to ``trace``; ``zero_delay`` is 1 for non-spiking populations whose outgoing synapses
    all have delay 0, 2 when moreover each neuron has exactly one; ``spike_delay`` is the one delay of every
    outgoing synapse of a spiking population, -1 when they differ) and its compile-setup seconds (0 when
    memoised). Same call signature as step_kernels.run_steps."""
    zero_delay = zero_delay or (0,) * len(profiles)
    spike_delay = spike_delay or (-1,) * len(profiles)
    key = (profiles, traced, has_bias, integer, zero_delay, spike_delay)
    hit = _DRIVERS.get(key)
    if hit is not None:
        return hit, 0.0
    t0 = time.perf_counter()
    ns: dict[str, Any] = {"_emit_spikes": _emit_spikes, "_emit_values": _emit_values,
                          "_emit_values_now": _emit_values_now, "_emit_values_one": _emit_values_one,
                          "scatter": scatter, "deliver": deliver, "np": np}
    lines = [
        "def kernel(t0, t1, integer, in_ptr, in_idx, in_val, pop_off, pop_size, pop_spiking, pop_current,",
        "           pop_reset, pop_after, pop_strict, pop_refractory, pop_lo, pop_hi, pop_trace_col, pop_ports,",
        "           pop_port_off, pop_par, pop_spar, pop_uniform,",
        "           kb, ka, gain, syn_gain, leak, thr, vreset, indptr, target, weight, delay, bias, has_bias,",
        "           plan, dcount, node_off, node_size, in_nodes, pop_node,",
        "           v, i_cur, s_prev, ref, pending, ev_t, ev_n, trace, counters, sends):",
        "    S = pending.shape[0]",
        "    D = bias.shape[0] - 1",
        "    n_ev = 0",
        "    for t in range(t0, t1):",
        "        cur = t % S",
        "        row = pending[cur]",
        "        for e in range(in_ptr[t], in_ptr[t + 1]):",
        "            g = in_idx[e]",
        "            val = in_val[e]",
        "            counters[3] += 1",
        "            sends[g] += 1",
        "            counters[1] += scatter(g, val, cur, indptr, target, weight, delay, pending)",
        "            v[g] += val",
        "        for k in in_nodes:",
        "            if plan[0][k] != plan[0][k + 1]:",
        "                deliver(k, v, node_off[k], node_size[k], cur, pending, plan, dcount)",
        "        for e in range(in_ptr[t], in_ptr[t + 1]):",
        "            v[in_idx[e]] = 0",
    ]
    for p, prof in enumerate(profiles):
        ns[f"U{p}"] = _make_update(*prof)
        a, b = f"pop_off[{p}]", f"pop_off[{p}] + pop_size[{p}]"
        if has_bias:
            lines += ["        bs = t if t < D else D",
                      f"        for j in range({a}, {b}):",
                      "            row[j] += bias[bs, j]"]
            if prof[8] > 1:
                lines += [f"        for j in range(pop_port_off[{p}],"
                          f" pop_port_off[{p}] + {prof[8] - 1} * pop_size[{p}]):",
                          "            row[j] += bias[bs, j]"]
        lines += [f"        counters[2] += pop_size[{p}]",
                  f"        U{p}({a}, {b}, row, kb, ka, gain, syn_gain, leak, thr, vreset,"
                  f" pop_lo[{p}], pop_hi[{p}], pop_refractory[{p}], v, i_cur, s_prev, ref, pop_port_off[{p}],"
                  f" pop_par[{p}], pop_spar[{p}])"]
        if traced[p]:
            lines += [f"        c = pop_trace_col[{p}] - pop_off[{p}]",
                      f"        for j in range({a}, {b}):",
                      "            trace[t - t0, c + j] = v[j]"]
        if prof[0] and spike_delay[p] >= 0:
            lines += [f"        sl = cur + {spike_delay[p]}",
                      "        while sl >= S:",
                      "            sl -= S",
                      f"        n_ev = _emit_spikes({a}, {b}, t, cur, s_prev, indptr, target, weight, delay,"
                      " pending, pending[sl], ev_t, ev_n, n_ev, counters, sends)"]
        elif prof[0]:
            lines.append(f"        n_ev = _emit_spikes({a}, {b}, t, cur, s_prev, indptr, target, weight, delay,"
                         " pending, None, ev_t, ev_n, n_ev, counters, sends)")
        elif zero_delay[p] == 2:
            lines.append(f"        _emit_values_one({a}, {b}, v, indptr, target, weight, row, counters, sends)")
        elif zero_delay[p]:
            lines.append(f"        _emit_values_now({a}, {b}, v, indptr, target, weight, row, counters, sends)")
        else:
            lines.append(f"        _emit_values({a}, {b}, cur, v, indptr, target, weight, delay, pending,"
                         " counters, sends)")
        lines += [f"        if plan[0][pop_node[{p}]] != plan[0][pop_node[{p}] + 1]:",
                  f"            deliver(pop_node[{p}], {'s_prev' if prof[0] else 'v'}, {a}, pop_size[{p}], cur,"
                  " pending, plan, dcount)"]
    lines.append("    return n_ev")
    _SOURCES[key] = "\n".join(lines)
    exec(compile(_SOURCES[key], f"<spikemesh driver {len(_DRIVERS)}>", "exec"), ns)  # noqa: S102
    fn = njit(ns["kernel"])
    _DRIVERS[key] = fn
    return fn, time.perf_counter() - t0
