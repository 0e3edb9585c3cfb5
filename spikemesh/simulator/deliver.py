"""Numba kernels delivering a node's output through its implicit projections (implicit.py) into the pending-input
ring ``pending[(t + delay) % S, slot]``.

``deliver(k, ...)`` is called once per step after node ``k`` (a population, or an input whose step values were
written into ``v``) has been updated: it lists the node's non-zero outputs once, then for each implicit projection
either scatters every active source through the stages (event mode) or, for a lone convolution, runs one gather
convolution over the whole source (dense mode) when the active fraction exceeds ``dense_frac`` (or when forced).
Integer results do not depend on the order of additions, so both modes give the reference's spikes exactly.

Plan (``implicit_plan`` in fast.py): ``node_ptr`` [n_nodes + 1] ranges of projection rows ``pj`` [J, 8]
(``Q0`` first target slot, ``ST0``/``ST1`` stage rows, ``DLY`` uniform delay, ``DPOS`` stage count before a
per-element delay (-1 none), ``DOFF`` offset into ``dpool``, ``DENSE`` 1 when dense delivery applies, ``MODE`` 0
auto / 1 event / 2 dense); stage rows ``st`` [n_st, NPAR] (implicit.NPAR; columns ``KIND``, ``W0`` event-layout
weight offset into ``wev``, ``WG`` gather-layout offset into ``wga``, ``PTR``/``IDX`` offsets into ``iptr``/``iidx``).
CONV weights in event layout: ``wev[W0 + (c·K + tap)·cout_g + o_local]`` (contiguous over output channels of the
input channel's group); gather layout: ``wga[WG + (o·cin_g + c_local)·K + tap]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

Q0, ST0, ST1, DLY, DPOS, DOFF, DENSE, MODE = range(8)
KIND, W0, WG, PTR, IDX, TAB = 21, 22, 23, 24, 25, 26


@njit(cache=True, inline="always")
def _lo_hi(n_in, n_out, u, s, p, d):  # type: ignore[no-untyped-def]
    """Output positions o in [lo, hi) whose tap u reads an input inside [0, n_in): 0 <= o*s - p + u*d < n_in."""
    v = p - u * d
    lo = 0 if v <= 0 else (v + s - 1) // s
    top = n_in - 1 + v
    hi = 0 if top < 0 else top // s + 1
    if hi > n_out:
        hi = n_out
    return lo, hi


@njit(cache=True)
def _axis_table(n_in, n_out, k, s, p, d):  # type: ignore[no-untyped-def]
    """Per input position y of one axis: the taps u and outputs o with o·s - p + u·d = y, 0 <= o < n_out
    (``cnt[y]`` pairs in ``tu[y]``, ``to[y]``)."""
    cnt = np.zeros(n_in, dtype=np.int64)
    tu = np.empty((n_in, k), dtype=np.int64)
    to = np.empty((n_in, k), dtype=np.int64)
    for y in range(n_in):
        c = 0
        for u in range(k):
            num = y + p - u * d
            if num >= 0 and num % s == 0 and num // s < n_out:
                tu[y, c] = u
                to[y, c] = num // s
                c += 1
        cnt[y] = c
    return cnt, tu, to


@njit(cache=True)
def spatial_table(P):  # type: ignore[no-untyped-def]
    """For each spatial input position s of CONV stage row ``P``: its valid (tap, spatial output) pairs, as one
    int64 array ``[ptr (n_s + 1), tap (E), out (E)]`` (E = pairs; independent of the channels)."""
    cz, tuz, toz = _axis_table(P[1], P[5], P[8], P[11], P[14], P[17])
    cy, tuy, toy = _axis_table(P[2], P[6], P[9], P[12], P[15], P[18])
    cx, tux, tox = _axis_table(P[3], P[7], P[10], P[13], P[16], P[19])
    zi, yi, xi, yo, xo, ky, kx = P[1], P[2], P[3], P[6], P[7], P[9], P[10]
    n_s = zi * yi * xi
    E = 0
    for z in range(zi):
        for y in range(yi):
            for x in range(xi):
                E += cz[z] * cy[y] * cx[x]
    out = np.empty(n_s + 1 + 2 * E, dtype=np.int64)
    out[0] = 0
    e = 0
    for z in range(zi):
        for y in range(yi):
            for x in range(xi):
                for iz in range(cz[z]):
                    for iy in range(cy[y]):
                        for ix in range(cx[x]):
                            out[n_s + 1 + e] = (tuz[z, iz] * ky + tuy[y, iy]) * kx + tux[x, ix]
                            out[n_s + 1 + E + e] = (toz[z, iz] * yo + toy[y, iy]) * xo + tox[x, ix]
                            e += 1
                out[(z * yi + y) * xi + x + 1] = e
    return out


@njit(cache=True)
def conv_events(act, na, src, a, zero, P, wev, tab, row, q0):  # type: ignore[no-untyped-def]
    """Active input elements ``act[:na]`` (values ``src[a + i]``) through a CONV stage into ``row[q0 + output]``:
    each scatters through the kernel taps that land inside the output (``tab[P[TAB]:]``: ``spatial_table``),
    over its group's output channels."""
    cin, zi, yi, xi, cout, zo, yo, xo = P[0], P[1], P[2], P[3], P[4], P[5], P[6], P[7]
    g, w0, t = P[20], P[W0], P[TAB]
    cin_g = cin // g
    cout_g = cout // g
    K = P[8] * P[9] * P[10]
    plane = zo * yo * xo
    n_s = zi * yi * xi
    E = tab[t + n_s]
    taps = t + n_s + 1
    outs = taps + E
    uplane = np.uint64(plane)
    ucout = np.uint64(cout_g)
    for e in range(na):
        i = act[e]
        val = zero + src[a + i]
        c = i // n_s
        sp = i - c * n_s
        wc = w0 + c * K * cout_g
        ob0 = q0 + (c // cin_g) * cout_g * plane
        # unsigned indices: no negative-index wraparound checks in the inner loops
        for k in range(tab[t + sp], tab[t + sp + 1]):
            wb = np.uint64(wc + tab[taps + k] * cout_g)
            ob = np.uint64(ob0 + tab[outs + k])
            for ol in range(ucout):
                row[ob + ol * uplane] += wev[wb + ol] * val


@njit(cache=True)
def conv_gather(src, a, P, wga, row, q0):  # type: ignore[no-untyped-def]
    """The whole source ``src[a:a + n_in]`` through a CONV stage, added into ``row[q0:q0 + n_out]``."""
    cin, zi, yi, xi, cout, zo, yo, xo = P[0], P[1], P[2], P[3], P[4], P[5], P[6], P[7]
    kz, ky, kx, sz, sy, sx, pz, py, px = P[8], P[9], P[10], P[11], P[12], P[13], P[14], P[15], P[16]
    dz, dy, dx, g, w0 = P[17], P[18], P[19], P[20], P[WG]
    cin_g = cin // g
    cout_g = cout // g
    K = kz * ky * kx
    plane = zo * yo * xo
    n_in = cin * zi * yi * xi
    xs = np.empty(n_in, dtype=row.dtype)  # the source in the state dtype: one type in the inner loop
    for i in range(n_in):
        xs[i] = src[a + i]
    out = np.zeros(cout * plane, dtype=row.dtype)
    for o in range(cout):
        cbase = (o // cout_g) * cin_g
        obase = o * plane
        for cl in range(cin_g):
            ibase = (cbase + cl) * zi * yi * xi
            for uz in range(kz):
                lz, hz = _lo_hi(zi, zo, uz, sz, pz, dz)
                for uy in range(ky):
                    ly, hy = _lo_hi(yi, yo, uy, sy, py, dy)
                    for ux in range(kx):
                        wv = wga[w0 + (o * cin_g + cl) * K + (uz * ky + uy) * kx + ux]
                        if wv == 0:
                            continue
                        lx, hx = _lo_hi(xi, xo, ux, sx, px, dx)
                        for oz in range(lz, hz):
                            zz = oz * sz - pz + uz * dz
                            for oy in range(ly, hy):
                                rb = obase + (oz * yo + oy) * xo
                                sb = ibase + (zz * yi + oy * sy - py + uy * dy) * xi - px + ux * dx
                                if sx == 1:
                                    for ox in range(lx, hx):
                                        out[rb + ox] += wv * xs[sb + ox]
                                else:
                                    for ox in range(lx, hx):
                                        out[rb + ox] += wv * xs[sb + ox * sx]
    for f in range(cout * plane):
        row[q0 + f] += out[f]


@njit(cache=True)
def stage_emit(P, wev, iptr, iidx, bi, bv, bd, n, oi, ov, od):  # type: ignore[no-untyped-def]
    """Entries ``(bi, bv, bd)[:n]`` (index, value, delay) through one stage into ``(oi, ov, od)``; returns the
    output count (entries are not merged: the stages are linear)."""
    kind = P[KIND]
    m = 0
    if kind == 1:  # DIAG
        uni = P[1] != 0
        for e in range(n):
            oi[m] = bi[e]
            ov[m] = (wev[P[W0]] if uni else wev[P[W0] + bi[e]]) * bv[e]
            od[m] = bd[e]
            m += 1
        return m
    if kind == 2:  # CSR
        for e in range(n):
            r = P[PTR] + bi[e]
            for kk in range(iptr[r], iptr[r + 1]):
                oi[m] = iidx[P[IDX] + kk]
                ov[m] = wev[P[W0] + kk] * bv[e]
                od[m] = bd[e]
                m += 1
        return m
    cin, zi, yi, xi, cout, zo, yo, xo = P[0], P[1], P[2], P[3], P[4], P[5], P[6], P[7]
    kz, ky, kx, sz, sy, sx, pz, py, px = P[8], P[9], P[10], P[11], P[12], P[13], P[14], P[15], P[16]
    dz, dy, dx, g, w0 = P[17], P[18], P[19], P[20], P[W0]
    cin_g = cin // g
    cout_g = cout // g
    K = kz * ky * kx
    plane = zo * yo * xo
    for e in range(n):
        i = bi[e]
        x = i % xi
        r = i // xi
        y = r % yi
        r = r // yi
        z = r % zi
        c = r // zi
        ob0 = (c // cin_g) * cout_g * plane
        for uz in range(kz):
            nz = z + pz - uz * dz
            if nz < 0 or nz % sz != 0 or nz // sz >= zo:
                continue
            for uy in range(ky):
                ny = y + py - uy * dy
                if ny < 0 or ny % sy != 0 or ny // sy >= yo:
                    continue
                for ux in range(kx):
                    nx = x + px - ux * dx
                    if nx < 0 or nx % sx != 0 or nx // sx >= xo:
                        continue
                    wb = w0 + (c * K + (uz * ky + uy) * kx + ux) * cout_g
                    ob = ob0 + ((nz // sz) * yo + ny // sy) * xo + nx // sx
                    for ol in range(cout_g):
                        oi[m] = ob + ol * plane
                        ov[m] = wev[wb + ol] * bv[e]
                        od[m] = bd[e]
                        m += 1
    return m


@njit(cache=True)
def chain_entries(j, i, val, pj, st, wev, iptr, iidx, dpool, buf):  # type: ignore[no-untyped-def]
    """Source element ``i`` (value ``val``) through every stage of projection ``j``: returns (count, index, value,
    delay arrays) — target-local indices with their total delays (uniform + per-element)."""
    bi, bv, bd, oi, ov, od = buf
    s0, s1, dpos, doff = pj[j, ST0], pj[j, ST1], pj[j, DPOS], pj[j, DOFF]
    bi[0] = i
    bv[0] = val
    bd[0] = pj[j, DLY]
    n = 1
    if dpos == 0:
        bd[0] += dpool[doff + i]
    for s in range(s0, s1):
        n = stage_emit(st[s], wev, iptr, iidx, bi, bv, bd, n, oi, ov, od)
        bi, oi = oi, bi
        bv, ov = ov, bv
        bd, od = od, bd
        if dpos == s - s0 + 1:
            for e in range(n):
                bd[e] += dpool[doff + bi[e]]
    return n, bi, bv, bd


@njit(cache=True)
def deliver(k, src, a, n, cur, pending, plan, dcount):  # type: ignore[no-untyped-def]
    """Node ``k``'s outputs ``src[a:a + n]`` (spikes as 0/1, or values) through its implicit projections."""
    node_ptr, act = plan[0], plan[8]
    if node_ptr[k] == node_ptr[k + 1]:
        return
    na = 0
    for i in range(n):
        if src[a + i] != 0:
            act[na] = i
            na += 1
    deliver_active(k, src, a, n, na, cur, pending, plan, dcount)


@njit(cache=True, inline="always")
def deliver_active(k, src, a, n, na, cur, pending, plan, dcount):  # type: ignore[no-untyped-def]
    """``deliver`` with the active local indices already in ``act[:na]`` (the plan's scratch; each once)."""
    node_ptr, pj, st, wev, wga, iptr, iidx, dpool, act, dense_frac, buf, tab = plan
    j0, j1 = node_ptr[k], node_ptr[k + 1]
    if j0 == j1 or na == 0:
        return
    S = pending.shape[0]
    zero = pending[0, 0] * 0
    for j in range(j0, j1):
        q0 = pj[j, Q0]
        sl = cur + pj[j, DLY]
        while sl >= S:
            sl -= S
        row = pending[sl]
        mode = pj[j, MODE]
        P = st[pj[j, ST0]]
        if pj[j, DENSE] != 0 and (mode == 2 or (mode == 0 and na > dense_frac * n)):
            dcount[j, 1] += 1
            conv_gather(src, a, P, wga, row, q0)
            continue
        dcount[j, 0] += 1
        if pj[j, ST1] - pj[j, ST0] == 1 and pj[j, DPOS] < 0:
            kind = P[KIND]
            if kind == 0:
                conv_events(act, na, src, a, zero, P, wev, tab, row, q0)
            elif kind == 1:
                uni = P[1] != 0
                for e in range(na):
                    i = act[e]
                    w = wev[P[W0]] if uni else wev[P[W0] + i]
                    row[q0 + i] += w * src[a + i]
            else:
                for e in range(na):
                    i = act[e]
                    r = P[PTR] + i
                    for kk in range(iptr[r], iptr[r + 1]):
                        row[q0 + iidx[P[IDX] + kk]] += wev[P[W0] + kk] * src[a + i]
            continue
        for e in range(na):
            i = act[e]
            m, oi, ov, od = chain_entries(j, i, zero + src[a + i], pj, st, wev, iptr, iidx, dpool, buf)
            for f in range(m):
                s2 = cur + od[f]
                while s2 >= S:
                    s2 -= S
                pending[s2, q0 + oi[f]] += ov[f]


@njit(cache=True)
def chain_degree(j, n_src, n_tgt, one, pj, st, wev, iptr, iidx, dpool, buf, out):  # type: ignore
    """Out-degree of each source element of projection ``j`` counted like an explicit CSR: distinct (target,
    delay) pairs whose summed weight is non-zero (``one``: 1 in the weights' dtype)."""
    for i in range(n_src):
        m, oi, ov, od = chain_entries(j, i, one, pj, st, wev, iptr, iidx, dpool, buf)
        if m == 0:
            out[i] = 0
            continue
        key = od[:m].astype(np.int64) * n_tgt + oi[:m]
        order = np.argsort(key)
        cnt = 0
        acc = ov[order[0]]
        for f in range(1, m):
            if key[order[f]] != key[order[f - 1]]:
                if acc != 0:
                    cnt += 1
                acc = ov[order[f]]
            else:
                acc += ov[order[f]]
        if acc != 0:
            cnt += 1
        out[i] = cnt
