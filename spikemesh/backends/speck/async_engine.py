"""``async`` engine: discrete-event simulation of the Speck cores and the DVS layer (research/speck.md §1.1,
§1.4, §1.5, §1.8).

Semantics per input event at a core (one conv scatter): every neuron its kernel reaches gets ``v += w``; a neuron
with ``v >= threshold_high`` emits **one** spike and is reset (subtract θ, or to 0; a residual ≥ θ stays until
the next event); then ``v`` is clamped to ``[threshold_low, 2^15 − 1]``. A spike goes to each destination (≤ 2)
as an event at ``(f + feature_shift, y // pooling, x // pooling)`` (sum pooling by address). Non-zero biases are
added to every neuron of the core on each slow-clock tick (leak; a tick may fire a neuron like an event does —
a modelling choice, UNVERIFIED on silicon). No clock drives anything else: no input, no dynamic energy.

Timing: an event reaching a core at ``t`` starts at ``max(t, core busy-until)``, takes ``synops / synops_per_s``
(0 when unlimited) and its spikes reach the next core ``hop_latency_s`` after it ends (default 3.36 µs / 9: one
event through 9 layers takes 3.36 µs, Richter et al., speck.md §1.8). With a SynOps/s limit an event that would
wait longer than ``max_backlog_s`` is dropped (the congestion balancer, §1.7) and counted.

Inputs are the reference's ``[T, B, *input_shape]`` count arrays: a count n at step t is n events at time
``t·dt`` (sinabs ``raster_to_events``). Spikes are binned to the step of the input event that caused them (or
of the tick), so with latency < dt and no neuron receiving two events in one step the spikes equal the
reference's. Energy: resting power × simulated time + synop_pj × (SynOps + leak updates) (speck.md §1.8: the
per-SynOp energy is a calibration parameter of the target's EnergyTable).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from spikemesh.errors import SimulationError
from spikemesh.ir.reference import normalize_inputs
from spikemesh.ir.result import SimResult

DEFAULT_HOP_S = 3.36e-6 / 9  # speck.md §1.8
STATE_MAX = 32767


@njit(cache=True)
def _swap(ht, hi, a, b):
    """Exchange heap entries a and b (time and event row)."""
    tt = ht[a]
    ht[a] = ht[b]
    ht[b] = tt
    for q in range(hi.shape[1]):
        x = hi[a, q]
        hi[a, q] = hi[b, q]
        hi[b, q] = x


@njit(cache=True)
def _heap_push(ht, hi, n, t, row):
    """Push (t, payload row) into a binary min-heap keyed by (time, payload[5] = sequence)."""
    if n == ht.shape[0]:
        nt = np.empty(2 * n, np.float64)
        ni = np.empty((2 * n, hi.shape[1]), np.int64)
        nt[:n] = ht
        ni[:n] = hi
        ht, hi = nt, ni
    j = n
    ht[j] = t
    hi[j] = row
    while j > 0:
        p = (j - 1) // 2
        if ht[p] > ht[j] or (ht[p] == ht[j] and hi[p, 5] > hi[j, 5]):
            _swap(ht, hi, p, j)
            j = p
        else:
            break
    return ht, hi, n + 1


@njit(cache=True)
def _heap_pop(ht, hi, n):
    t = ht[0]
    row = hi[0].copy()
    n -= 1
    ht[0] = ht[n]
    hi[0] = hi[n]
    j = 0
    while True:
        a = 2 * j + 1
        b = a + 1
        m = j
        if a < n and (ht[a] < ht[m] or (ht[a] == ht[m] and hi[a, 5] < hi[m, 5])):
            m = a
        if b < n and (ht[b] < ht[m] or (ht[b] == ht[m] and hi[b, 5] < hi[m, 5])):
            m = b
        if m == j:
            break
        _swap(ht, hi, m, j)
        j = m
    return t, row, n


@njit(cache=True)
def _integrate(V, idx, add, thr, lo, rtz):
    """``v += add``; on ``v >= thr`` reset (to 0 or by −thr); clamp to ``[lo, 2^15 − 1]``. Returns fired."""
    v = V[idx] + add
    fired = v >= thr
    if fired:
        v = 0 if rtz == 1 else v - thr
    V[idx] = min(max(v, lo), STATE_MAX)
    return fired


@njit(cache=True)
def _emit(geo, dest, l, fired, nfire, step, latency, te, origin, sp, sl, ns, ht, hi, hn, seq, row):
    """Record ``nfire`` spikes of layer ``l`` (binned to ``step``, with ``latency``) and queue them at each
    destination (sum pooling by address, feature shift) for time ``te``."""
    for q in range(nfire):
        if ns == sp.shape[0]:
            sp2 = np.empty((2 * ns, 5), np.int64)
            sp2[:ns] = sp
            sp = sp2
            sl2 = np.empty(2 * ns, np.float64)
            sl2[:ns] = sl
            sl = sl2
        sp[ns, 0] = l
        sp[ns, 1] = fired[q, 0]
        sp[ns, 2] = fired[q, 1]
        sp[ns, 3] = fired[q, 2]
        sp[ns, 4] = step
        sl[ns] = latency
        ns += 1
        for d in range(dest[l, 0]):
            dl, pool, sh = dest[l, 1 + 3 * d], dest[l, 2 + 3 * d], dest[l, 3 + 3 * d]
            ny, nx = fired[q, 1] // pool, fired[q, 2] // pool
            if ny < geo[dl, 1] and nx < geo[dl, 2]:
                row[0] = dl
                row[1] = fired[q, 0] + sh
                row[2] = ny
                row[3] = nx
                row[4] = step
                row[5] = seq
                row[6] = origin
                seq += 1
                ht, hi, hn = _heap_push(ht, hi, hn, te, row)
    return sp, sl, ns, ht, hi, hn, seq


@njit(cache=True)
def _run(geo, W, B, dest, in_t, in_rows, tick_dt, dt, t_end, hop, rate, backlog, leak_layers):
    """geo [L, 14]: cin hin win f hout wout k sy sx py px w_off v_off thr_hi; dest [L, 10]: ndest,
    (layer, pool, shift) x 2, thr_lo, rtz, b_off. in_rows [E, 5]: layer c y x step (sorted by in_t).
    Returns spikes [S, 5] (layer f y x step), spike latency [S], synops [L], leak updates [L], drops [L],
    events in [L]."""
    L = geo.shape[0]
    nv = 0
    kmax = 1
    for l in range(L):
        nv = max(nv, geo[l, 12] + geo[l, 3] * geo[l, 4] * geo[l, 5])
        kmax = max(kmax, geo[l, 3] * geo[l, 6] * geo[l, 6], geo[l, 3] * geo[l, 4] * geo[l, 5])
    V = np.zeros(nv, np.int64)
    busy = np.zeros(L, np.float64)
    synops = np.zeros(L, np.int64)
    leaks = np.zeros(L, np.int64)
    drops = np.zeros(L, np.int64)
    ev_in = np.zeros(L, np.int64)
    ht = np.empty(1024, np.float64)
    hi = np.empty((1024, 7), np.int64)  # layer c y x step seq origin-event index
    hn = 0
    sp = np.empty((1024, 5), np.int64)
    sl = np.empty(1024, np.float64)
    ns = 0
    fired = np.empty((kmax, 3), np.int64)
    seq = 0
    ie = 0
    n_in = in_t.shape[0]
    next_tick = 0.0 if tick_dt > 0 else math.inf
    tick_step = 0
    row = np.zeros(7, np.int64)
    r = np.zeros(7, np.int64)
    while True:
        t_heap = ht[0] if hn > 0 else math.inf
        t_inp = in_t[ie] if ie < n_in else math.inf
        t_ev = min(t_heap, t_inp)
        if next_tick <= t_ev and next_tick < t_end:
            # slow-clock tick: bias leak on every neuron of leak-enabled layers
            tstep = int(math.floor(next_tick / dt + 1e-9))
            for l in range(L):
                if not leak_layers[l]:
                    continue
                f, ho, wo = geo[l, 3], geo[l, 4], geo[l, 5]
                nfire = 0
                for fo in range(f):
                    b = B[dest[l, 9] + fo]
                    for oy in range(ho):
                        for ox in range(wo):
                            leaks[l] += 1
                            if _integrate(V, geo[l, 12] + (fo * ho + oy) * wo + ox, b, geo[l, 13], dest[l, 7],
                                          dest[l, 8]):
                                fired[nfire, 0] = fo
                                fired[nfire, 1] = oy
                                fired[nfire, 2] = ox
                                nfire += 1
                sp, sl, ns, ht, hi, hn, seq = _emit(geo, dest, l, fired, nfire, tstep, hop, next_tick + hop,
                                                    -1 - tick_step, sp, sl, ns, ht, hi, hn, seq, row)
            tick_step += 1
            next_tick = tick_step * tick_dt
            continue
        if t_ev == math.inf:
            break
        if t_inp <= t_heap:
            t = t_inp
            l, c, y, x, step = in_rows[ie, 0], in_rows[ie, 1], in_rows[ie, 2], in_rows[ie, 3], in_rows[ie, 4]
            t0 = t
            origin = ie
            ie += 1
        else:
            t, r, hn = _heap_pop(ht, hi, hn)
            l, c, y, x, step = r[0], r[1], r[2], r[3], r[4]
            origin = r[6]
            t0 = in_t[origin] if origin >= 0 else (-1 - origin) * tick_dt
        ev_in[l] += 1
        start = max(t, busy[l])
        if rate > 0 and start - t > backlog:
            drops[l] += 1
            continue
        k, sy, sx, py, px = geo[l, 6], geo[l, 7], geo[l, 8], geo[l, 9], geo[l, 10]
        cin, f, ho, wo = geo[l, 0], geo[l, 3], geo[l, 4], geo[l, 5]
        thr, lo, rtz = geo[l, 13], dest[l, 7], dest[l, 8]
        nup = 0
        nfire = 0
        for ky in range(k):
            ny = y + py - ky
            if ny < 0 or ny % sy != 0:
                continue
            oy = ny // sy
            if oy >= ho:
                continue
            for kx in range(k):
                nx = x + px - kx
                if nx < 0 or nx % sx != 0:
                    continue
                ox = nx // sx
                if ox >= wo:
                    continue
                for fo in range(f):
                    nup += 1
                    if _integrate(V, geo[l, 12] + (fo * ho + oy) * wo + ox,
                                  W[geo[l, 11] + ((fo * cin + c) * k + ky) * k + kx], thr, lo, rtz):
                        fired[nfire, 0] = fo
                        fired[nfire, 1] = oy
                        fired[nfire, 2] = ox
                        nfire += 1
        synops[l] += nup
        finish = start + (nup / rate if rate > 0 else 0.0)
        busy[l] = finish
        te = finish + hop
        sp, sl, ns, ht, hi, hn, seq = _emit(geo, dest, l, fired, nfire, step, te - t0, te, origin, sp, sl, ns, ht,
                                            hi, hn, seq, row)
    return sp[:ns], sl[:ns], synops, leaks, drops, ev_in


def _pack(cfg: Any) -> dict[str, Any]:
    """Flat arrays of a SpeckConfig for the kernel."""
    layers = cfg.layers
    index = {L.name: i for i, L in enumerate(layers)}
    geo = np.zeros((len(layers), 14), np.int64)
    dest = np.zeros((len(layers), 10), np.int64)
    ws, bs = [], []
    w_off = v_off = b_off = 0
    for i, L in enumerate(layers):
        c, h, w = L.in_shape
        f, ho, wo = L.out_shape
        geo[i] = (c, h, w, f, ho, wo, L.kernel, L.stride[0], L.stride[1], L.padding[0], L.padding[1], w_off, v_off,
                  L.threshold_high)
        dest[i, 0] = len(L.destinations)
        for d, (name, pool, sh) in enumerate(L.destinations):
            dest[i, 1 + 3 * d:4 + 3 * d] = (index[name], pool, sh)
        dest[i, 7:10] = (L.threshold_low, 1 if L.reset == "zero" else 0, b_off)
        ws.append(np.asarray(L.weight, np.int64).reshape(-1))
        bs.append(np.asarray(L.bias, np.int64).reshape(-1))
        w_off += ws[-1].size
        b_off += bs[-1].size
        v_off += f * ho * wo
    if cfg.dvs is not None:
        routes = [(index[n], sh) for n, sh in cfg.dvs.destinations]
    else:
        routes = [(index[n], sh) for n, sh in cfg.input_routes]
    return {"geo": geo, "dest": dest, "W": np.concatenate(ws), "B": np.concatenate(bs), "routes": routes,
            "dvs": cfg.dvs, "index": index, "leak": np.array([L.leak_enable for L in layers], dtype=np.bool_)}


def _input_events(x: np.ndarray, dt: float, routes: list[tuple[int, int]], dvs: Any,
                  geo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One sample's ``[T, *shape]`` counts -> (times [E], rows [E, 5]) through the DVS layer (merge, pooling,
    crop, mirror, swap: backends/speck/dvs.py) and the routes."""
    if x.ndim == 2:  # flat input (N,) -> (N, 1, 1)
        x = x[:, :, None, None]
    t, c, y, xx = np.nonzero(x)
    n = x[t, c, y, xx].astype(np.int64)
    t, c, y, xx = (np.repeat(a, n) for a in (t, c, y, xx))
    if dvs is not None:
        keep, c, y, xx = dvs.events(c, y, xx)
        t, c, y, xx = t[keep], c[keep], y[keep], xx[keep]
    rows, times = [], []
    for layer, sh in routes:
        ok = (y < geo[layer, 1]) & (xx < geo[layer, 2]) & (c + sh < geo[layer, 0])
        r = np.stack([np.full(ok.sum(), layer), c[ok] + sh, y[ok], xx[ok], t[ok]], axis=1)
        rows.append(r)
        times.append(t[ok])
    if not rows:
        return np.zeros(0), np.zeros((0, 5), np.int64)
    r = np.concatenate(rows).astype(np.int64)
    st = np.concatenate(times)
    order = np.lexsort((np.arange(len(st)), st))  # by step, stable: route, then channel, y, x
    return r[order, 4].astype(np.float64) * dt, np.ascontiguousarray(r[order])


