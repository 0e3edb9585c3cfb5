"""Cycle-level network-on-chip model of one synchronous time step.

The kernels read the routes as flat arrays (``NocArrays``, built by ``noc_routes.flatten_routes``): physical
channels with their latencies, the links of every route's multicast tree with their channel and children, and the
destination cores ejecting at each link's downstream router.

Model (``noc_step``; ``noc_run`` loops it over a run's steps in one compiled call): single-flit packets (one spike =
one packet). Each cycle a link carries at most ``link_flits_per_cycle`` flits; a flit entering a router waits
``hop_cycles`` (``interchip_hop_cycles`` on a link crossing a chip border, the inter-chip serialisation latency)
before it can leave; every channel has an input buffer of ``buffer_flits`` at its downstream router, and a flit is
sent only when a slot is free (credit-based back-pressure; the slot is reserved while the flit is in flight).
Buffers are FIFO: only the head flit moves (head-of-line blocking). At a branch router the head flit is copied into
each child link as that child becomes free (multicast replication) and leaves the buffer when every child has its
copy and the local cores have ejected it. Source cores inject from unbounded output queues. The step's barrier is
the cycle at which every packet has been delivered. A watchdog ends the step with status "deadlock" when no flit has
moved for longer than any latency could explain, and reports the blocked channels.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikemesh.target.model import Target

#: bits per packet on inter-chip links. Assumed: one 32-bit address-event word (the mesh presets publish no packet
#: size; for scale, SpiNNaker's multicast packets are 40 bits, or 72 with a payload: SpiNNaker datasheet v2.02)
PACKET_BITS = 32


@njit(cache=True)
def _noc_core(inject, ch_latency, e_ch, e_eject, e_cptr, e_cidx, r_ptr, r_idx, r_local, buffer_flits,  # type: ignore
              link_flits, watchdog, buf_e, buf_ready, buf_mask, link_load, blocked, head, count, used_cycle, used_n,
              queue, qmask, jump):
    """One step's traffic (see ``noc_step``) on caller-owned scratch arrays (``head``, ``count``, ``used_n``,
    ``qmask`` zero and ``used_cycle`` -1 on entry; ``queue`` [R] is overwritten).

    ``jump`` (event-driven; results identical to ``jump=False``, which steps every cycle over every route and
    channel — tested):
    - each cycle visits only the routes with packets left and the channels holding flits at the start of the
      cycle, in ascending index order as the full scan does (a flit that enters a channel during a cycle is not
      ready before the next one, so the full scan would skip it too);
    - after a cycle in which no flit moved, the state is frozen (the same injections and forwardings fail again,
      the same stalls are counted) until the earliest head flit that is not yet ready becomes ready, so those
      cycles are skipped at once — adding them to the clock and to the idle count, and the frozen cycle's stalls
      once per skipped cycle — and the watchdog fires at the cycle it would have."""
    C = ch_latency.shape[0]
    R = inject.shape[0]
    for r in range(R):
        queue[r] = inject[r]
    delivered = 0
    hops = 0
    stalls = 0
    in_net = 0
    for r in range(R):
        delivered += queue[r] * r_local[r]
        if r_ptr[r + 1] == r_ptr[r]:
            queue[r] = 0  # every destination is on the source router
    pending = 0
    for r in range(R):
        pending += queue[r]
    rlist = np.empty(R, np.int64)  # routes to visit (ascending)
    nr = 0
    for r in range(R):
        if queue[r] > 0 or not jump:
            rlist[nr] = r
            nr += 1
    clist = np.empty(C, np.int64)  # channels to visit (ascending): holding flits at the start of the cycle
    nc = 0
    if not jump:
        for c in range(C):
            clist[c] = c
        nc = C
    fresh = np.empty(C, np.int64)  # channels that received their first flit during the cycle
    merged = np.empty(C, np.int64)
    now = 0
    idle = 0
    while pending > 0 or in_net > 0:
        moved = False
        stalls0 = stalls
        nf = 0
        # every head packet, of each source queue (to its route's root links) and then of each channel buffer (to
        # the tree links below its link), enters each link it has not entered yet whose channel has bandwidth left
        # this cycle and a free slot in its downstream buffer; it is done when every such link has its copy
        r = c = h = e = 0
        for it in range(nr + nc):
            inject_it = it < nr
            if inject_it:
                r = rlist[it]
                if queue[r] == 0:
                    continue
                lo, hi, m = r_ptr[r], r_ptr[r + 1], qmask[r]
            else:
                c = clist[it - nr]
                if count[c] == 0:
                    continue
                h = head[c]
                if buf_ready[c, h] > now:
                    continue
                e = buf_e[c, h]
                lo, hi, m = e_cptr[e], e_cptr[e + 1], buf_mask[c, h]
            done = True
            for q in range(hi - lo):
                bit = np.int64(1) << q
                if m & bit:
                    continue
                to = r_idx[lo + q] if inject_it else e_cidx[lo + q]  # the tree link to enter, on channel ch
                ch = e_ch[to]
                if (used_cycle[ch] == now and used_n[ch] >= link_flits) or count[ch] >= buffer_flits:
                    stalls += 1
                    done = False
                    continue
                slot = (head[ch] + count[ch]) % buffer_flits
                buf_e[ch, slot] = to
                buf_ready[ch, slot] = now + ch_latency[ch]
                buf_mask[ch, slot] = 0
                if count[ch] == 0:
                    fresh[nf] = ch
                    nf += 1
                count[ch] += 1
                in_net += 1
                if used_cycle[ch] != now:
                    used_cycle[ch] = now
                    used_n[ch] = 0
                used_n[ch] += 1
                link_load[ch] += 1
                hops += 1
                m |= bit
                moved = True
            if inject_it:
                if done:  # the queue's next packet
                    queue[r] -= 1
                    pending -= 1
                    m = 0
                qmask[r] = m
            else:
                buf_mask[c, h] = m
                if done:  # the flit leaves the buffer (its destination cores at this router have it)
                    delivered += e_eject[e]
                    head[c] = (h + 1) % buffer_flits
                    count[c] -= 1
                    in_net -= 1
                    moved = True
        if jump:  # next cycle's lists: drop finished routes and emptied channels, merge the fresh channels
            k = 0
            for ir in range(nr):
                if queue[rlist[ir]] > 0:
                    rlist[k] = rlist[ir]
                    k += 1
            nr = k
            k = 0
            for ic in range(nc):
                if count[clist[ic]] > 0:
                    clist[k] = clist[ic]
                    k += 1
            if nf > 0:
                fs = np.sort(fresh[:nf])
                i = j = n = 0
                while i < k or j < nf:
                    if j >= nf or (i < k and clist[i] <= fs[j]):
                        v = clist[i]
                        i += 1
                    else:
                        v = fs[j]
                        j += 1
                    if count[v] > 0 and (n == 0 or merged[n - 1] != v):
                        merged[n] = v
                        n += 1
                for i in range(n):
                    clist[i] = merged[i]
                k = n
            nc = k
        now += 1
        if moved:
            idle = 0
        else:
            idle += 1
            if jump and idle <= watchdog:
                # frozen until the earliest head flit that is not ready yet (none: until the watchdog fires)
                nxt = np.int64(-1)
                for ic in range(nc):
                    c = clist[ic]
                    rd = buf_ready[c, head[c]]
                    if rd >= now and (nxt < 0 or rd < nxt):
                        nxt = rd
                skip = watchdog + 1 - idle if nxt < 0 else min(nxt - now, watchdog + 1 - idle)
                if skip > 0:
                    now += skip
                    idle += skip
                    stalls += skip * (stalls - stalls0)
            if idle > watchdog:
                for c in range(C):
                    if count[c] > 0 and buf_ready[c, head[c]] <= now:
                        blocked[c] = 1
                return 1, now, delivered, hops, stalls
    return 0, now, delivered, hops, stalls


@njit(cache=True)
def noc_step(inject, ch_latency, e_ch, e_eject, e_cptr, e_cidx, r_ptr, r_idx, r_local, buffer_flits,  # type: ignore
             link_flits, watchdog, buf_e, buf_ready, buf_mask, link_load, blocked, jump=True):
    """Run one step's traffic: ``inject[r]`` packets on route r. Returns (status, cycles, delivered, hops, stalls)
    with status 0 = all delivered, 1 = deadlock (``blocked[c]`` = 1 for channels whose head flit could not move).
    ``buf_*`` [C, buffer_flits] are scratch ring buffers; ``link_load[c]`` += flits carried. ``jump``: skip
    frozen cycles at once (same results, see ``_noc_core``)."""
    C = ch_latency.shape[0]
    R = inject.shape[0]
    return _noc_core(inject, ch_latency, e_ch, e_eject, e_cptr, e_cidx, r_ptr, r_idx, r_local, buffer_flits,
                     link_flits, watchdog, buf_e, buf_ready, buf_mask, link_load, blocked, np.zeros(C, np.int64),
                     np.zeros(C, np.int64), np.full(C, -1, np.int64), np.zeros(C, np.int64), np.zeros(R, np.int64),
                     np.zeros(R, np.int64), jump)


@njit(cache=True)
def noc_run(inject, ch_latency, e_ch, e_eject, e_cptr, e_cidx, r_ptr, r_idx, r_local, buffer_flits,  # type: ignore
            link_flits, watchdog, buf_e, buf_ready, buf_mask, link_load, blocked, comm, stalls, delivered, jump):
    """``noc_step`` for every row of ``inject`` [S, R] (one step each), skipping steps without packets. Writes
    per-step ``comm`` (cycles), ``stalls`` and ``delivered`` [S]; returns (first deadlocked step or -1, total
    router traversals). Stops at a deadlock (``blocked`` names its channels)."""
    C = ch_latency.shape[0]
    S, R = inject.shape
    head = np.zeros(C, np.int64)
    count = np.zeros(C, np.int64)
    used_cycle = np.full(C, -1, np.int64)
    used_n = np.zeros(C, np.int64)
    queue = np.zeros(R, np.int64)
    qmask = np.zeros(R, np.int64)
    hops_total = 0
    for s in range(S):
        any_p = False
        for r in range(R):
            if inject[s, r] != 0:
                any_p = True
                break
        if not any_p:
            continue
        # a drained step leaves head/count/qmask consistent (empty buffers, no partial injection); reset the rest
        for c in range(C):
            head[c] = 0
            count[c] = 0
            used_cycle[c] = -1
            used_n[c] = 0
        for r in range(R):
            qmask[r] = 0
        st, cyc, dl, hp, stl = _noc_core(inject[s], ch_latency, e_ch, e_eject, e_cptr, e_cidx, r_ptr, r_idx,
                                         r_local, buffer_flits, link_flits, watchdog, buf_e, buf_ready, buf_mask,
                                         link_load, blocked, head, count, used_cycle, used_n, queue, qmask, jump)
        comm[s] = cyc
        stalls[s] = stl
        delivered[s] = dl
        hops_total += hp
        if st != 0:
            return s, hops_total
    return -1, hops_total


def watchdog_cycles(target: Target) -> int:
    """Cycles without any flit movement after which a step is declared deadlocked: longer than any latency."""
    return 4 * max(target.noc.hop_cycles, target.noc.interchip_hop_cycles, 1) + 64
