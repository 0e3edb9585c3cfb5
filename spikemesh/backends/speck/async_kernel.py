"""Numba kernel of the ``async`` engine: discrete-event simulation of the Speck (DYNAP-CNN) cores of one sample.

Semantics per input event at a core (one conv scatter: an event-driven convolution, Yao et al., Nature
Communications 2024, doi:10.1038/s41467-024-47811-6, Fig. 2): every neuron its kernel reaches gets ``v += w``; a
neuron with ``v >= threshold_high`` emits **one** spike and is reset (subtract θ, or to 0); a residual ≥ θ stays
until the next event (sinabs documentation, "Tips for training": one spike per input event); then ``v`` is
clamped to ``[threshold_low, 2^15 − 1]`` (16-bit state; ``threshold_low`` is sinabs' ``min_v_mem``). A spike goes
to each destination (≤ 2) as an event at ``(f + feature_shift, y // pooling, x // pooling)`` (sum pooling by
address, per destination: sinabs documentation, "available network architecture"). Non-zero biases are added to
every neuron of the core on each slow-clock tick (the chip's leak; a tick may fire a neuron like an event does — a
modelling choice, not confirmed on silicon). No clock drives anything else.

Timing: an event reaching a core at ``t`` starts at ``max(t, core busy-until)``, takes ``synops / synops_per_s``
(0 when unlimited) and its spikes reach the next core ``hop`` seconds after it ends. With a SynOps/s limit an
event that would wait longer than ``backlog`` is dropped (the speck2e/2f congestion balancer drops events while a
core is overloaded, sinabs documentation) and counted.

Events wait in a binary min-heap keyed by (time, sequence number), so simultaneous events keep their order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: largest membrane state (16-bit signed)
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


@njit(cache=True, inline="always")
def _reached(i, tap, stride, pad, n_out):
    """Along one axis: the output position whose kernel tap ``tap`` sits on input position ``i`` (stride, padding),
    or -1 when there is none."""
    q = i + pad - tap
    if q < 0 or q % stride != 0:
        return -1
    o = q // stride
    return o if o < n_out else -1


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
def run_events(geo, W, B, dest, in_t, in_rows, tick_dt, dt, t_end, hop, rate, backlog, leak_layers):  # type: ignore
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
            oy = _reached(y, ky, sy, py, ho)
            if oy < 0:
                continue
            for kx in range(k):
                ox = _reached(x, kx, sx, px, wo)
                if ox < 0:
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