def run_async(program: Any, inputs: Any, record: Any = None, slow_clk_hz: float | None = None,
              synops_per_s: float | None = None, max_backlog_s: float = 1e-3,
              hop_latency_s: float | None = None, progress: bool = False) -> SimResult:
    """Run a Program compiled for a speck-family target on ``inputs`` ``[T, B, *input_shape]`` (event counts).

    ``slow_clk_hz``: leak ticks per second (default 1/dt); ``synops_per_s``: per-core throughput limit (None =
    unlimited: no published figure, speck.md §1.1); ``max_backlog_s``: queueing delay beyond which an event is
    dropped; ``hop_latency_s``: per-core latency (default: the target's ``event_latency_s`` = 3.36 µs / 9);
    ``progress``: a progress bar over the samples."""
    cfg = getattr(program, "config", None)
    if cfg is None or not hasattr(cfg, "layers"):
        raise SimulationError("the async engine runs a Program compiled for a speck target", node="async",
                              hint="spikemesh.compile(graph, 'speck') first")
    if record:
        raise SimulationError("the async engine records spikes only (no membrane traces)", node="async")
    graph = program.graph
    dvs = getattr(cfg, "dvs", None)
    if dvs is not None and dvs.sensor:  # raw sensor events [T, B, 2, H, W]: the DVS layer makes the graph input
        x = np.asarray(inputs[graph.inputs[0].name] if isinstance(inputs, dict) else inputs)
        if x.ndim == 4:
            x = x[:, None]
        if x.ndim != 5 or tuple(x.shape[2:]) != dvs.shape:
            raise SimulationError("async inputs of a DVS build are sensor events", node="dvs",
                                  needed=f"[T, B, {', '.join(map(str, dvs.shape))}]", available=list(x.shape),
                                  hint="config.dvs.frames(x) gives what the graph input sees (for reference)")
        T, Bn = x.shape[:2]
    else:
        xs, T, Bn = normalize_inputs(graph, inputs)
        x = xs[graph.inputs[0].name]
    if not np.all(np.isfinite(x)) or np.any(x < 0) or np.any(x != np.round(x)):
        raise SimulationError("async inputs are event counts (non-negative integers)", node=graph.inputs[0].name)
    pk = _pack(cfg)
    dt = graph.dt
    tick_dt = 0.0
    if pk["leak"].any():
        tick_dt = 1.0 / slow_clk_hz if slow_clk_hz else dt
    hop = float(program.target.extra.get("event_latency_s", DEFAULT_HOP_S) if hop_latency_s is None
                else hop_latency_s)
    rate = float(synops_per_s or 0.0)
    layers = cfg.layers
    spikes = {L.name: np.zeros((T, Bn, *L.pop_shape), dtype=bool) for L in layers}
    counts = {L.name: 0 for L in layers}
    n = len(layers)
    tot = {k: np.zeros(n, np.int64) for k in ("synops", "leak_updates", "dropped", "events_in")}
    per_sample = []
    batches: Any = range(Bn)
    if progress:
        from rich.progress import track

        batches = track(batches, description="async", transient=True)
    for b in batches:
        t_in, rows = _input_events(x[:, b], dt, pk["routes"], pk["dvs"], pk["geo"])
        sp, lat, syn, leak, drop, ev = _run(pk["geo"], pk["W"], pk["B"], pk["dest"], t_in, rows, tick_dt, dt,
                                           T * dt, hop, rate, float(max_backlog_s), pk["leak"])
        for k, v in zip(tot, (syn, leak, drop, ev)):
            tot[k] += v
        for i, L in enumerate(layers):
            m = sp[:, 0] == i
            if not m.any():
                continue
            s = sp[m]
            counts[L.name] += int(m.sum())
            ch = np.asarray(L.channels)
            inv = np.full(L.out_shape[0], -1)
            inv[ch] = np.arange(len(ch))
            pc = inv[s[:, 1]]
            ok = (pc >= 0) & (s[:, 4] < T)
            arr = spikes[L.name].reshape(T, Bn, L.out_shape[0] if not L.channels else len(ch), -1)
            flat = s[ok, 2] * L.out_shape[2] + s[ok, 3]
            arr[s[ok, 4], b, pc[ok], flat] = True
        out_lat = lat[np.isin(sp[:, 0], [i for i, L in enumerate(layers) if L.monitor])] if len(sp) else lat
        per_sample.append({
            "input_events": int(len(t_in)), "synops": int(syn.sum()), "spikes": int(len(sp)),
            "dropped": int(drop.sum()),
            "latency_mean_s": float(out_lat.mean()) if len(out_lat) else None,
            "latency_max_s": float(out_lat.max()) if len(out_lat) else None,
        })
    stats = _energy_stats(program, tot, T * dt * Bn, cfg)
    stats.update(samples=per_sample, spike_events=counts)
    outputs = {o.name: spikes[o.source] for o in graph.outputs if o.source in spikes}
    return SimResult(spikes=spikes, v={}, outputs=outputs, engine="async", steps=T, mode="int", stats=stats)


def _energy_stats(program: Any, tot: dict[str, np.ndarray], seconds: float, cfg: Any) -> dict[str, Any]:
    from spikemesh.simulator.energy import Actions, energy

    n_cores = program.target.cores_per_chip
    per_core = {k: np.zeros(n_cores, np.int64) for k in tot}
    for i, c in enumerate(cfg.cores):
        for k in tot:
            per_core[k][c] += tot[k][i]
    acts = Actions(seconds=seconds)
    acts.add("synop", per_core["synops"] + per_core["leak_updates"])  # a leak update costs one SynOp (no figure)
    rep = energy(acts, program.target.energy)
    e = rep.to_dict()
    pj = float(program.target.energy.synop_pj)
    e["by_layer_pj"] = {L.name: float((tot["synops"][i] + tot["leak_updates"][i]) * pj)
                        for i, L in enumerate(cfg.layers)}
    return {"synops_per_core": per_core["synops"].tolist(), "leak_updates_per_core": per_core["leak_updates"].tolist(),
            "dropped_per_core": per_core["dropped"].tolist(), "events_in_per_core": per_core["events_in"].tolist(),
            "seconds": seconds, "energy": e,
            "energy_dynamic_pj": float(rep.total_pj - rep.by_action["static"])}
