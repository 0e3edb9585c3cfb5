"""Numba kernels of the 2-D convolution as the FP, BP and WG engines run it (float32 arrays, float64 accumulators).

Shapes: x ``[N, C, H, W]`` (N = time steps × samples, folded), weights ``[Co, C/groups, kh, kw]``, y / δ
``[N, Co, Ho, Wo]`` with Ho = (H + 2·ph − dh·(kh − 1) − 1) // sh + 1 (torch's convention).
- FP (``conv2d_fwd``): y[n, o, i, j] = Σ_{c, a, b} x[n, c, i·sh − ph + a·dh, j·sw − pw + b·dw] · w[o, c, a, b],
  scattered from the nonzero inputs (binary spikes: input spikes × fan-out accumulates).
- BP (``conv2d_vjp``): the transposed convolution, scattered from the nonzero δ (nnz(δ) × fan-in).
- WG (``conv2d_wgrad``): ∂w[o, c, a, b] = Σ_{n, i, j} δ[n, o, i, j] · x[n, c, …], visited from the nonzero inputs
  (nnz(input) × fan-out; zero δ add nothing: the WG count of counts.py is nnz(δ) × input spikes).
Sums are accumulated in float64 and cast to float32 once per output element.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def taps(H, K, p, d, s, Ho):  # noqa: ANN001, ANN201
    """For each input row ``h`` of one spatial axis, the kernel offsets ``a`` and output rows ``i`` it reaches
    (``h = i·s − p + a·d``): ``count[h]`` pairs in ``ka[h, :count]``, ``out[h, :count]``."""
    count = np.zeros(H, dtype=np.int64)
    ka = np.empty((H, K), dtype=np.int64)
    out = np.empty((H, K), dtype=np.int64)
    for h in range(H):
        for a in range(K):
            t = h + p - a * d
            if t >= 0 and t % s == 0 and t // s < Ho:
                ka[h, count[h]] = a
                out[h, count[h]] = t // s
                count[h] += 1
    return count, ka, out


@njit(cache=True)
def fan_out(xn, groups, cog, th, tw, pos, ker, into_pos):  # noqa: ANN001, ANN201
    """Visit every nonzero input ``xn[c, h, w]`` of one folded sample with each (output position, kernel tap)
    of its fan-out, and accumulate ``pos[i, j, o] += x · ker[c_local, a, b, o]`` (``into_pos``, the FP sum)
    or ``ker[c_local, a, b, o] += x · pos[i, j, o]`` (the WG sum), for the output channels o of its group."""
    C, H, W = xn.shape
    Cg = C // groups
    nh, kh, oh = th
    nw, kw, ow = tw
    for c in range(C):
        cl = c - (c // Cg) * Cg
        o0 = (c // Cg) * cog
        for ih in range(H):
            for iw in range(W):
                xv = xn[c, ih, iw]
                if xv == 0:
                    continue
                for p in range(nh[ih]):
                    a, i = kh[ih, p], oh[ih, p]
                    for q in range(nw[iw]):
                        b, j = kw[iw, q], ow[iw, q]
                        if into_pos:
                            for o in range(o0, o0 + cog):
                                pos[i, j, o] += xv * ker[cl, a, b, o]
                        else:
                            for o in range(o0, o0 + cog):
                                ker[cl, a, b, o] += xv * pos[i, j, o]


@njit(cache=True)
def conv2d_fwd(x, w, sh, sw, ph, pw, dh, dw, groups, Ho, Wo):  # noqa: ANN001, ANN201
    N, C, H, W = x.shape
    Co, Cg, KH, KW = w.shape
    y = np.empty((N, Co, Ho, Wo), dtype=np.float32)
    buf = np.empty((Ho, Wo, Co), dtype=np.float64)
    wt = np.ascontiguousarray(w.transpose(1, 2, 3, 0))  # [Cg, kh, kw, Co]
    th, tw = taps(H, KH, ph, dh, sh, Ho), taps(W, KW, pw, dw, sw, Wo)
    for n in range(N):
        buf[:] = 0.0
        fan_out(x[n], groups, Co // groups, th, tw, buf, wt, True)
        for o in range(Co):
            for i in range(Ho):
                for j in range(Wo):
                    y[n, o, i, j] = buf[i, j, o]
    return y


@njit(cache=True)
def conv2d_vjp(g, w, H, W, sh, sw, ph, pw, dh, dw, groups):  # noqa: ANN001, ANN201
    N, Co, Ho, Wo = g.shape
    _, Cg, KH, KW = w.shape
    cog = Co // groups
    C = Cg * groups
    gx = np.empty((N, C, H, W), dtype=np.float32)
    buf = np.empty((H, W, C), dtype=np.float64)
    for n in range(N):
        buf[:] = 0.0
        for o in range(Co):  # scatter every nonzero δ over its fan-in
            c0 = (o // cog) * Cg
            for i in range(Ho):
                for j in range(Wo):
                    gv = g[n, o, i, j]
                    if gv == 0:
                        continue
                    for a in range(KH):
                        ih = i * sh - ph + a * dh
                        if ih < 0 or ih >= H:
                            continue
                        for b in range(KW):
                            iw = j * sw - pw + b * dw
                            if iw < 0 or iw >= W:
                                continue
                            for c in range(Cg):
                                buf[ih, iw, c0 + c] += gv * w[o, c, a, b]
        for c in range(C):
            for ih in range(H):
                for iw in range(W):
                    gx[n, c, ih, iw] = buf[ih, iw, c]
    return gx


@njit(cache=True)
def conv2d_wgrad(x, g, Cg, KH, KW, sh, sw, ph, pw, dh, dw, groups):  # noqa: ANN001, ANN201
    N, C, H, W = x.shape
    _, Co, Ho, Wo = g.shape
    acc = np.zeros((Cg, KH, KW, Co), dtype=np.float64)
    gt = np.empty((Ho, Wo, Co), dtype=np.float32)
    th, tw = taps(H, KH, ph, dh, sh, Ho), taps(W, KW, pw, dw, sw, Wo)
    for n in range(N):
        for o in range(Co):
            for i in range(Ho):
                for j in range(Wo):
                    gt[i, j, o] = g[n, o, i, j]
        fan_out(x[n], groups, Co // groups, th, tw, gt, acc, False)
    out = np.empty((Co, Cg, KH, KW), dtype=np.float32)
    for o in range(Co):
        for c in range(Cg):
            for a in range(KH):
                for b in range(KW):
                    out[o, c, a, b] = acc[c, a, b, o]
    return out
