"""Kernels specialised to a graph's population profiles, compiled once per machine and cached on disk.

The generic kernel (step_kernels.run_steps) branches on each population's flags inside the neuron loop, which keeps
LLVM from vectorising it (about 5 ns per neuron update). Here every population's update loop is generated as Python
source with its flags (kind, reset mode and timing, comparison, refractory, integer or float, uniform parameters,
ports, bounds) written in as constants, together with a per-graph driver calling them in execution order; the
operations and their order are those of step_kernels.run_steps (docs/semantics.md §2), so results are identical.

The source goes to a file in the kernel cache dir (kernel_cache.py) compiled with ``njit(cache=True)``: the few
seconds of JIT are paid once per machine and profile, later processes load the machine code from Numba's cache next
to the file (``is_cached``); when the dir is not writable the driver is compiled in memory (memoised per process).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from spikemesh.simulator import deliver, implicit, kernel_cache, step_kernels
from spikemesh.simulator.arrays import INT_BIG
from spikemesh.simulator.step_kernels import scatter

#: spiking, current, after, strict, reset, refractory, integer, uniform (every neuron has the same parameters),
#: ports (synaptic current ports, Neuron.ports), bounded (a finite state bound exists: clamp; else no clamp code)
Profile = tuple[bool, bool, bool, bool, int, bool, bool, bool, int, bool]

#: modules whose code the generated drivers call (part of their cache key)
DEPS = (sys.modules[__name__], step_kernels, deliver, implicit)
#: where a driver's machine code came from (``stats["kernel_code"]``)
kernel_code = kernel_cache.kernel_code
#: drivers loaded in this process, by generated source
_DRIVERS: dict[str, Callable[..., int]] = {}
#: generated source of each driver key (for inspection)
_SOURCES: dict[tuple[Any, ...], str] = {}


@njit(cache=True, inline="always")
def _dq(v, k):  # type: ignore[no-untyped-def]
    """Integer decay: ``v·k / 4096`` truncated toward zero."""
    p = v * k
    q = abs(p) // 4096
    return -q if p < 0 else q


@njit(cache=True)
def _emit_spikes(a, b, t, cur, s_prev, indptr, target, weight, delay, pending, prow, ev_t, ev_n, n_ev,  # type: ignore
                 counters, sends):
    """Record the spikes of neurons ``a .. b - 1`` as events and scatter their synapses into ``pending``. ``prow``
    (not None) is the pending row of step t + d for a population whose outgoing synapses all have the one delay d
    (no per-synapse delay load or ring-slot arithmetic). Spikes are rare: ``s_prev`` (uint8) is read eight neurons
    per 64-bit word where a word lies inside the range, byte by byte elsewhere and inside non-zero words."""
    c0 = 0
    one, eight = np.uint64(1), np.uint64(8)
    words = s_prev[:(s_prev.shape[0] // 8) * 8].view(np.uint64)
    j = np.uint64(a)
    end = np.uint64(b)
    while j < end:
        if (j & np.uint64(7)) == 0 and j + eight <= end and words[j >> np.uint64(3)] == 0:
            j += eight
            continue
        if s_prev[j] != 0:
            ev_t[n_ev] = t
            ev_n[n_ev] = j
            n_ev += 1
            sends[j] += 1
            if prow is None:
                c0 += scatter(j, None, cur, indptr, target, weight, delay, pending)
            else:
                for k in range(np.uint64(indptr[j]), np.uint64(indptr[j + one])):
                    prow[np.uint64(target[k])] += weight[k]
                c0 += indptr[j + one] - indptr[j]
        j += one
    counters[0] += c0
    return n_ev


@njit(cache=True)
def _emit_values(a, b, cur, v, indptr, target, weight, delay, pending, counters, sends):  # type: ignore
    for j in range(np.uint64(a), np.uint64(b)):
        u = v[j]
        if u != 0:
            sends[j] += 1
            counters[1] += scatter(j, u, cur, indptr, target, weight, delay, pending)


@njit(cache=True)
def _emit_values_now(a, b, v, indptr, target, weight, row, counters, sends):  # type: ignore
    """_emit_values for a population whose outgoing synapses all have delay 0 (no ring-slot arithmetic)."""
    for j in range(np.uint64(a), np.uint64(b)):
        u = v[j]
        if u != 0:
            sends[j] += 1
            for k in range(np.uint64(indptr[j]), np.uint64(indptr[j + 1])):
                row[np.uint64(target[k])] += weight[k] * u
            counters[1] += indptr[j + 1] - indptr[j]


@njit(cache=True)
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


def update_source(name: str, spiking: bool, current: bool, after: bool, strict: bool, rmode: int, refr_on: bool,
                  integer: bool, uniform: bool = False, ports: int = 1, bounded: bool = True) -> list[str]:
    """Source lines of the neuron update of one population profile (``Profile``), a function ``name``."""
    def dec(v: str, k: str) -> str:
        return f"_dq({v}, {k})" if integer else f"{k} * {v}"

    def rst(u: str, thr: str, vr: str) -> str:
        return (vr, f"{u} - {thr}", u)[rmode]

    # parameters per population (arrays.FlatGraph.par): a uniform population reads one value at nb (neuron
    # parameters) and sb + port (slot parameters); the others nb + local and sb + port * n + local
    p = ["kb0, ka0, g0, sg0, l0, th0, vr0 = kb[nb], ka[sb], gain[nb], syn_gain[sb], leak[nb], thr[nb], vreset[nb]",
         # ports 1.. of local neuron l live in input slots po + (k - 1) * n + l (arrays.FlatGraph)
         "n = np.uint64(b - a)"]
    for k in range(1, ports):  # port k of neuron j is slot j + d_k; written out per port (no inner loop)
        p.append(f"d{k} = np.uint64(po) + np.uint64({k - 1}) * n - np.uint64(a)")
        if uniform:
            p.append(f"ka{k}, sg{k} = ka[np.uint64(sb) + np.uint64({k})], syn_gain[np.uint64(sb) + np.uint64({k})]")
    # unsigned indices: numba then skips negative-index wraparound, which would block vectorisation
    p.append("for j in range(np.uint64(a), np.uint64(b)):")
    q = ["x = row[j]", "row[j] = 0"]
    if uniform:
        q.append("kbj, kaj, gj, sgj, lj, thj, vrj = kb0, ka0, g0, sg0, l0, th0, vr0")
    else:
        q += ["pn = np.uint64(nb) + (j - np.uint64(a))", "ps = np.uint64(sb) + (j - np.uint64(a))",
              "kbj, kaj, gj, sgj, lj, thj, vrj = kb[pn], ka[ps], gain[pn], syn_gain[ps], leak[pn], thr[pn], vreset[pn]"]
    if current:
        q += [f"ic = {dec('i_cur[j]', 'kaj')} + sgj * x", "i_cur[j] = ic", "drive = ic"]
        for k in range(1, ports):  # the ports' currents, summed in port order
            q += [f"q = j + d{k}",
                  "xq = row[q]",
                  "row[q] = 0",
                  f"kaq, sgq = ka{k}, sg{k}" if uniform else
                  f"kaq, sgq = ka[ps + np.uint64({k}) * n], syn_gain[ps + np.uint64({k}) * n]",
                  f"iq = {dec('i_cur[q]', 'kaq')} + sgq * xq",
                  "i_cur[q] = iq",
                  "drive += iq"]
    else:
        q.append("drive = x")
    q += ["vj = v[j]", f"u = {dec('vj', 'kbj')} + gj * drive + lj", "sp = s_prev[j] != 0"]
    if after:
        q += ["if sp:", f"    u = {rst('u', 'thj', 'vrj')}"]
    q += ["active = True", "rj = 0"]
    if refr_on:
        q += ["rj = ref[j]", "active = rj == 0", "if not active:", "    held = vj"]
        if after:
            q += ["    if sp:", f"        held = {rst('vj', 'thj', 'vrj')}"]
        q.append("    u = held")
    q.append("s = False")
    if spiking:
        q.append(f"s = (u {'>' if strict else '>='} thj) & active")
        if not after:
            q += ["if s:", f"    u = {rst('u', 'thj', 'vrj')}"]
    if bounded:
        q += ["if u < lo:", "    u = lo", "elif u > hi:", "    u = hi"]
    if refr_on:
        q.append("ref[j] = refr if s else max(rj - 1, 0)")
    q += ["v[j] = u", "s_prev[j] = s"]
    return (["@njit(cache=True)",
             f"def {name}(a, b, row, kb, ka, gain, syn_gain, leak, thr, vreset, lo, hi, refr, v, i_cur, s_prev,"
             " ref, po, nb, sb):"]
            + ["    " + s for s in p] + ["        " + s for s in q])


def driver_source(profiles: tuple[Profile, ...], traced: tuple[bool, ...], has_bias: bool,
                  zero_delay: tuple[int, ...], spike_delay: tuple[int, ...]) -> str:
    """The module source of the driver of ``profiles`` (see ``driver``): update functions ``U0..``, ``kernel``."""
    lines = ["import numpy as np", "from numba import njit", "",
             "from spikemesh.simulator.deliver import deliver",
             "from spikemesh.simulator.special import _dq, _emit_spikes, _emit_values, _emit_values_now,"
             " _emit_values_one", "from spikemesh.simulator.step_kernels import scatter", ""]
    for p, prof in enumerate(profiles):
        lines += update_source(f"U{p}", *prof) + [""]
    lines += [
        "@njit(cache=True)",
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
        "        if in_ptr[t] != in_ptr[t + 1]:  # a step without input entries has nothing to deliver",
        "            for k in in_nodes:",
        "                if plan[0][k] != plan[0][k + 1]:",
        "                    deliver(k, v, node_off[k], node_size[k], cur, pending, plan, dcount)",
        "        for e in range(in_ptr[t], in_ptr[t + 1]):",
        "            v[in_idx[e]] = 0",
    ]
    for p, prof in enumerate(profiles):
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
    return "\n".join(lines) + "\n"


def _key(profiles: tuple[Profile, ...], traced: tuple[bool, ...], has_bias: bool, integer: bool,
         zero_delay: tuple[int, ...] | None, spike_delay: tuple[int, ...] | None) -> tuple[Any, ...]:
    zero_delay = zero_delay or (0,) * len(profiles)
    spike_delay = spike_delay or (-1,) * len(profiles)
    return (profiles, traced, has_bias, integer, zero_delay, spike_delay)


def is_cached(profiles: tuple[Profile, ...], traced: tuple[bool, ...], has_bias: bool, integer: bool,
              zero_delay: tuple[int, ...] | None = None, spike_delay: tuple[int, ...] | None = None) -> bool:
    """True when the driver of these arguments (see ``driver``) is loaded in this process or compiled in Numba's
    disk cache (then ``driver`` loads it instead of compiling)."""
    key = _key(profiles, traced, has_bias, integer, zero_delay, spike_delay)
    src = _SOURCES.get(key) or driver_source(key[0], key[1], key[2], key[4], key[5])
    if src in _DRIVERS:
        return True
    mod = kernel_cache.module(src, DEPS, create=False)
    if mod is None:
        return False
    return kernel_cache.compiled(mod.kernel)


def driver(profiles: tuple[Profile, ...], traced: tuple[bool, ...], has_bias: bool, integer: bool,
           zero_delay: tuple[int, ...] | None = None, spike_delay: tuple[int, ...] | None = None
           ) -> tuple[Callable[..., int], float]:
    """The specialised kernel for ``profiles`` (one per population, execution order; ``traced`` marks populations
    whose state is written to ``trace``; ``zero_delay`` is 1 for non-spiking populations whose outgoing synapses
    all have delay 0, 2 when moreover each neuron has exactly one; ``spike_delay`` is the one delay of every
    outgoing synapse of a spiking population, -1 when they differ) and its setup seconds (writing and importing
    the module; the JIT itself, or the load from the disk cache, happens at the first call). Same call signature
    as step_kernels.run_steps."""
    key = _key(profiles, traced, has_bias, integer, zero_delay, spike_delay)
    src = _SOURCES.get(key)
    if src is None:
        src = _SOURCES[key] = driver_source(key[0], key[1], key[2], key[4], key[5])
    hit = _DRIVERS.get(src)
    if hit is not None:
        return hit, 0.0
    t0 = time.perf_counter()
    mod = kernel_cache.module(src, DEPS)
    if mod is None:  # no writable cache dir: compile in memory
        ns: dict[str, Any] = {}
        exec(compile(src.replace("cache=True", "cache=False"), f"<spikemesh driver {len(_DRIVERS)}>", "exec"),  # noqa: S102
             ns)
        fn = ns["kernel"]
    else:
        fn = mod.kernel
    _DRIVERS[src] = fn
    return fn, time.perf_counter() - t0


def driver_args(fg: Any, traced: np.ndarray, integer: bool) -> tuple[Any, ...]:
    """The ``driver`` arguments of flat graph ``fg`` (arrays.FlatGraph): each population's profile, which
    populations are traced (``traced[p] >= 0``, their trace column), bias, mode, zero and single delays of the
    explicit synapses."""
    off, size = fg.node_off[fg.pop_node], fg.node_size[fg.pop_node]
    n_pop = len(off)

    def bounded(p: int) -> bool:  # absent bounds are ±inf (float) or ±INT_BIG (int): no clamp needed
        big = INT_BIG if integer else np.inf
        return bool(fg.pop_lo[p] > -big or fg.pop_hi[p] < big)

    profiles = tuple((bool(fg.pop_spiking[p]), bool(fg.pop_current[p]), bool(fg.pop_after[p]),
                      bool(fg.pop_strict[p]), int(fg.pop_reset[p]), bool(fg.pop_refractory[p] > 0), integer,
                      bool(fg.pop_uniform[p]), int(fg.pop_ports[p]), bounded(p)) for p in range(n_pop))
    zero, one_delay = [], []
    for p in range(n_pop):
        lo_, hi_ = fg.ex_indptr[off[p]], fg.ex_indptr[off[p] + size[p]]
        z = int(np.all(fg.ex_delay[lo_:hi_] == 0))
        if z and np.all(np.diff(fg.ex_indptr[off[p]:off[p] + size[p] + 1]) == 1):
            z = 2
        zero.append(z)
        d = fg.ex_delay[lo_:hi_]
        one_delay.append(int(d[0]) if len(d) and np.all(d == d[0]) else -1)
    return (profiles, tuple(bool(c >= 0) for c in traced), bool(fg.has_bias), integer, tuple(zero),
            tuple(one_delay))
